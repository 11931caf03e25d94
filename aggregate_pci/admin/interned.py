"""One object per equal value while reading a fleet (issue 21): hosts of
one hardware model repeat pool fields, devices and requests, so the
readers of an inventory file and of Nova's databases share them, and
``audit`` judges each shape of instance once (its memo is by identity).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping, Sequence

from aggregate_pci.admin.models import Allocation, Device

#: Objects a ``ByIdentity`` remembers before it stops: where objects are
#: not shared (an inventory file's pools) it fills up with misses, and a
#: lookup that cannot hit is only a cost.
ID_MEMO_LIMIT = 50_000


class ByIdentity:
    """What a computation gave for an object, remembered by the object's
    identity: readers of Nova's databases share equal pools across a fleet,
    so one pool object recurs on thousands of hosts and is worked out once.
    Each entry holds its object, so no other object can take its id.  Past
    ``ID_MEMO_LIMIT`` distinct objects it forgets them and answers None."""

    __slots__ = ("_memo", "get", "put")

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Any]] = {}
        #: ``get(obj)``: what was put for ``obj``, or None.
        self.get: Callable[[Any], Any] = self._get
        #: ``put(obj, value)``: remember ``value`` for ``obj``; returns it.
        self.put: Callable[[Any, Any], Any] = self._put

    def _get(self, obj: Any) -> Any:
        hit = self._memo.get(id(obj))
        return hit[1] if hit is not None and hit[0] is obj else None

    def _put(self, obj: Any, value: Any) -> Any:
        if len(self._memo) >= ID_MEMO_LIMIT:
            self._memo.clear()
            self.get, self.put = _nothing, _given
        else:
            self._memo[id(obj)] = (obj, value)
        return value


def _nothing(obj: Any) -> None:
    return None


def _given(obj: Any, value: Any) -> Any:
    return value


def intern_value(value: Any) -> Any:
    """One shared copy of a string value (pool fields, host and flavor names
    repeat across a fleet); other values unchanged."""
    return sys.intern(value) if type(value) is str else value


def shared_allocation(
    shared: dict[Any, Any],
    instance: str,
    host: str,
    requests: tuple[tuple[str, int], ...],
    devices: Sequence[Device],
    name: str = "",
    project: str = "",
    nova_flavor: str = "",
) -> Allocation:
    """An ``Allocation`` whose requests and devices tuple are one object per
    equal value in ``shared`` (``devices`` from ``shared_device``): a
    fleet's instances repeat them, and ``audit`` judges each shape once."""
    request_key = ("requests", requests)
    device_key = ("devices", tuple(map(id, devices)))
    return Allocation(
        instance,
        intern_value(host),
        shared.setdefault(request_key, requests),
        # devices are shared, so their identities name the tuple
        shared.setdefault(device_key, tuple(devices)),
        name=name,
        project=intern_value(project),
        nova_flavor=intern_value(nova_flavor),
    )


def shared_device(
    shared: dict[Any, Any],
    address: str,
    vendor_id: str,
    product_id: str,
    dev_type: str,
    parent_addr: Any = None,
    tags: Mapping[str, str] | None = None,
    alias: Any = None,
    numa_node: Any = None,
) -> Device:
    """A ``Device``, one object per equal value in ``shared``."""
    fields = (
        address,
        vendor_id,
        product_id,
        dev_type,
        parent_addr,
        None if tags is None else tuple((str(k), v) for k, v in tags.items()),
        alias,
        numa_node,
    )
    try:
        found = shared.get(fields)
    except TypeError:  # an unhashable parent_addr, alias or numa_node
        found = None
    if found is None:
        found = Device(
            intern_value(fields[0]),
            intern_value(fields[1]),
            intern_value(fields[2]),
            intern_value(fields[3]),
            parent_addr=fields[4],
            tags=None if tags is None else dict(fields[5] or ()),
            alias=intern_value(fields[6]),
            numa_node=fields[7],
        )
        try:
            shared[fields] = found
        except TypeError:
            pass
    return found
