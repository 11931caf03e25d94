"""The devices instances hold, read with the compute nodes by
``nova_db``, and the allocations they make with the instances' PCI
requests and names (issue 21: a fleet's devices alike are one object).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aggregate_pci.admin.interned import intern_value, shared_allocation, shared_device
from aggregate_pci.admin.models import Allocation, Device
from aggregate_pci.admin.nova_io import cell_reads, instance_reads

#: Instances whose requests and names are read and built at a time.
ALLOCATION_STEP = 10000


class HeldDevices:
    """A held device as its allocation reports it, alias unset: one object
    per device alike (``shared_device``) and its host's device_spec tags
    (``host_tags.get(host)``, a ``device_tags.HostTags`` or a dict; None
    when no compute nova.conf was given for it)."""

    def __init__(self, host_tags: Any) -> None:
        self.host_tags = host_tags
        self.shared: dict[Any, Any] = {}
        self.memo: dict[Any, Device] = {}

    def __call__(self, host: str, d: Any) -> Device:
        tags = self.host_tags.get(host)
        key = (tags, d.spec_key())
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = shared_device(
                self.shared,
                d.address,
                d.vendor_id,
                d.product_id,
                d.dev_type,
                d.parent_addr,
                None if tags is None else tags(d),
                None,
                d.numa_node,
            )
        return found


def allocations(
    cctxt: Any, held: dict[str, list[tuple[str, str, Device]]], with_names: bool = True
) -> list[Allocation]:
    """The flavor-alias PCI requests of each instance holding devices in one
    cell (``InstancePCIRequests``) and the devices serving them (by
    ``request_id``), with each server's name, project and Nova flavor
    (left empty, and not read, unless ``with_names``); devices of Neutron
    port requests are left out.  Read and built
    ``ALLOCATION_STEP`` instances at a time, each taken out of ``held``:
    a fleet's requests and names are never all held at once."""
    shared: dict[Any, Any] = {}
    # (id(device without alias), alias): (that device, the device with it)
    with_alias: dict[tuple[int, Any], tuple[Device, Device]] = {}
    out = []
    for batch in cell_reads.chunks(sorted(held), ALLOCATION_STEP):
        requests = instance_reads.alias_requests(cctxt, batch)
        servers = instance_reads.servers(cctxt, batch) if with_names else {}
        for uuid in batch:
            devices = held.pop(uuid)
            by_id = {
                request_id: (alias, count)
                for request_id, alias, count in requests.get(uuid, ())
                if alias
            }
            mine = []
            for _, request_id, device in devices:
                if request_id in by_id:
                    alias = by_id[request_id][0]
                    hit = with_alias.get((id(device), alias))
                    if hit is None:
                        hit = with_alias[(id(device), alias)] = (
                            device,
                            dataclasses.replace(device, alias=intern_value(alias)),
                        )
                    mine.append(hit[1])
            if not mine:
                continue
            host = next(h for h, r, _ in devices if r in by_id)
            name, project, nova_flavor = servers.get(uuid, ("", "", ""))
            out.append(
                shared_allocation(
                    shared,
                    uuid,
                    host,
                    tuple(by_id.values()),
                    mine,
                    name=name,
                    project=project,
                    nova_flavor=nova_flavor,
                )
            )
    return out
