#!/usr/bin/env python3
"""Benchmark of the Nova-database path (``--config-file``) on MariaDB
through PyMySQL (not a timed test).

tools/bench/novadb_scale.py times the admin commands against sqlite files;
real clouds run MySQL/MariaDB through PyMySQL (``mysql+pymysql://``), whose
rows are decoded in pure Python, so the sqlite figures may hide real costs.
This script copies novadb_scale.py's databases of ``--hosts N`` (which must
exist under ``--dir``: run novadb_scale.py first) into a throwaway MariaDB
(tools/mariadb.sh; reused if it answers on ``--port``):

- databases ``nova_api_N``, ``nova_cell0_N``, ``nova_cell1_N`` with Nova's
  own schema, made by Nova's alembic migrations as ``nova-manage db sync``
  makes it on MySQL (the models' ``create_all`` of novadb_fleet fails
  there), the rows of every table of Nova's models copied from the sqlite
  files in batches (skipped when the row counts already match),
  ``cell_mappings.database_connection`` pointed at MariaDB;
- a nova.conf (the sqlite one's, with the two connections on MariaDB:
  ``[pci]`` alias lines kept) written next to the server's data;

then runs the same commands as novadb_scale.py, one process each, and prints
the same table (wall, CPU, peak MB: the commands' own), then the server's
CPU time during them. The server's InnoDB buffer pool is
raised to ``--buffer-pool-mb`` (the default 128 MB does not hold the 10,000
host fleet; a cloud's database server holds its Nova tables in memory).
The server is stopped at the end unless ``--keep-server``.

Usage: tools/bench/novadb_mariadb.py [--hosts 10000] [--dir DIR]
       [--server DIR] [--port 33317] [--only capacity,audit,...]
       [--outputs DIR] [--reload] [--keep-server] [--load-only]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import novadb_scale  # noqa: E402
import tools_scale  # noqa: E402

MARIADB_SH = os.path.join(os.path.dirname(HERE), "mariadb.sh")
#: Rows per executemany (PyMySQL folds them into multi-row INSERTs).
BATCH_ROWS = 5000
#: The sqlite file and MariaDB database name of each Nova database.
PARTS = ("api", "cell0", "cell1")


def db_name(part: str, n_hosts: int) -> str:
    """MariaDB database name of ``part`` (api, cell0, cell1)."""
    return "nova_%s_%d" % (part, n_hosts)


def url(port: int, database: str = "") -> str:
    """SQLAlchemy URL of ``database`` on the loopback server."""
    return "mysql+pymysql://root@127.0.0.1:%d/%s" % (port, database)


def _connect(port: int, database: str | None = None) -> Any:
    """A PyMySQL connection as root (autocommit off)."""
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=port, user="root", database=database)


def answers(port: int) -> bool:
    """Whether a server answers on ``port``."""
    try:
        _connect(port).close()
    except Exception:  # refused, or anything else: not usable
        return False
    return True


def start_server(server_dir: str, port: int) -> bool:
    """Start tools/mariadb.sh's server unless one answers; True if started."""
    if answers(port):
        print("reusing the MariaDB server answering on port %d" % port)
        return False
    subprocess.run(
        [MARIADB_SH, "start", server_dir, str(port)], check=True, stdout=sys.stderr
    )
    return True


def stop_server(server_dir: str) -> None:
    """Stop the server of ``server_dir`` (tools/mariadb.sh stop)."""
    subprocess.run([MARIADB_SH, "stop", server_dir], check=False)


def server_cpu(server_dir: str) -> float | None:
    """CPU seconds (user + system) of the server of ``server_dir`` so far,
    None if its pid is unknown (the commands' CPU column is theirs only)."""
    try:
        with open(os.path.join(server_dir, "pid")) as f:
            pid = f.read().strip()
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sqlite_path(directory: str, n_hosts: int, part: str) -> str:
    """novadb_fleet's sqlite file of ``part``."""
    return os.path.join(directory, "novadb-%d-%s.sqlite" % (n_hosts, part))


