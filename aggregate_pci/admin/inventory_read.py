"""Reading an inventory document (format: ``aggregate_pci.admin.inventory``):
every field validated, every error naming the file, the place and the
problem, and nesting bounded before anything is parsed further.  The file
itself is read by ``aggregate_pci.admin.inventory_stream``."""

from __future__ import annotations

import json
import sys
from typing import Any

from aggregate_pci import alias
from aggregate_pci.admin.errors import AdminError
from aggregate_pci.admin.interned import intern_value, shared_allocation, shared_device
from aggregate_pci.admin.inventory import FORMAT, VERSION, Inventory
from aggregate_pci.admin.models import Aggregate, Allocation, Device
from aggregate_pci.errors import Hint

#: Deepest nesting an inventory file may have (it needs 6: allocations,
#: devices, tags); deeper is refused before any check.
MAX_DEPTH = 16


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
    raw_hosts = doc.get("hosts") or {}
    if not isinstance(raw_hosts, dict):
        raise bad("'hosts'", "must be an object {host: [pool, ...]}")
    hosts = {
        intern_value(host): checked_pools(host, pools, bad)
        for host, pools in raw_hosts.items()
    }
    return Inventory(aggregates, hosts, _nova_flavors(doc, bad), _allocations(doc, bad))


def checked_pools(host: str, pools: Any, bad: Any) -> list[dict[str, Any]]:
    """One host's pools, checked, with their keys and string values shared."""
    if not isinstance(pools, list):
        raise bad("host %r" % host, "pools must be a list")
    out = []
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
        intern = sys.intern
        out.append(
            {intern(k): intern(v) if type(v) is str else v for k, v in pool.items()}
        )
    return out


def _allocations(doc: dict[str, Any], bad: Any) -> list[Allocation] | None:
    """The optional ``allocations`` section, checked (None if absent)."""
    if "allocations" not in doc:
        return None
    raw = doc["allocations"]
    if not isinstance(raw, list):
        raise bad("'allocations'", "must be a list of instances")
    shared: dict[Any, Any] = {}
    return [checked_allocation(i, entry, bad, shared) for i, entry in enumerate(raw)]


def checked_allocation(
    i: int, entry: Any, bad: Any, shared: dict[Any, Any]
) -> Allocation:
    """``allocations[i]``, checked; equal devices and requests are one
    object in ``shared`` (a fleet's instances repeat them)."""
    where = "allocations[%d]" % i
    if not isinstance(entry, dict):
        raise bad(where, "must be an object")
    for field in ("instance", "host"):
        if not isinstance(entry.get(field), str):
            raise bad(where, "needs a string %r" % field)
    for field in ("name", "project", "nova_flavor"):  # optional
        if not isinstance(entry.get(field, ""), str):
            raise bad(where, "%r must be a string" % field)
    raw_devices = entry.get("devices") or []
    raw_requests = entry.get("requests") or []
    if not isinstance(raw_devices, list) or not isinstance(raw_requests, list):
        raise bad(where, "'requests' and 'devices' must be lists")
    devices = [
        _device(d, bad, "%s, device %d" % (where, j), shared)
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
    return shared_allocation(
        shared,
        entry["instance"],
        entry["host"],
        tuple(requests),
        devices,
        name=entry.get("name", ""),
        project=entry.get("project", ""),
        nova_flavor=entry.get("nova_flavor", ""),
    )


def _device(d: Any, bad: Any, where: str, shared: dict[Any, Any]) -> Device:
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
    return shared_device(
        shared,
        d["address"],
        d["vendor_id"],
        d["product_id"],
        d["dev_type"],
        d.get("parent_addr"),
        tags,
        d.get("alias"),
        d.get("numa_node"),
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
    if _depth_within(doc, limit):
        return None
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


def _depth_within(doc: Any, limit: int) -> bool:
    """Whether no value is nested deeper than ``limit``: ``too_deep``'s
    fast pass, naming no place (containers only are visited)."""
    level = [doc] if isinstance(doc, (dict, list)) else []
    depth = 0
    while level:
        if depth >= limit:
            return False
        depth += 1
        nested: list[Any] = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            nested.extend(v for v in items if isinstance(v, (dict, list)))
        level = nested
    return True
