"""The free pools of a compute node's ``pci_stats`` column, as
``[p.to_dict() for p in node.pci_device_pools]`` gives them (issue 21).

A fleet's nodes repeat a few thousand distinct pools hundreds of thousands
of times, while no two nodes' texts are alike.  ``PoolsDecoder`` splits a
text at each serialized ``PciDevicePool`` and decodes and checks each
distinct pool text once; a text that does not split into whole pools inside
the ``objects`` list of a current ``PciDevicePoolList`` is decoded whole,
and any shape other than the exact one Nova's current objects write goes
through Nova's objects (older formats keep Nova's reading).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

#: Pool fields of ``PciDevicePool`` in its field order, and their types.
_POOL_FIELDS = (
    ("product_id", (str,)),
    ("vendor_id", (str,)),
    ("numa_node", (int, type(None))),
    ("tags", (dict,)),
    ("count", (int,)),
)
_POOL_NAMES = frozenset(name for name, _ in _POOL_FIELDS)
_POOL_ORDER = tuple(name for name, _ in _POOL_FIELDS)
#: The field types of a pool with every field, as tuples.
_FULL_TYPES = frozenset(itertools.product(*(types for _, types in _POOL_FIELDS)))
#: Tag value types taken as they are.
_TAG_TYPES = frozenset((str, type(None)))
#: How ``jsonutils.dumps(pools.obj_to_primitive())`` starts each pool; no
#: JSON string can hold it (its quotes would be escaped).
_POOL_MARK = '{"nova_object.name": "PciDevicePool", '
#: Keys of a serialized Nova object.
_OBJECT_KEYS = frozenset(
    (
        "nova_object.name",
        "nova_object.namespace",
        "nova_object.version",
        "nova_object.data",
        "nova_object.changes",
    )
)
#: Distinct pool texts remembered per decoder; past it the memo restarts
#: (a fleet of all-distinct pools costs a decode each, not unbounded memory).
MEMO_LIMIT = 200_000
_DECODER = json.JSONDecoder()
_MISS = object()


class PoolsDecoder:
    """Free pools of compute nodes' ``pci_stats``; equal pool texts give
    the same dict, so callers must not change the pools they get."""

    def __init__(self) -> None:
        # middle pieces (a pool and ", ") and last pieces (a pool and the
        # list's closing text) apart: one text can be both
        self._memos: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        self._frames: dict[tuple[str, str], bool] = {}

    def __call__(self, pci_stats: str | None) -> list[dict[str, Any]]:
        if pci_stats is None:
            return []
        pools = self._split(pci_stats)
        if pools is None:
            pools = _whole(pci_stats)
        if pools is not None:
            return pools
        from nova.objects import pci_device_pool

        return [p.to_dict() for p in pci_device_pool.from_pci_stats(pci_stats)]

    def _split(self, text: str) -> list[dict[str, Any]] | None:
        """The pools of ``text`` from the memo, or None when it does not
        split into whole pools inside a current list's ``objects``."""
        head, *pieces = text.split(_POOL_MARK)
        if not pieces:
            return None
        for memo in (*self._memos, self._frames):
            if len(memo) > MEMO_LIMIT:
                memo.clear()
        out = []
        last = len(pieces) - 1
        for n, piece in enumerate(pieces):
            memo = self._memos[n == last]
            hit = memo.get(piece, _MISS)
            if hit is _MISS:
                hit = memo[piece] = _piece(piece, n == last)
            if hit is None:
                return None
            if n == last:
                pool, tail = hit
                # the same pool in the middle of other texts: one dict
                text = piece[: len(piece) - len(tail)] + ", "
                pool = self._memos[0].get(text) or pool
                frame = self._frames.get((head, tail))
                if frame is None:
                    frame = self._frames[(head, tail)] = _frame(head, tail)
                if not frame:
                    return None
                hit = pool
            out.append(hit)
        return out


def _piece(piece: str, last: bool) -> Any:
    """A middle piece (one pool and ``", "``): its pool; the last piece (one
    pool and the list's closing text): (its pool, that text); None when the
    piece is not one whole pool of the exact shape."""
    text = _POOL_MARK + piece
    if not last:
        if not piece.endswith(", "):
            return None
        try:
            return _pool(json.loads(text[:-2]))
        except ValueError:
            return None
    try:
        item, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    pool = _pool(item)
    return None if pool is None else (pool, text[end:])


def _frame(head: str, tail: str) -> bool:
    """Whether ``head`` + pools joined by ``", "`` + ``tail`` is a current
    ``PciDevicePoolList`` with exactly those pools as its ``objects``."""
    try:
        doc = json.loads(head + "null" + tail)
    except ValueError:
        return False
    if not _is_list(doc) or not _OBJECT_KEYS.issuperset(doc):
        return False
    return doc.get("nova_object.data") == {"objects": [None]}


def _is_list(doc: Any) -> bool:
    """A current ``PciDevicePoolList`` primitive (name, version, and
    changes Nova's objects take as they are)."""
    from nova import objects

    if (
        not isinstance(doc, dict)
        or doc.get("nova_object.name") != "PciDevicePoolList"
        or doc.get("nova_object.version") != objects.PciDevicePoolList.VERSION
    ):
        return False
    changes = doc.get("nova_object.changes", [])
    return type(changes) is list and all(type(c) is str for c in changes)


def _whole(text: str) -> list[dict[str, Any]] | None:
    """The pools of a current ``PciDevicePoolList`` primitive decoded whole,
    or None when anything differs from what Nova's objects would take
    unchanged."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not _is_list(doc):
        return None
    items = (doc.get("nova_object.data") or {}).get("objects")
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        pool = _pool(item)
        if pool is None:
            return None
        out.append(pool)
    return out


def _pool(item: Any) -> dict[str, Any] | None:
    """``PciDevicePool.to_dict()`` of one current serialized pool whose
    fields have the exact types, else None."""
    from nova import objects

    if (
        type(item) is not dict
        or item.get("nova_object.name") != "PciDevicePool"
        or item.get("nova_object.version") != objects.PciDevicePool.VERSION
    ):
        return None
    data = item.get("nova_object.data")
    if type(data) is not dict:
        return None
    if tuple(data) == _POOL_ORDER:  # all fields, as Nova writes them
        if tuple(map(type, data.values())) not in _FULL_TYPES:
            return None
        pool = dict(data)
    else:
        if not _POOL_NAMES.issuperset(data):
            return None
        pool = {}
        for name, types in _POOL_FIELDS:
            if name in data:
                value = data[name]
                if type(value) not in types:
                    return None
                pool[name] = value
    tags = pool.pop("tags", {})
    if not _TAG_TYPES.issuperset(map(type, tags.values())):
        return None
    pool.update(tags)
    return pool
