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

     "allocations": [{"instance": "<uuid>", "host": "c1",
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
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Sequence

from aggregate_pci import alias
from aggregate_pci.admin.errors import AdminError, InvalidInput, NotFound
from aggregate_pci.admin.models import (
    Aggregate,
    Allocation,
    Device,
    PciFlavorRecord,
    pci_flavor_records,
)
from aggregate_pci.errors import Hint

FORMAT = "aggregate-pci-inventory"
VERSION = 1
#: Deepest nesting an inventory file may have (it needs 6: allocations,
#: devices, tags); deeper is refused before any check.
MAX_DEPTH = 16


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


def to_json(inv: Inventory) -> dict[str, Any]:
    """The JSON document of an inventory."""
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
        doc["allocations"] = [allocation_to_json(a) for a in inv.allocations]
    return doc


def allocation_to_json(alloc: Allocation) -> dict[str, Any]:
    """One entry of the ``allocations`` section."""
    return {
        "instance": alloc.instance,
        "host": alloc.host,
        "requests": [{"alias": n, "count": c} for n, c in alloc.requests],
        "devices": [
            {
                "address": d.address,
                "parent_addr": d.parent_addr,
                "vendor_id": d.vendor_id,
                "product_id": d.product_id,
                "dev_type": d.dev_type,
                "numa_node": d.numa_node,
                "alias": d.alias,
                "tags": None if d.tags is None else dict(d.tags),
            }
            for d in alloc.devices
        ],
    }


def from_json(doc: Any, source: str = "inventory") -> Inventory:
    """Validate and load an inventory document; errors name the place."""

    def bad(where: str, what: str, hint: Hint | None = None) -> AdminError:
        return AdminError("%s, %s: %s" % (source, where, what), hint=hint)

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(
            "top level",
            'not an aggregate-pci inventory (expected "format": %r)' % FORMAT,
            Hint("write one with {command}", command="inventory export"),
        )
    if doc.get("version") != VERSION:
        raise bad(
            "top level",
            "unsupported version %r (this tool reads %d)"
            % (doc.get("version"), VERSION),
        )
    aggregates = _aggregates(doc, bad)
    hosts: dict[str, list[dict[str, Any]]] = {}
    raw_hosts = doc.get("hosts") or {}
    if not isinstance(raw_hosts, dict):
        raise bad("'hosts'", "must be an object {host: [pool, ...]}")
    for host, pools in raw_hosts.items():
        if not isinstance(pools, list):
            raise bad("host %r" % host, "pools must be a list")
        for j, pool in enumerate(pools):
            if not isinstance(pool, dict):
                raise bad("host %r, pool %d" % (host, j), "must be an object")
            for field in ("count", "used"):
                value = pool.get(field, 0)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise bad(
                        "host %r, pool %d" % (host, j),
                        "%r must be a non-negative integer, got %r" % (field, value),
                    )
        hosts[host] = pools
    return Inventory(aggregates, hosts, _nova_flavors(doc, bad), _allocations(doc, bad))


def _allocations(doc: dict[str, Any], bad: Any) -> list[Allocation] | None:
    """The optional ``allocations`` section, checked (None if absent)."""
    if "allocations" not in doc:
        return None
    raw = doc["allocations"]
    if not isinstance(raw, list):
        raise bad("'allocations'", "must be a list of instances")
    out = []
    for i, entry in enumerate(raw):
        where = "allocations[%d]" % i
        if not isinstance(entry, dict):
            raise bad(where, "must be an object")
        for field in ("instance", "host"):
            if not isinstance(entry.get(field), str):
                raise bad(where, "needs a string %r" % field)
        raw_devices = entry.get("devices") or []
        raw_requests = entry.get("requests") or []
        if not isinstance(raw_devices, list) or not isinstance(raw_requests, list):
            raise bad(where, "'requests' and 'devices' must be lists")
        devices = [
            _device(d, bad, "%s, device %d" % (where, j))
            for j, d in enumerate(raw_devices)
        ]
        requests = []
        for j, r in enumerate(raw_requests):
            count = r.get("count") if isinstance(r, dict) else None
            if (
                not isinstance(r, dict)
                or not isinstance(r.get("alias"), str)
                or not isinstance(count, int)
                or isinstance(count, bool)
            ):
                raise bad(
                    "%s, request %d" % (where, j),
                    'must be {"alias": NAME, "count": N}',
                )
            if not 0 <= count <= len(devices):
                raise bad(
                    "%s.requests[%d].count" % (where, j),
                    "%d is not between 0 and the instance's %d device(s)"
                    % (count, len(devices)),
                )
            requests.append((r["alias"], count))
        out.append(
            Allocation(
                entry["instance"], entry["host"], tuple(requests), tuple(devices)
            )
        )
    return out


def _device(d: Any, bad: Any, where: str) -> Device:
    if not isinstance(d, dict):
        raise bad(where, "must be an object")
    for field in ("address", "vendor_id", "product_id", "dev_type"):
        if not isinstance(d.get(field), str):
            raise bad(where, "needs a string %r" % field)
    tags = d.get("tags")
    if tags is not None and not (
        isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())
    ):
        raise bad(where, "'tags' must be null (unknown) or an object of strings")
    return Device(
        d["address"],
        d["vendor_id"],
        d["product_id"],
        d["dev_type"],
        parent_addr=d.get("parent_addr"),
        tags=None if tags is None else {str(k): v for k, v in tags.items()},
        alias=d.get("alias"),
        numa_node=d.get("numa_node"),
    )


def _aggregates(doc: dict[str, Any], bad: Any) -> list[Aggregate]:
    """The ``aggregates`` section, checked."""
    raw_aggregates = doc.get("aggregates") or []
    if not isinstance(raw_aggregates, list):
        raise bad(
            "'aggregates'",
            'must be a list of aggregates [{"name": ..., "hosts": [...], '
            '"metadata": {...}}], not %s' % type(raw_aggregates).__name__,
        )
    aggregates = []
    for i, a in enumerate(raw_aggregates):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise bad("aggregate %d" % i, "needs a string 'name'")
        members, meta = a.get("hosts") or [], a.get("metadata") or {}
        if not isinstance(members, list) or not all(
            isinstance(h, str) for h in members
        ):
            raise bad("aggregate %r" % a["name"], "'hosts' must be a list of names")
        if not isinstance(meta, dict):
            raise bad("aggregate %r" % a["name"], "'metadata' must be an object")
        for key, value in meta.items():
            if not isinstance(value, str):
                raise bad(
                    "aggregates[%d].metadata[%s]" % (i, json.dumps(key)),
                    "must be a string (Nova stores metadata values as "
                    "strings), got %s" % json_type(value),
                )
        aggregates.append(
            Aggregate(
                a.get("id", i),
                a["name"],
                a.get("uuid"),
                tuple(members),
                {str(k): v for k, v in meta.items()},
            )
        )
    return aggregates


def _nova_flavors(doc: dict[str, Any], bad: Any) -> list[dict[str, Any]]:
    """The ``nova_flavors`` section (``flavors`` in 0.1.0 files), checked."""
    field = "nova_flavors" if "nova_flavors" in doc else "flavors"
    raw = doc.get(field) or []
    if not isinstance(raw, list):
        raise bad(
            "%r" % field,
            "must be a list of Nova flavors "
            '[{"name": ..., "id": ..., "extra_specs": {...}}]',
        )
    for i, flavor in enumerate(raw):
        if not isinstance(flavor, dict) or not isinstance(flavor.get("name"), str):
            raise bad("%s[%d]" % (field, i), "needs a string 'name'")
        if not isinstance(flavor.get("extra_specs", {}), dict):
            raise bad(
                "Nova flavor %r" % flavor["name"], "'extra_specs' must be an object"
            )
        spec = (flavor.get("extra_specs") or {}).get(alias.SPEC_KEY)
        if spec is not None and not isinstance(spec, str):
            raise bad(
                "%s[%d].extra_specs[%s]" % (field, i, json.dumps(alias.SPEC_KEY)),
                "must be a string NAME:COUNT[,...]",
            )
        if spec and any(c.isdigit() and not c.isascii() for c in spec):
            raise bad(
                "%s[%d].extra_specs[%s]" % (field, i, json.dumps(alias.SPEC_KEY)),
                "counts must be ASCII digits 0-9, got %s" % ascii(spec),
            )
    return raw


def load(path: str) -> Inventory:
    """Read an inventory file; ``AdminError`` names the file and problem."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise AdminError(
            "cannot read inventory %r: %s" % (path, exc.strerror)
        ) from None
    except RecursionError:
        raise AdminError(
            "inventory %r: JSON nested too deeply (an inventory is at most "
            "%d levels deep)" % (path, MAX_DEPTH)
        ) from None
    except ValueError as exc:
        raise AdminError("inventory %r is not valid JSON: %s" % (path, exc)) from None
    where = too_deep(doc)
    if where is not None:
        raise AdminError(
            "inventory %r, %s: nested deeper than %d levels (an inventory "
            "is at most that deep)" % (path, where, MAX_DEPTH)
        )
    return from_json(doc, "inventory %r" % path)


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (null, boolean, number...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "string"


def too_deep(doc: Any, limit: int | None = None) -> str | None:
    """The JSON path of the first value nested deeper than ``limit``
    (``MAX_DEPTH``) levels, else None; iterative, any depth."""
    limit = MAX_DEPTH if limit is None else limit
    stack: list[tuple[Any, str, int]] = [(doc, "$", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > limit:
            return where
        if isinstance(value, dict):
            stack.extend(
                (v, "%s[%s]" % (where, json.dumps(k)), depth + 1)
                for k, v in value.items()
            )
        elif isinstance(value, list):
            stack.extend(
                (v, "%s[%d]" % (where, n), depth + 1) for n, v in enumerate(value)
            )
    return None


def merge_pools(
    free: Sequence[Mapping[str, Any]], used: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Free pools (``count``) and used-device pools (``count`` = devices)
    merged into inventory pools with ``count`` free and ``used``."""
    out: dict[str, dict[str, Any]] = {}
    for pools, field in ((free, "count"), (used, "used")):
        for pool in pools:
            attrs = {k: v for k, v in pool.items() if k not in ("count", "used")}
            sig = json.dumps(attrs, sort_keys=True, default=str)
            entry = out.setdefault(sig, dict(attrs, count=0, used=0))
            entry[field] += int(pool.get("count", 0) or 0)
    return list(out.values())


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
