"""The common shapes of an inventory file's entries, read without decoding
text seen before: a host's pools as a list of flat objects (each distinct
pool text decoded once), an instance's allocation as an object of plain
strings and lists holding no list (each distinct requests and devices text
checked once, and the entry's layout matched by one regular expression
learnt from the first entry).  Anything else is left to the decoder
(``aggregate_pci.admin.inventory_stream``), so every value read here is the
one ``json`` would give."""

from __future__ import annotations

import json
import re
from sys import intern
from typing import Any

from aggregate_pci.admin.inventory_read import (
    MAX_DEPTH,
    checked_allocation,
    checked_pools,
    too_deep,
)
from aggregate_pci.admin.models import Allocation

#: JSON's white space (``str.strip`` would take more).
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()
#: A string without escape or control character; a list holding no list
#: (it ends at its first "]": if that is inside a string, the text cut
#: there is not valid JSON and the entry goes to the decoder).
_STRING = r'"([^"\\\x00-\x1f]*)"'
_LIST = r"(\[[^\[\]]*\])"
_SUMMARY = ("instance", "host", "name", "project", "nova_flavor")


class Shapes:
    """What one reading of a file has checked, by JSON text."""

    def __init__(self) -> None:
        self.pools: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, Any] = {}
        self.held: dict[tuple[str, str], tuple[Any, Any]] = {}
        #: (regular expression, keys, which are lists, ``_places``) of the
        #: last entry read member by member
        self.layout: tuple[Any, tuple[str, ...], tuple[bool, ...], Any] | None = None
        #: the layout's expression, then an empty group (where the entry
        #: ends) and the "," after it, if any (``seen_at``)
        self.run: Any = None

    def pools_at(
        self, buf: str, at: int, host: str, bad: Any
    ) -> tuple[list[dict[str, Any]], int] | None:
        """The host's pools at ``buf[at]`` ("[") and the position after
        them, when they are a list of flat objects; else None.  A "}" or
        "]" inside a string cuts a pool's text short: not valid JSON."""
        end = buf.find("]", at)
        if end < 0:
            return None
        parts = buf[at + 1 : end].split("}")
        if parts.pop().strip(_WS):
            return None
        memo, out = self.pools, []
        for n, part in enumerate(parts):
            text = part.lstrip(_WS)
            if n:
                if text[:1] != ",":
                    return None
                text = text[1:].lstrip(_WS)
            pool = memo.get(text)
            if pool is None:
                try:
                    value = _DECODER.decode(text + "}")
                except ValueError:
                    return None
                pool = memo[text] = checked_pools(host, [value], bad)[0]
            out.append(dict(pool))  # one object per pool: users key by id()
        return out, end + 1

    def allocation_at(
        self, buf: str, at: int, i: int, depth: int, bad: Any, shared: Any
    ) -> tuple[Allocation, int] | None:
        """``allocations[i]`` at ``buf[at]`` ("{", nested ``depth`` deep)
        and the position after it, when it is an object of plain strings
        and lists holding no list; else None."""
        found = None
        if self.layout is not None:
            match = self.layout[0].match(buf, at)
            if match is not None:
                found = match.groups(), match.end()
                quick = self._quick(found[0])
                if quick is not None:
                    return quick, found[1]
        if found is None:
            found = self._learn(buf, at)
            if found is None:
                return None
        values, end = found
        _, keys, is_list, _ = self.layout  # type: ignore[misc]
        entry: dict[str, Any] = {}
        texts: dict[str, str] = {}
        lists = self.lists
        for key, listed, value in zip(keys, is_list, values, strict=True):
            if listed:
                texts[key] = value
                text, value = value, lists.get(value)
                if value is None:
                    try:
                        value = _DECODER.decode(text)
                    except ValueError:
                        return None
                    if too_deep(value, MAX_DEPTH - depth - 1) is not None:
                        return None
                    lists[text] = value
            entry[key] = value
        alloc = checked_allocation(i, entry, bad, shared)
        self.held[texts.get("requests", ""), texts.get("devices", "")] = (
            alloc.requests,
            alloc.devices,
        )
        return alloc, end

    def seen_at(
        self, buf: str, at: int, out: list[Allocation] | None = None
    ) -> tuple[int, int]:
        """Pass over the entries from ``buf[at]`` ("{") that are valid
        because an entry like each was checked before (the learnt plain
        layout, the same requests and devices texts), appending their
        allocations to ``out`` (None: a command that does not use them, no
        object is built).  The position after the last one passed over
        (``at`` if none) and their number."""
        if self.run is None:
            return at, 0
        match, held_of, make = self.run.match, self._held, self._make
        cut = len(self.layout[1]) + 1  # type: ignore[index]
        end, n = at, 0
        while True:
            found = match(buf, at)
            if found is None:
                return end, n
            values = found.groups()
            held = held_of(values)
            if held is None:
                return end, n
            if out is not None:
                out.append(make(values, held))
            end, n = found.start(cut), n + 1
            at = found.end()
            if at == end:  # no "," after it
                return end, n

    def _held(self, values: tuple[str, ...]) -> tuple[Any, Any] | None:
        """The requests and devices of an earlier entry with the same texts
        as this one in a plain layout whose lists were all checked before
        (so this entry is valid too); None otherwise."""
        places = self.layout[3]  # type: ignore[index]
        if places is None:
            return None
        lists = self.lists
        for j in places[7]:
            if values[j] not in lists:
                return None
        requests, devices = places[5], places[6]
        return self.held.get(
            (
                "" if requests is None else values[requests],
                "" if devices is None else values[devices],
            )
        )

    def _quick(self, values: tuple[str, ...]) -> Allocation | None:
        """The allocation of an entry in a plain layout whose lists were all
        checked before (None otherwise): no value is decoded again."""
        held = self._held(values)
        return None if held is None else self._make(values, held)

    def _make(self, values: tuple[str, ...], held: tuple[Any, Any]) -> Allocation:
        """The allocation of an entry of the plain layout (its strings are
        ``values``) whose requests and devices are ``held``."""
        places = self.layout[3]  # type: ignore[index]
        name, project, nova_flavor = places[2:5]
        return Allocation(
            values[places[0]],
            intern(values[places[1]]),
            held[0],
            held[1],
            name="" if name is None else values[name],
            project="" if project is None else intern(values[project]),
            nova_flavor="" if nova_flavor is None else intern(values[nova_flavor]),
        )

    def _learn(self, buf: str, at: int) -> tuple[tuple[str, ...], int] | None:
        """Read the object at ``buf[at]`` member by member; if it has the
        plain shape, its layout becomes the one tried first."""
        keys: list[str] = []
        is_list: list[bool] = []
        values: list[str] = []
        pattern: list[str] = []
        start = at
        try:
            while True:
                at = _skip(buf, at + 1)
                key, at = _plain(buf, at)
                at = _skip(buf, at)
                if key is None or key in keys or buf[at] != ":":
                    return None
                at = _skip(buf, at + 1)
                pattern.append(re.escape(buf[start:at]))
                if buf[at] == "[":
                    end = buf.index("]", at) + 1
                    value: str | None = buf[at:end]
                    pattern.append(_LIST)
                else:
                    value, end = _plain(buf, at)
                    if value is None:
                        return None
                    pattern.append(_STRING)
                keys.append(key)
                is_list.append(pattern[-1] == _LIST)
                values.append(value)  # type: ignore[arg-type]
                start, at = end, _skip(buf, end)
                if buf[at] == "}":
                    break
                if buf[at] != ",":
                    return None
        except (IndexError, ValueError):
            return None
        pattern.append(re.escape(buf[start : at + 1]))
        self.run = re.compile("".join(pattern) + r"()(?:[ \t\n\r]*,[ \t\n\r]*)?")
        self.layout = (
            re.compile("".join(pattern)),
            tuple(keys),
            tuple(is_list),
            _places(keys, is_list),
        )
        return tuple(values), at + 1


