"""Nova's API and cell databases (sqlite, Nova's own schema) holding the
fleet of tools/bench/tools_scale.py (used by tools/bench/novadb_scale.py).

The same hosts, pools, aggregates, Nova flavors and instances as
``tools_scale.write_inventory`` (same generator functions, same seed), stored
the way Nova 2026.x stores them:

- ``compute_nodes.pci_stats``: a serialized ``PciDevicePoolList`` with one
  pool per free device (Nova keys type-PCI pools by device address), tags
  ``dev_type``, ``address``, ``physical_network``; empty pools left out (Nova
  drops them);
- ``pci_devices``: per pool of the file, its ``used`` devices (allocated to
  the pool's instance, at the addresses the file's allocation names) then its
  ``count`` available devices at the next functions of the same slot;
- ``instances`` + ``instance_extra`` (``pci_requests``: one alias request per
  instance, ``flavor``: the Nova flavor), ``instance_mappings``,
  ``host_mappings``, ``cell_mappings`` (cell0 + cell1, or cell1 to cellN:
  ``cells``, the hosts in N equal runs, as a cloud adds a cell per batch of
  computes).

Rows are bulk-inserted with sqlite3 ``executemany`` into tables made by
Nova's models (``BASE.metadata.create_all``); JSON columns are produced with
Nova's objects once per distinct value.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import sys
from typing import Any, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capacity as bench_capacity  # noqa: E402
import exporter as bench_exporter  # noqa: E402
import novadb_rows  # noqa: E402
import tools_scale  # noqa: E402

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
#: cellN's uuid: N in its first and last hex digits (cell1 as before).
CELL_UUID = "%x1111111-1111-4111-8111-11111111111%x"
CREATED = novadb_rows.CREATED
#: Hosts whose rows are inserted per executemany round.
HOSTS_PER_FLUSH = 2000


def create_schema(path: str, api: bool) -> None:
    """An empty database file with Nova's API or main (cell) schema."""
    import sqlalchemy as sa

    if api:
        from nova.db.api.models import BASE
    else:
        from nova.db.main.models import BASE
    if os.path.exists(path):
        os.unlink(path)
    engine = sa.create_engine("sqlite:///" + path)
    BASE.metadata.create_all(engine)
    engine.dispose()