def _counts(cursor: Any, tables: list[str]) -> dict[str, int]:
    """Row count of each table (DB-API cursor, either driver)."""
    out = {}
    for t in tables:
        cursor.execute("SELECT COUNT(*) FROM %s" % t)
        out[t] = cursor.fetchone()[0]
    return out


def _metadata(part: str) -> Any:
    """Nova's model metadata of the API or the main (cell) schema."""
    if part == "api":
        from nova.db.api.models import BASE
    else:
        from nova.db.main.models import BASE
    return BASE.metadata


def loaded(port: int, database: str, src: sqlite3.Connection, part: str) -> bool:
    """Whether ``database`` exists, made by Nova's migrations, with every
    table's rows of ``src``."""
    tables = [t.name for t in _metadata(part).sorted_tables]
    conn = _connect(port)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (database,))
            if not cur.fetchone():
                return False
            cur.execute("USE `%s`" % database)
            cur.execute("SHOW TABLES")
            if not {*tables, "alembic_version"} <= {r[0] for r in cur.fetchall()}:
                return False
            return _counts(cur, tables) == _counts(src.cursor(), tables)
    finally:
        conn.close()


def create_schema(port: int, database: str, part: str) -> None:
    """A new empty ``database`` with Nova's API or main (cell) schema as
    ``nova-manage api_db sync`` / ``db sync`` make it on MySQL: Nova's
    alembic migrations (the models' ``create_all``, which
    novadb_fleet.create_schema uses for sqlite, fails on MySQL: an index of
    ``migrations`` is too long without the migrations' ``mysql_length``)."""
    import nova.db
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    conn = _connect(port)
    try:
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % database)
            cur.execute("CREATE DATABASE `%s`" % database)
    finally:
        conn.close()
    where = "api" if part == "api" else "main"
    config = Config(
        os.path.join(os.path.dirname(nova.db.__file__), where, "alembic.ini")
    )
    config.attributes["configure_logger"] = False
    engine = sa.create_engine(url(port, database))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def copy_rows(src: sqlite3.Connection, port: int, database: str, part: str) -> int:
    """Copy every table's rows of ``src`` into ``database``; rows copied."""
    total = 0
    conn = _connect(port, database)
    try:
        with conn.cursor() as cur:
            cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
            for table in _metadata(part).sorted_tables:
                cols = [c.name for c in table.columns]
                rows = src.execute(
                    "SELECT %s FROM %s"
                    % (", ".join('"%s"' % c for c in cols), table.name)
                )
                insert = "INSERT INTO `%s` (%s) VALUES (%s)" % (
                    table.name,
                    ", ".join("`%s`" % c for c in cols),
                    ", ".join(["%s"] * len(cols)),
                )
                while True:
                    batch = rows.fetchmany(BATCH_ROWS)
                    if not batch:
                        break
                    cur.executemany(insert, batch)
                    total += len(batch)
                conn.commit()
    finally:
        conn.close()
    return total


def point_cells(port: int, n_hosts: int) -> None:
    """cell_mappings.database_connection of cell0/cell1 on MariaDB."""
    conn = _connect(port, db_name("api", n_hosts))
    try:
        with conn.cursor() as cur:
            for part in PARTS[1:]:
                cur.execute(
                    "UPDATE cell_mappings SET database_connection = %s WHERE name = %s",
                    (url(port, db_name(part, n_hosts)), part),
                )
            conn.commit()
            cur.execute("SELECT name, database_connection FROM cell_mappings")
            found = dict(cur.fetchall())
        want = {part: url(port, db_name(part, n_hosts)) for part in PARTS[1:]}
        if found != want:
            raise SystemExit("cell_mappings: %r, not %r" % (found, want))
    finally:
        conn.close()


