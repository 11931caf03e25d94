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
  ``host_mappings``, ``cell_mappings`` (cell0 + cell1).

Rows are bulk-inserted with sqlite3 ``executemany`` into tables made by
Nova's models (``BASE.metadata.create_all``); JSON columns are produced with
Nova's objects once per distinct value.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import sqlite3
import sys
from typing import Any, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capacity as bench_capacity  # noqa: E402
import exporter as bench_exporter  # noqa: E402
import tools_scale  # noqa: E402

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
CELL1_UUID = "11111111-1111-4111-8111-111111111111"
CREATED = "2026-01-01 00:00:00.000000"
#: Hosts whose rows are inserted per executemany round.
HOSTS_PER_FLUSH = 2000


def _nova_objects() -> Any:
    from nova import objects

    objects.register_all()
    return objects


@functools.lru_cache(maxsize=None)
def _pool_primitive(
    product: str, numa: int, address: str, physnet: str
) -> dict[str, Any]:
    """One free device's ``PciDevicePool`` primitive (Nova's objects)."""
    pool = _nova_objects().PciDevicePool.from_dict(
        {
            "product_id": product,
            "vendor_id": "10de",
            "numa_node": numa,
            "count": 1,
            "dev_type": "type-PCI",
            "address": address,
            "physical_network": physnet,
        }
    )
    return pool.obj_to_primitive()


@functools.lru_cache(maxsize=1)
def _pool_list_wrapper() -> str:
    """The ``PciDevicePoolList`` primitive as JSON, objects to fill in."""
    empty = _nova_objects().PciDevicePoolList(objects=[]).obj_to_primitive()
    return json.dumps(empty).replace('"objects": []', '"objects": %s')


def pci_stats(pools: list[dict[str, Any]]) -> str:
    """``compute_nodes.pci_stats`` of a host with these file pools."""
    items = [
        _pool_primitive(
            p["product_id"],
            p["numa_node"],
            "0000:%s:00.%d" % (p["address"][5:7], p["used"] + d),
            p["physical_network"],
        )
        for p in pools
        for d in range(p["count"])
    ]
    return _pool_list_wrapper() % json.dumps(items)


@functools.lru_cache(maxsize=None)
def _flavor_json(name: str) -> str:
    """``instance_extra.flavor`` of an instance of Nova flavor ``name``."""
    flavor = {f["name"]: f for f in bench_exporter.nova_flavors()}[name]
    obj = _nova_objects().Flavor(
        id=int(flavor["id"]) + 1,
        name=name,
        memory_mb=4096,
        vcpus=4,
        root_gb=20,
        ephemeral_gb=0,
        flavorid=flavor["id"],
        swap=0,
        rxtx_factor=1.0,
        vcpu_weight=0,
        disabled=False,
        is_public=True,
        extra_specs=dict(flavor["extra_specs"]),
        description=None,
    )
    return json.dumps({"cur": obj.obj_to_primitive(), "old": None, "new": None})


