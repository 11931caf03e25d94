"""Rows of one host of the generated Nova cell database
(tools/bench/novadb_fleet.py): its compute node, PCI devices and instances,
JSON columns made with Nova's objects once per distinct value."""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import exporter as bench_exporter  # noqa: E402

CREATED = "2026-01-01 00:00:00.000000"


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


def host_rows(
    node_id: int,
    host: str,
    pools: list[dict],
    allocs: list[dict],
    out: dict,
    cell_id: int = 2,
) -> None:
    """Append one host's compute node, PCI devices and instances to ``out``
    (its instances mapped to the cell of ``cell_mappings.id`` ``cell_id``)."""
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
            # set, as Nova's computes write them (left NULL, Nova's
            # ComputeNode objects would write them on every read)
            "ram_allocation_ratio": 1.0,
            "cpu_allocation_ratio": 4.0,
            "disk_allocation_ratio": 1.0,
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
                    "cell_id": cell_id,
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
