"""Reading an inventory file: decoded in chunks, its hosts and allocations
checked one entry at a time (``aggregate_pci.admin.inventory_read`` checks
them), and the whole-document reading for the exact error of a refused
file."""

from __future__ import annotations

import json
import re
from typing import Any

# from_json is looked up on its module at each call (tests patch it there)
from aggregate_pci.admin import inventory_read
from aggregate_pci.admin.errors import AdminError
from aggregate_pci.admin.interned import intern_value
from aggregate_pci.admin.inventory import Inventory
from aggregate_pci.admin.inventory_read import (
    MAX_DEPTH,
    checked_allocation,
    checked_pools,
    too_deep,
)
from aggregate_pci.admin.inventory_shapes import Shapes
from aggregate_pci.admin.models import Allocation
from aggregate_pci.errors import Hint


def load(path: str, allocations: bool = True) -> Inventory:
    """Read an inventory file; ``AdminError`` names the file and problem.

    The file is read in chunks and its ``hosts`` and ``allocations``
    checked and converted one entry at a time, so the whole parsed document
    is never held (a 100,000-host file is about 700 MB of JSON).  Any
    problem sends the file through the whole-document reading, whose
    errors (first problem in the documented order) are the ones reported.
    ``allocations=False`` (commands that never read them): the allocations
    are checked all the same, so the same files are refused with the same
    errors, but not kept (``Inventory.allocations`` is None).
    """
    try:
        with open(path, encoding="utf-8") as f:
            streamed = _Stream(f, "inventory %r" % path, allocations).inventory()
    except OSError as exc:
        raise AdminError(
            "cannot read inventory %r: %s" % (path, exc.strerror)
        ) from None
    except (ValueError, RecursionError, AdminError):
        streamed = None
    inv = streamed if streamed is not None else _load_whole(path)
    if not allocations:
        inv.allocations = None
    return inv


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
    return inventory_read.from_json(doc, "inventory %r" % path)


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
#: Characters read at a time (the buffer grows beyond it only for a value
#: longer than that).
CHUNK = 1 << 20


class _Stream:
    """An inventory file decoded one value at a time from a buffer refilled
    in chunks; returns None (``inventory``) for anything unusual, which the
    whole-document reading then reports."""

    def __init__(self, f: Any, source: str, keep: bool = True) -> None:
        self.f, self.source, self.keep = f, source, keep
        self.buf, self.pos, self.eof = "", 0, False
        self.shapes = Shapes()

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
        buf, pos = self.buf, self.pos
        if pos < len(buf) and buf[pos] not in " \t\n\r":
            return buf[pos]
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

    def pools(self, host: str, depth: int, bad: Any) -> list[dict[str, Any]]:
        """The host's pools that come next, checked."""
        if self.peek() == "[":
            found = self.shapes.pools_at(self.buf, self.pos, host, bad)
            if found is not None:
                pools, self.pos = found
                return pools
        return checked_pools(host, self.value(depth), bad)

    def allocation(self, i: int, depth: int, bad: Any, shared: Any) -> Allocation:
        """``allocations[i]``, next, checked."""
        if self.peek() == "{":
            found = self.shapes.allocation_at(self.buf, self.pos, i, depth, bad, shared)
            if found is not None:
                alloc, self.pos = found
                return alloc
        return checked_allocation(i, self.value(depth), bad, shared)

    def allocations(self, depth: int, bad: Any, shared: Any) -> list[Allocation] | None:
        """The list of allocations that comes next ("["), checked; None if
        it is not a list of values.  An entry like one checked before is
        passed over (its allocation made, if ``keep``: else none is kept and
        the list is empty)."""
        self.take("[")
        allocations: list[Allocation] = []
        n, keep, seen_at = 0, self.keep, self.shapes.seen_at
        while n or not self.take("]"):
            passed = 0
            if self.peek() == "{":
                self.pos, passed = seen_at(
                    self.buf, self.pos, allocations if keep else None
                )
            if passed:
                n += passed
            else:
                alloc = self.allocation(n, depth, bad, shared)
                if keep:
                    allocations.append(alloc)
                n += 1
            after = self.peek()
            self.pos += 1
            if after == "]":
                break
            if after != ",":
                return None
        return allocations

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
                    hosts[intern_value(host)] = self.pools(host, at, bad)
            elif key == "allocations" and self.peek() == "[":
                allocations = self.allocations(depth + 1, bad, shared)
                if allocations is None:
                    return None
            else:
                top[key] = self.value(depth)
        if self.peek() != "" or too_deep(top) is not None:
            return None
        if hosts is not None:
            top["hosts"] = {}
        if allocations is not None:
            top["allocations"] = []
        inv = inventory_read.from_json(top, self.source)
        if hosts is not None:
            inv.hosts = hosts
        if allocations is not None:
            inv.allocations = allocations
        return inv


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