def _places(keys: list[str], is_list: list[bool]) -> tuple[Any, ...] | None:
    """Where a layout has instance, host, name, project, Nova flavor,
    requests and devices (None: absent), and its lists; None unless every
    entry in it is valid whatever its strings (instance and host present,
    the others strings, requests and devices lists)."""
    where = {k: n for n, k in enumerate(keys)}
    places = tuple(where.get(k) for k in _SUMMARY + ("requests", "devices"))
    strings = all(p is None or not is_list[p] for p in places[:5])
    listed = all(p is None or is_list[p] for p in places[5:])
    if places[0] is None or places[1] is None or not (strings and listed):
        return None
    return places + (tuple(n for n, v in enumerate(is_list) if v),)


def _skip(buf: str, at: int) -> int:
    """The position of the first character from ``at`` that is not JSON
    white space (IndexError at the buffer's end)."""
    while buf[at] in _WS:
        at += 1
    return at


def _plain(buf: str, at: int) -> tuple[str | None, int]:
    """The string at ``buf[at]`` and the position after it, when it has no
    escape and no control character; (None, at) otherwise."""
    if buf[at] != '"':
        return None, at
    end = buf.index('"', at + 1)
    text = buf[at + 1 : end]
    if "\\" in text or any(c < " " for c in text):
        return None, at
    return text, end + 1
