"""The inventory file: aggregates and every host's PCI pools, as JSON.

Written by ``inventory export`` from a live cloud and read by ``capacity
--inventory`` for planning.  Format (version 1)::

    {"format": "aggregate-pci-inventory", "version": 1,
     "aggregates": [{"name": "gpu-hosts", "hosts": ["c1"],
                     "metadata": {"pci_flavor:a100": "{...}"}}],
     "hosts": {"c1": [{"vendor_id": "10de", "product_id": "20b5",
                       "dev_type": "type-PCI", "address": "0000:81:00.0",
                       "count": 1, "used": 1, ...tags}]},
     "nova_flavors": [{"name": "gpu.a100", "id": "1",
                       "extra_specs": {"pci_passthrough:alias": "a100:1"}}]}

A pool's ``count`` is its free devices (as in Nova's pools) and ``used`` the
claimed or allocated ones.

Optional ``allocations`` (written by ``inventory export`` since 0.2, read by
``audit --inventory``; older readers ignore it, files without it still
load): the PCI devices each instance holds through its flavor's aliases::

     "allocations": [{"instance": "<uuid>", "host": "c1", "name": "vm1",
                      "project": "<project id>", "nova_flavor": "gpu.t4",
                      "requests": [{"alias": "t4", "count": 1}],
                      "devices": [{"address": "0000:82:01.0",
                                   "parent_addr": null, "vendor_id": "10de",
                                   "product_id": "1db4", "dev_type": "type-PCI",
                                   "numa_node": 0, "alias": "t4",
                                   "tags": {"gpu_model": "t4"}}]}]

A device's ``tags`` are its ``[pci] device_spec`` tags on its compute, or
null when the export was not given that compute's nova.conf
(``--compute-conf HOST=FILE``): Nova stores no tags per device.  PCI flavor values are parsed by the codec only.
``nova_flavors`` (the Nova flavors requesting aliases) was ``flavors`` in
files written by 0.1.0; both are read.

This module owns the model and its writing; validating a document is
``aggregate_pci.admin.inventory_read``, reading a file
``aggregate_pci.admin.inventory_stream``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Mapping, Sequence

from aggregate_pci import alias
from aggregate_pci.admin import inventory_write
from aggregate_pci.admin.errors import InvalidInput, NotFound
from aggregate_pci.admin.interned import ByIdentity
from aggregate_pci.admin.models import (
    Aggregate,
    Allocation,
    Device,
    PciFlavorRecord,
    pci_flavor_records,
)

FORMAT = "aggregate-pci-inventory"
VERSION = 1


@dataclasses.dataclass
class Inventory:
    """Aggregates and ``{host: [pool, ...]}`` for offline analyses."""

    aggregates: list[Aggregate]
    hosts: dict[str, list[dict[str, Any]]]
    #: Nova flavors requesting aliases: {"name", "id", "extra_specs"} each.
    nova_flavors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: What instances hold; None when the source did not record it.
    allocations: list[Allocation] | None = None

    def pci_flavor_records(self) -> list[PciFlavorRecord]:
        """The PCI flavor records of the inventory's aggregates."""
        return [r for a in self.aggregates for r in pci_flavor_records(a)]

    def nova_flavor_request(self, name_or_id: str, source: str) -> str:
        """The ``pci_passthrough:alias`` value of the Nova flavor named (or
        with id) ``name_or_id``; NotFound or InvalidInput, naming it and
        ``source`` (where the inventory came from), if there is none."""
        found = [
            f
            for f in self.nova_flavors
            if name_or_id in (f.get("name"), str(f.get("id")))
        ]
        if not found:
            raise NotFound(
                "Nova flavor %r not found among the flavors requesting PCI "
                "aliases in the %s" % (name_or_id, source)
            )
        spec = str((found[0].get("extra_specs") or {}).get(alias.SPEC_KEY) or "")
        if not any(alias.parse_request(spec).values()):
            raise InvalidInput(
                "Nova flavor %r requests no PCI device (no pci_passthrough:alias "
                "extra spec)" % name_or_id
            )
        return spec


