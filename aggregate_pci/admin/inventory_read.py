"""Reading an inventory file (format: ``aggregate_pci.admin.inventory``):
every field validated, every error naming the file, the place and the
problem, and nesting bounded before anything is parsed further."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from aggregate_pci import alias
from aggregate_pci.admin.errors import AdminError
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
        _intern(host): _pools(host, pools, bad) for host, pools in raw_hosts.items()
    }
    return Inventory(aggregates, hosts, _nova_flavors(doc, bad), _allocations(doc, bad))


def _intern(value: Any) -> Any:
    """One shared copy of a string value (pool fields, host and flavor names
    repeat across a fleet); other values unchanged."""
    return sys.intern(value) if type(value) is str else value


def _pools(host: str, pools: Any, bad: Any) -> list[dict[str, Any]]:
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
    return [_allocation(i, entry, bad, shared) for i, entry in enumerate(raw)]


def _allocation(i: int, entry: Any, bad: Any, shared: dict[Any, Any]) -> Allocation:
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
    request_key = ("requests", tuple(requests))
    device_key = ("devices", tuple(map(id, devices)))
    return Allocation(
        entry["instance"],
        _intern(entry["host"]),
        shared.setdefault(request_key, request_key[1]),
        # devices are shared, so their identities name the tuple
        shared.setdefault(device_key, tuple(devices)),
        name=entry.get("name", ""),
        project=_intern(entry.get("project", "")),
        nova_flavor=_intern(entry.get("nova_flavor", "")),
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
    fields = (
        d["address"],
        d["vendor_id"],
        d["product_id"],
        d["dev_type"],
        d.get("parent_addr"),
        None if tags is None else tuple((str(k), v) for k, v in tags.items()),
        d.get("alias"),
        d.get("numa_node"),
    )
    try:
        found = shared.get(fields)
    except TypeError:  # an unhashable parent_addr, alias or numa_node
        found = None
    if found is None:
        found = Device(
            _intern(fields[0]),
            _intern(fields[1]),
            _intern(fields[2]),
            _intern(fields[3]),
            parent_addr=fields[4],
            tags=None if tags is None else dict(fields[5] or ()),
            alias=_intern(fields[6]),
            numa_node=fields[7],
        )
        try:
            shared[fields] = found
        except TypeError:
            pass
    return found


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
    """Read an inventory file; ``AdminError`` names the file and problem.

    The file is read in chunks and its ``hosts`` and ``allocations``
    checked and converted one entry at a time, so the whole parsed document
    is never held (a 100,000-host file is about 700 MB of JSON).  Any
    problem sends the file through the whole-document reading, whose
    errors (first problem in the documented order) are the ones reported.
    """
    try:
        with open(path, encoding="utf-8") as f:
            streamed = _Stream(f, "inventory %r" % path).inventory()
    except OSError as exc:
        raise AdminError(
            "cannot read inventory %r: %s" % (path, exc.strerror)
        ) from None
    except (ValueError, RecursionError, AdminError):
        streamed = None
    return streamed if streamed is not None else _load_whole(path)


def _load_whole(path: str) -> Inventory:
    """Read the whole document, then check it (the exact error path)."""
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


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
#: Characters read at a time (the buffer grows beyond it only for a value
#: longer than that).
CHUNK = 1 << 20


class _Stream:
    """An inventory file decoded one value at a time from a buffer refilled
    in chunks; returns None (``inventory``) for anything unusual, which the
    whole-document reading then reports."""

    def __init__(self, f: Any, source: str) -> None:
        self.f, self.source = f, source
        self.buf, self.pos, self.eof = "", 0, False

    def _more(self) -> bool:
        """Append a chunk (at least the buffer's size: a long value costs
        linear, not quadratic, copying); False at the end of the file."""
        chunk = self.f.read(max(CHUNK, len(self.buf) - self.pos))
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def take(self, char: str) -> bool:
        """Consume ``char`` if it comes next."""
        if self.peek() != char:
            return False
        self.pos += 1
        return True

    def value(self, depth: int) -> Any:
        """The next JSON value, nested at most ``MAX_DEPTH - depth`` deep
        (else ValueError)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except ValueError:
                if self._more():  # maybe cut by the chunk's end
                    continue
                raise
            # a number at the buffer's end may go on in the next chunk
            if end < len(self.buf) or not self._more():
                break
        start, self.pos = self.pos, end
        limit = MAX_DEPTH - depth
        if (
            not _shallow(self.buf[start:end], value, limit)
            and too_deep(value, limit) is not None
        ):
            raise ValueError("too deep")
        return value

    def members(self, depth: int) -> Any:
        """(key, value) of the object that comes next, value by value."""
        if not self.take("{"):
            raise ValueError("not an object")
        if self.take("}"):
            return
        while True:
            key = self.value(depth)
            if not isinstance(key, str) or not self.take(":"):
                raise ValueError("bad member")
            yield key, depth + 1
            if self.take("}"):
                return
            if not self.take(","):
                raise ValueError("bad member")

    def inventory(self) -> Inventory | None:
        """The inventory, or None when the file needs the exact path."""
        top: dict[str, Any] = {}
        shared: dict[Any, Any] = {}
        hosts: dict[str, list[dict[str, Any]]] | None = None
        allocations: list[Allocation] | None = None

        def bad(where: str, what: str, hint: Hint | None = None) -> AdminError:
            return AdminError("%s, %s: %s" % (self.source, where, what), hint=hint)

        for key, depth in self.members(0):
            if key in top:  # a repeated key: the last one counts
                return None
            top[key] = None
            if key == "hosts" and self.peek() == "{":
                hosts = {}
                for host, at in self.members(depth):
                    if host in hosts:
                        return None
                    hosts[_intern(host)] = _pools(host, self.value(at), bad)
            elif key == "allocations" and self.peek() == "[":
                self.take("[")
                allocations = []
                while not self.take("]"):
                    if allocations and not self.take(","):
                        return None
                    entry = self.value(depth + 1)
                    allocations.append(
                        _allocation(len(allocations), entry, bad, shared)
                    )
            else:
                top[key] = self.value(depth)
        if self.peek() != "" or too_deep(top) is not None:
            return None
        if hosts is not None:
            top["hosts"] = {}
        if allocations is not None:
            top["allocations"] = []
        inv = from_json(top, self.source)
        if hosts is not None:
            inv.hosts = hosts
        if allocations is not None:
            inv.allocations = allocations
        return inv


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


def _shallow(text: str, value: Any, limit: int) -> bool:
    """A cheap proof, from a value's JSON text, that it is nested at most
    ``limit`` deep: no more brackets than that (brackets in strings only
    count too many), or a list of flat objects (a host's pools)."""
    objects, lists = text.count("{"), text.count("[")
    if objects + lists <= limit:
        return True
    return (
        lists == 1
        and limit >= 2
        and type(value) is list
        and objects == len(value)
        and all(type(v) is dict for v in value)
    )


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