def load(directory: str, n_hosts: int, port: int, reload: bool) -> None:
    """Databases of ``n_hosts`` on the server: each made and filled from
    its sqlite file unless already there (``reload``: made anew)."""
    for part in PARTS:
        path = sqlite_path(directory, n_hosts, part)
        if not os.path.isfile(path):
            raise SystemExit("%s missing: run novadb_scale.py first" % path)
        database = db_name(part, n_hosts)
        src = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            if not reload and loaded(port, database, src, part):
                print("database %s: already loaded" % database)
                continue
            start = time.perf_counter()
            create_schema(port, database, part)
            schema = time.perf_counter() - start
            rows = copy_rows(src, port, database, part)
        finally:
            src.close()
        took = time.perf_counter() - start - schema
        print(
            "database %s: schema %.1f s, %d rows copied in %.1f s (%.0f rows/s)"
            % (database, schema, rows, took, rows / took if took else 0),
            flush=True,
        )
    point_cells(port, n_hosts)


def write_conf(sqlite_conf: str, conf: str, n_hosts: int, port: int) -> None:
    """``sqlite_conf`` with its two connections on MariaDB, as ``conf``."""
    urls = {
        "api_database": url(port, db_name("api", n_hosts)),
        "database": url(port, db_name("cell1", n_hosts)),
    }
    section, out = "", []
    with open(sqlite_conf, encoding="utf-8") as f:
        for line in f:
            if line.startswith("["):
                section = line.strip()[1:-1]
            elif section in urls and line.split("=")[0].strip() == "connection":
                line = "connection = %s\n" % urls.pop(section)
            out.append(line)
    if urls:
        raise SystemExit("%s: no connection in %s" % (sqlite_conf, sorted(urls)))
    with open(conf, "w", encoding="utf-8") as f:
        f.writelines(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument(
        "--dir",
        default=os.path.join(tempfile.gettempdir(), "aggregate-pci-bench"),
        help="where novadb_scale.py's sqlite databases and nova.conf are",
    )
    parser.add_argument(
        "--server",
        default=os.path.join(tempfile.gettempdir(), "aggregate-pci-mariadb"),
        help="the MariaDB server's directory (tools/mariadb.sh)",
    )
    parser.add_argument("--port", type=int, default=33317)
    parser.add_argument("--buffer-pool-mb", type=int, default=1024)
    parser.add_argument("--only", help="comma-separated labels of commands to run")
    parser.add_argument("--outputs", help="keep the commands' outputs here")
    parser.add_argument("--reload", action="store_true", help="load the databases anew")
    parser.add_argument("--keep-server", action="store_true")
    parser.add_argument(
        "--load-only", action="store_true", help="load, write the conf, run nothing"
    )
    args = parser.parse_args()
    tmp = args.outputs or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    sqlite_conf = os.path.join(args.dir, "novadb-%d-nova.conf" % args.hosts)
    if not os.path.isfile(sqlite_conf):
        raise SystemExit("%s missing: run novadb_scale.py first" % sqlite_conf)
    started = start_server(args.server, args.port)
    try:
        conn = _connect(args.port)
        with conn.cursor() as cur:
            cur.execute(
                "SET GLOBAL innodb_buffer_pool_size = %d" % (args.buffer_pool_mb << 20)
            )
            cur.execute("SELECT VERSION()")
            print("MariaDB %s on port %d" % (cur.fetchone()[0], args.port))
        conn.close()
        start = time.perf_counter()
        load(args.dir, args.hosts, args.port, args.reload)
        print("load (or check): %.1f s" % (time.perf_counter() - start), flush=True)
        conf = os.path.join(args.server, "novadb-%d-nova.conf" % args.hosts)
        write_conf(sqlite_conf, conf, args.hosts, args.port)
        print("nova.conf: %s" % conf)
        if not args.load_only:
            cmds = novadb_scale.commands(conf, tmp)
            before = server_cpu(args.server)
            tools_scale.run_all(cmds, tmp, args.only, width=24)
            after = server_cpu(args.server)
            if before is not None and after is not None:
                print(
                    "MariaDB server CPU during the commands: %.1f s" % (after - before)
                )
    finally:
        if args.keep_server:
            print("server kept%s" % ("" if started else " (was running)"))
        else:
            stop_server(args.server)


if __name__ == "__main__":
    main()