def to_json(inv: Inventory, lazy: bool = False) -> dict[str, Any]:
    """The JSON document of an inventory; ``lazy``: its allocations made
    one by one as ``inventory_write.dump`` writes them."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "aggregates": [
            {
                "name": a.name,
                "id": a.id,
                "uuid": a.uuid,
                "hosts": list(a.hosts),
                "metadata": dict(a.metadata),
            }
            for a in inv.aggregates
        ],
        "hosts": {h: list(p) for h, p in sorted(inv.hosts.items())},
        "nova_flavors": list(inv.nova_flavors),
    }
    if inv.allocations is not None:
        doc["allocations"] = (
            inventory_write.LazyList(
                inv.allocations,
                functools.partial(allocation_to_json, shared={}),
            )
            if lazy
            else [allocation_to_json(a) for a in inv.allocations]
        )
    return doc


def allocation_to_json(
    alloc: Allocation, shared: dict[int, tuple[Any, Any]] | None = None
) -> dict[str, Any]:
    """One entry of the ``allocations`` section; with ``shared`` (one dict
    per document), the JSON of a device or of requests read as one object
    is one object too (``inventory_write`` encodes each once)."""
    requests = _made(
        shared,
        alloc.requests,
        lambda: [{"alias": n, "count": c} for n, c in alloc.requests],
    )
    return {
        "instance": alloc.instance,
        "host": alloc.host,
        "name": alloc.name,
        "project": alloc.project,
        "nova_flavor": alloc.nova_flavor,
        "requests": list(requests),
        "devices": [
            _made(shared, d, lambda d=d: _device_json(d)) for d in alloc.devices
        ],
    }


def _made(shared: dict[int, tuple[Any, Any]] | None, obj: Any, make: Any) -> Any:
    """``make()``, once per ``obj`` in ``shared`` (which keeps ``obj``
    alive, so that its id names it)."""
    if shared is None:
        return make()
    hit = shared.get(id(obj))
    if hit is None:
        hit = shared[id(obj)] = (obj, make())
    return hit[1]


def _device_json(d: Device) -> dict[str, Any]:
    return {
        "address": d.address,
        "parent_addr": d.parent_addr,
        "vendor_id": d.vendor_id,
        "product_id": d.product_id,
        "dev_type": d.dev_type,
        "numa_node": d.numa_node,
        "alias": d.alias,
        "tags": None if d.tags is None else dict(d.tags),
    }


#: Value types that compare equal only to a value of the same type (bool
#: and float do not: True == 1 == 1.0, while their JSON differs).
_EXACT = frozenset((str, int, type(None)))


def pool_key(attrs: Mapping[str, Any]) -> Any:
    """What makes two pools (or their attributes) one, hashable: their
    items as sorted JSON, or (the same partition, cheaper) their item set
    when every value is a string, integer or None."""
    if _EXACT.issuperset(map(type, attrs.values())):
        return frozenset(attrs.items())
    return json.dumps(attrs, sort_keys=True, default=str)


def merge_pools(
    free: Sequence[Mapping[str, Any]],
    used: Sequence[Mapping[str, Any]],
    shared: dict[Any, dict[str, Any]] | None = None,
    known: ByIdentity | None = None,
) -> list[dict[str, Any]]:
    """Free pools (``count``) and used-device pools (``count`` = devices)
    merged into inventory pools with ``count`` free and ``used``.  With
    ``shared`` (one dict per read of a fleet), equal pools of different
    hosts are one object: hosts of one hardware model repeat them, and
    nothing changes an inventory's pools once read.  With ``known`` (one
    dict per read whose pools are shared objects kept unchanged), each pool
    object's key is worked out once."""
    acc: dict[Any, list[Any]] = {}
    get = None if known is None else known.get
    for pools, field in ((free, 1), (used, 2)):
        for pool in pools:
            hit = None if get is None else get(pool)
            if hit is None:
                hit = _keyed(pool)
                if known is not None:
                    known.put(pool, hit)
            entry = acc.get(hit[0])
            if entry is None:
                entry = acc[hit[0]] = [hit, 0, 0]
            entry[field] += hit[2]
    if shared is None:
        return [{**h[1], "count": c, "used": u} for h, c, u in acc.values()]
    out = []
    for hit, c, u in acc.values():
        key = (hit[3], c, u)
        merged = shared.get(key)
        if merged is None:
            merged = shared[key] = {**hit[1], "count": c, "used": u}
        out.append(merged)
    return out


def _keyed(pool: Mapping[str, Any]) -> tuple[Any, dict[str, Any], int, Any]:
    """(``pool_key`` of a pool's attributes, those attributes, its count,
    that key with the attributes' order): what ``merge_pools`` works out
    once per pool object."""
    attrs = dict(pool)
    count = int(attrs.pop("count", 0) or 0)
    attrs.pop("used", None)
    sig = pool_key(attrs)
    return (sig, attrs, count, (sig, tuple(attrs)))


class OfflineAdmin:
    """The read calls a migration plan makes (``list_aggregates``,
    ``list_compute_hosts``), answered from an inventory file: a
    ``migrate --dry-run --inventory`` plans without credentials."""

    def __init__(self, inv: Inventory) -> None:
        self.inventory = inv

    def list_aggregates(self) -> list[Aggregate]:
        return list(self.inventory.aggregates)

    def list_compute_hosts(self) -> frozenset[str]:
        return frozenset(self.inventory.hosts)
