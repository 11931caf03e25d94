"""Read-only migration sources: a ``pci_flavors`` table and nova.conf.

Thin adapters: they fetch raw entries and leave every judgement to
``model``.  The table is read through SQLAlchemy from any URL (sqlite
built in, MySQL/MariaDB via ``mysql+pymysql://``) in a session the
database itself makes read-only; nova.conf is parsed with oslo.config
using Nova's own definition of ``[pci] alias``.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.sql import sqltypes

from aggregate_pci import alias, text
from aggregate_pci.errors import AggregatePciError, Hint
from aggregate_pci.migrate import model

TABLE = "pci_flavors"

#: The schema we read (docs/migration.md): column -> (type check, wording).
_COLUMNS: dict[str, tuple[Callable[[sa.types.TypeEngine], bool], str]] = {
    "id": (lambda t: isinstance(t, sqltypes.Integer), "an integer"),
    "name": (lambda t: isinstance(t, sqltypes.String), "a string"),
    "description": (lambda t: isinstance(t, sqltypes.String), "a string"),
    "spec": (
        lambda t: isinstance(t, (sqltypes.String, sqltypes.JSON)),
        "text (or a JSON column)",
    ),
    "created_at": (lambda t: isinstance(t, sqltypes.DateTime), "a datetime"),
    "updated_at": (lambda t: isinstance(t, sqltypes.DateTime), "a datetime"),
    "deleted": (
        lambda t: isinstance(t, (sqltypes.Integer, sqltypes.Boolean)),
        "an integer (0 = live)",
    ),
}


class SourceError(AggregatePciError):
    """The source cannot be read at all (unreachable, wrong schema, ...)."""


#: Default seconds to connect to / wait for an answer from a MySQL source.
DEFAULT_TIMEOUT = 30.0


def _describe(url: str) -> str:
    """``url`` for messages: its password masked up to the last ``@``."""
    try:
        make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparsable URL>"
    return text.mask_urls(url)


def _parse_url(url: str) -> Any:
    """The parsed URL; ``SourceError`` (without the password) if it is not one."""
    try:
        return make_url(url)
    except sa.exc.ArgumentError:
        raise SourceError(
            "cannot use --db-url: not a database URL (expected e.g. "
            "sqlite:////var/lib/f.db or mysql+pymysql://user@host/db)"
        ) from None
    except ValueError:
        port = url.rpartition("@")[2].partition("/")[0].rpartition(":")[2]
        raise SourceError(
            "cannot use --db-url: the port %r is not a number (expected "
            "HOST:PORT, e.g. db.example.org:3306)" % port
        ) from None


def check_schema(bind: sa.engine.Engine | sa.engine.Connection) -> None:
    """Raise ``SourceError`` naming the first missing or wrongly typed column."""
    inspector = sa.inspect(bind)
    if not inspector.has_table(TABLE):
        url = bind.engine.url if isinstance(bind, sa.engine.Connection) else bind.url
        raise SourceError(
            "table %r not found in %s (see docs/migration.md for "
            "the schema)" % (TABLE, _describe(str(url)))
        )
    found = {c["name"].lower(): c["type"] for c in inspector.get_columns(TABLE)}
    problems = []
    for column, (ok, wording) in _COLUMNS.items():
        if column not in found:
            problems.append("column %r is missing" % column)
        elif not ok(found[column]):
            problems.append(
                "column %r must be %s, found %s" % (column, wording, found[column])
            )
    if problems:
        raise SourceError(
            "table %r does not have the expected schema: %s "
            "(see docs/migration.md)" % (TABLE, "; ".join(problems))
        )


def _read_only(dbapi_connection, dialect_name: str) -> None:
    cursor = dbapi_connection.cursor()
    try:
        if dialect_name == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        elif dialect_name in ("mysql", "mariadb"):
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
    finally:
        cursor.close()


def _sqlite_file_options(url: str) -> dict[str, Any]:
    """For a sqlite file: open it read-only (``mode=ro``), so that a wrong
    path is an error instead of a new empty database file."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        return {}
    path = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not path
        or path == ":memory:"
        or path.startswith("file:")
    ):
        return {}
    if not os.path.isfile(path):
        raise SourceError(
            "cannot read --db-url %s: sqlite database file %r "
            "does not exist (nothing was created)" % (_describe(url), path)
        )
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    return {"creator": lambda: sqlite3.connect(uri, uri=True)}