@contextlib.contextmanager
def _bulk(path: str) -> Iterator[sqlite3.Connection]:
    """A sqlite connection tuned for bulk loading, committed at the end."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    try:
        yield db
        db.commit()
    finally:
        db.close()


def _insert(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """executemany of ``rows`` (all with the same keys) into ``table``."""
    if not rows:
        return
    cols = list(rows[0])
    db.executemany(
        "INSERT INTO %s (%s) VALUES (%s)"
        % (table, ", ".join(cols), ", ".join("?" * len(cols))),
        [tuple(r[c] for c in cols) for r in rows],
    )


def _api_rows(
    db: sqlite3.Connection,
    names: list[str],
    cell_paths: dict[str, str],
    cell_of: list[int],
) -> None:
    """cell mappings (``cell_paths``: cell0, cell1...), host mappings (host
    ``names[i]`` in cell ``cell_of[i]``), aggregates and Nova flavors."""
    _insert(
        db,
        "cell_mappings",
        [
            {
                "id": i + 1,
                "uuid": uuid,
                "name": name,
                "transport_url": "none:///",
                "database_connection": "sqlite:///" + cell_paths[name],
                "disabled": 0,
                "created_at": CREATED,
            }
            for i, (name, uuid) in enumerate(
                ("cell%d" % n, CELL_UUID % (n, n) if n else CELL0_UUID)
                for n in range(len(cell_paths))
            )
        ],
    )
    _insert(
        db,
        "host_mappings",
        [
            {"cell_id": cell_of[i] + 1, "host": h, "created_at": CREATED}
            for i, h in enumerate(names)
        ],
    )
    aggs = bench_capacity.aggregates(names, racks=max(100, len(names) // 100))
    for i, agg in enumerate(aggs):
        agg_id = i + 1
        _insert(
            db,
            "aggregates",
            [
                {
                    "id": agg_id,
                    "uuid": "%08x-aaaa-4aaa-8aaa-aaaaaaaaaaaa" % agg_id,
                    "name": agg["name"],
                    "created_at": CREATED,
                }
            ],
        )
        _insert(
            db,
            "aggregate_hosts",
            [
                {"host": h, "aggregate_id": agg_id, "created_at": CREATED}
                for h in agg["hosts"]
            ],
        )
        _insert(
            db,
            "aggregate_metadata",
            [
                {"key": k, "value": v, "aggregate_id": agg_id, "created_at": CREATED}
                for k, v in agg["metadata"].items()
            ],
        )
    for f in bench_exporter.nova_flavors():
        flavor_id = int(f["id"]) + 1
        _insert(
            db,
            "flavors",
            [
                {
                    "id": flavor_id,
                    "name": f["name"],
                    "memory_mb": 4096,
                    "vcpus": 4,
                    "root_gb": 20,
                    "ephemeral_gb": 0,
                    "flavorid": f["id"],
                    "swap": 0,
                    "rxtx_factor": 1.0,
                    "vcpu_weight": 0,
                    "disabled": 0,
                    "is_public": 1,
                    "created_at": CREATED,
                }
            ],
        )
        _insert(
            db,
            "flavor_extra_specs",
            [
                {"key": k, "value": v, "flavor_id": flavor_id, "created_at": CREATED}
                for k, v in f["extra_specs"].items()
            ],
        )


def write_dbs(
    directory: str, n_hosts: int, seed: int = 1, cells: int = 1
) -> dict[str, Any]:
    """Write api, cell0 and cell1 (to cell``cells``) sqlite files and a
    nova.conf under ``directory`` (names containing ``novadb``, and
    ``cells`` if more than one); counts and the conf path.  The fleet is
    the same whatever ``cells``: only where its rows are differs."""
    os.makedirs(directory, exist_ok=True)
    tag = "%d" % n_hosts if cells == 1 else "%d-%dcells" % (n_hosts, cells)
    cell_names = ["cell%d" % n for n in range(cells + 1)]
    paths = {
        name: os.path.join(directory, "novadb-%s-%s.sqlite" % (tag, name))
        for name in ("api", *cell_names)
    }
    for name, path in paths.items():
        create_schema(path, api=name == "api")
    names = bench_capacity.host_names(n_hosts)
    # the hosts in ``cells`` equal runs: cell n holds hosts [start, end)
    cell_of = [1 + i * cells // n_hosts for i in range(n_hosts)]
    counts = {"hosts": n_hosts, "instances": 0, "devices": 0}
    tables = ("compute_nodes", "pci_devices", "instances", "instance_extra")
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(_bulk(paths["api"]))
        dbs = [stack.enter_context(_bulk(paths[n])) for n in cell_names[1:]]
        _api_rows(api, names, {n: paths[n] for n in cell_names}, cell_of)
        rng = random.Random(seed)
        out: dict[str, list] = {t: [] for t in (*tables, "instance_mappings")}
        for i, host in enumerate(names):
            pools = bench_capacity.host_pools(rng)
            allocs = tools_scale.allocations(host, pools, counts["instances"])
            counts["instances"] += len(allocs)
            novadb_rows.host_rows(i + 1, host, pools, allocs, out, cell_of[i] + 1)
            last = i + 1 == n_hosts or cell_of[i + 1] != cell_of[i]
            if (i + 1) % HOSTS_PER_FLUSH == 0 or last:
                counts["devices"] += len(out["pci_devices"])
                for t in tables:
                    _insert(dbs[cell_of[i] - 1], t, out[t])
                _insert(api, "instance_mappings", out["instance_mappings"])
                out = {t: [] for t in out}
    conf = os.path.join(directory, "novadb-%s-nova.conf" % tag)
    with open(conf, "w") as f:
        f.write(
            "[DEFAULT]\nstate_path = %s\n[api_database]\nconnection = "
            "sqlite:///%s\n[database]\nconnection = sqlite:///%s\n"
            % (directory, paths["api"], paths["cell1"])
        )
    counts["conf"] = conf
    return counts