def _pci_requests_json(alias: str, product: str, count: int, request_id: str) -> str:
    """``instance_extra.pci_requests``: one flavor-alias request (Nova's)."""
    objects = _nova_objects()
    req = objects.InstancePCIRequest(
        count=count,
        spec=[{"vendor_id": "10de", "product_id": product}],
        alias_name=alias,
        request_id=request_id,
        numa_policy="legacy",
    )
    return objects.InstancePCIRequests(requests=[req]).to_json()


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
    db: sqlite3.Connection, names: list[str], cell_paths: dict[str, str]
) -> None:
    """cell mappings, host mappings, aggregates and Nova flavors."""
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
                (("cell0", CELL0_UUID), ("cell1", CELL1_UUID))
            )
        ],
    )
    _insert(
        db,
        "host_mappings",
        [{"cell_id": 2, "host": h, "created_at": CREATED} for h in names],
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


def _host_rows(
    node_id: int, host: str, pools: list[dict], allocs: list[dict], out: dict
) -> None:
    """Append one host's compute node, PCI devices and instances to ``out``."""
    out["compute_nodes"].append(
        {
            "id": node_id,
            "uuid": "%08x-cccc-4ccc-8ccc-cccccccccccc" % node_id,
            "host": host,
            "hypervisor_hostname": host,
            "vcpus": 64,
            "memory_mb": 262144,
            "local_gb": 2000,
            "vcpus_used": 0,
            "memory_mb_used": 0,
            "local_gb_used": 0,
            "hypervisor_type": "QEMU",
            "hypervisor_version": 8002000,
            "cpu_info": "{}",
            "pci_stats": pci_stats(pools),
            "deleted": 0,
            "created_at": CREATED,
        }
    )
    by_slot = {a["devices"][0]["address"][5:7]: a for a in allocs}
    for p in pools:
        bus = p["address"][5:7]
        alloc = by_slot.get(bus)
        request_id = None
        if alloc is not None:
            request_id = (
                alloc["instance"][:9] + "9999-4999-8999" + alloc["instance"][23:]
            )
            alias, count = alloc["requests"][0]["alias"], alloc["requests"][0]["count"]
            flavor = json.loads(_flavor_json(alloc["nova_flavor"]))["cur"]
            out["instances"].append(
                {
                    "uuid": alloc["instance"],
                    "user_id": "u0",
                    "project_id": alloc["project"],
                    "hostname": alloc["name"],
                    "display_name": alloc["name"],
                    "host": host,
                    "node": host,
                    "compute_id": node_id,
                    "launched_on": host,
                    "vm_state": "active",
                    "power_state": 1,
                    "memory_mb": 4096,
                    "vcpus": 4,
                    "root_gb": 20,
                    "ephemeral_gb": 0,
                    "instance_type_id": flavor["nova_object.data"]["id"],
                    "launch_index": 0,
                    "reservation_id": "r-" + alloc["instance"][:8],
                    "availability_zone": "nova",
                    "locked": 0,
                    "hidden": 0,
                    "cleaned": 0,
                    "config_drive": "",
                    "progress": 0,
                    "shutdown_terminate": 0,
                    "disable_terminate": 0,
                    "root_device_name": "/dev/vda",
                    "launched_at": CREATED,
                    "created_at": CREATED,
                    "deleted": 0,
                }
            )
            out["instance_extra"].append(
                {
                    "instance_uuid": alloc["instance"],
                    "pci_requests": _pci_requests_json(
                        alias, p["product_id"], count, request_id
                    ),
                    "flavor": _flavor_json(alloc["nova_flavor"]),
                    "created_at": CREATED,
                    "deleted": 0,
                }
            )
            out["instance_mappings"].append(
                {
                    "instance_uuid": alloc["instance"],
                    "cell_id": 2,
                    "project_id": alloc["project"],
                    "user_id": "u0",
                    "queued_for_delete": 0,
                    "created_at": CREATED,
                }
            )
        for d in range(p["used"] + p["count"]):
            used = d < p["used"]
            out["pci_devices"].append(
                {
                    "uuid": "%08x-dddd-4ddd-8%03x-%012x" % (node_id, d, int(bus, 16)),
                    "compute_node_id": node_id,
                    "address": "0000:%s:00.%d" % (bus, d),
                    "vendor_id": "10de",
                    "product_id": p["product_id"],
                    "dev_type": "type-PCI",
                    "dev_id": "pci_0000_%s_00_%d" % (bus, d),
                    "label": "label_10de_%s" % p["product_id"],
                    "status": "allocated" if used else "available",
                    "request_id": request_id if used else None,
                    "instance_uuid": alloc["instance"] if used and alloc else None,
                    "extra_info": "{}",
                    "numa_node": p["numa_node"],
                    "parent_addr": None,
                    "deleted": 0,
                    "created_at": CREATED,
                }
            )


def write_dbs(directory: str, n_hosts: int, seed: int = 1) -> dict[str, Any]:
    """Write api/cell0/cell1 sqlite files and a nova.conf under
    ``directory`` (names containing ``novadb``); counts and the conf path."""
    os.makedirs(directory, exist_ok=True)
    paths = {
        name: os.path.join(directory, "novadb-%d-%s.sqlite" % (n_hosts, name))
        for name in ("api", "cell0", "cell1")
    }
    create_schema(paths["api"], api=True)
    create_schema(paths["cell0"], api=False)
    create_schema(paths["cell1"], api=False)
    names = bench_capacity.host_names(n_hosts)
    counts = {"hosts": n_hosts, "instances": 0, "devices": 0}
    tables = ("compute_nodes", "pci_devices", "instances", "instance_extra")
    with _bulk(paths["api"]) as api, _bulk(paths["cell1"]) as cell:
        _api_rows(api, names, paths)
        rng = random.Random(seed)
        out: dict[str, list] = {t: [] for t in (*tables, "instance_mappings")}
        for i, host in enumerate(names):
            pools = bench_capacity.host_pools(rng)
            allocs = tools_scale.allocations(host, pools, counts["instances"])
            counts["instances"] += len(allocs)
            _host_rows(i + 1, host, pools, allocs, out)
            if (i + 1) % HOSTS_PER_FLUSH == 0 or i + 1 == n_hosts:
                counts["devices"] += len(out["pci_devices"])
                for t in tables:
                    _insert(cell, t, out[t])
                _insert(api, "instance_mappings", out["instance_mappings"])
                out = {t: [] for t in out}
    conf = os.path.join(directory, "novadb-%d-nova.conf" % n_hosts)
    with open(conf, "w") as f:
        f.write(
            "[DEFAULT]\nstate_path = %s\n[api_database]\nconnection = "
            "sqlite:///%s\n[database]\nconnection = sqlite:///%s\n"
            % (directory, paths["api"], paths["cell1"])
        )
    counts["conf"] = conf
    return counts