def _timeout_options(parsed: Any, timeout: float) -> dict[str, Any]:
    """Connect and read timeouts for network drivers: a server that accepts
    TCP and never answers fails after ``timeout`` seconds, once."""
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        return {}
    driver = parsed.get_driver_name()
    if driver not in ("pymysql", "mysqldb", "mysqlconnector", "default"):
        return {}
    if driver == "mysqlconnector":
        return {"connect_args": {"connection_timeout": int(max(1, timeout))}}
    args: dict[str, Any] = {"connect_timeout": int(max(1, timeout))}
    if driver in ("pymysql", "default", "mysqldb"):
        args["read_timeout"] = int(max(1, timeout))
        args["write_timeout"] = int(max(1, timeout))
    return {"connect_args": args}


def read_table(url: str, timeout: float | None = None) -> model.SourceData:
    """Read the live rows of ``pci_flavors`` at ``url``; never writes.

    One connection: a MySQL server that does not answer fails after
    ``timeout`` seconds (``DEFAULT_TIMEOUT``) to connect or to answer.
    """
    description = "table %s at %s" % (TABLE, _describe(url))
    parsed = _parse_url(url)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        # future=True: 2.0-style connections (rollback()) on SQLAlchemy 1.4
        # too (OpenStack 2024.1); 2.x accepts it as its only mode.
        engine = sa.create_engine(
            parsed,
            future=True,
            poolclass=sa.pool.NullPool,
            **_sqlite_file_options(url),
            **_timeout_options(parsed, timeout),
        )
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        hint = (
            " (install the MySQL driver: pip install 'aggregate-pci[mysql]')"
            if isinstance(exc, ImportError)
            else ""
        )
        raise SourceError(
            "cannot use --db-url %s: %s%s" % (_describe(url), exc, hint)
        ) from None
    dialect = engine.dialect.name
    sa.event.listen(engine, "connect", lambda conn, _record: _read_only(conn, dialect))
    data = model.SourceData(description)
    try:
        table = sa.Table(
            TABLE,
            sa.MetaData(),
            *(sa.Column(c) for c in ("id", "name", "description", "spec", "deleted")),
        )
        with engine.connect() as conn:
            check_schema(conn)
            rows = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        timed_out = "timed out" in first.lower()
        raise SourceError(
            "cannot read %s: %s: %s%s"
            % (
                description,
                type(exc).__name__,
                first,
                " (no answer within %g s)" % timeout if timed_out else "",
            ),
            hint=Hint("{option} changes it", option="timeout") if timed_out else None,
        ) from None
    except SourceError:
        raise
    except Exception as exc:  # a driver refusing an option (?charset=...)
        raise SourceError(
            "cannot read %s: the database driver failed (%s); check the "
            "URL's query options (e.g. ?charset=utf8mb4)"
            % (description, type(exc).__name__)
        ) from None
    finally:
        engine.dispose()
    candidates = []
    for row in rows:
        row = dict(row)
        if row["deleted"] is None:
            data.bad.append(
                alias.Refused(
                    "pci_flavors row id=%s" % row["id"],
                    "column 'deleted' is NULL: use 0 for a live row",
                )
            )
            continue
        if row["deleted"]:
            data.skipped.append("pci_flavors row id=%s (deleted)" % row["id"])
            continue
        judged = model.flavor_from_row(row)
        if isinstance(judged, alias.Refused):
            data.bad.append(judged)
        else:
            candidates.append(judged)
    data.flavors, collisions = model.drop_name_collisions(candidates)
    data.bad.extend(collisions)
    return data


def read_nova_conf(paths: Sequence[str]) -> model.SourceData:
    """The ``[pci] alias`` entries of the given nova.conf files, merged by
    name as Nova merges them."""
    data = model.SourceData("[pci] alias in %s" % ", ".join(paths))
    try:
        entries, warnings = alias.read_conf(paths)
    except alias.ConfError as exc:
        raise SourceError(str(exc)) from None
    data.notes.extend(warnings)
    data.flavors, data.bad = model.flavors_from_aliases(entries)
    return data
