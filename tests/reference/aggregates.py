"""A host's effective definitions of PCI flavors, and the decision for
flavor aliases (issue 3), computed the slow obvious way.

A host is duck-typed: ``.aggregates`` (each with ``.metadata``) and
``.pci_stats.pools`` (dicts: ids, ``dev_type``, tags, ``count``).
"""

from __future__ import annotations

import fnmatch
import functools
from typing import Any, Callable, Sequence

from aggregate_pci import codec
from tests.reference import matching

#: A managed request on one host: devices asked, and which pools serve it.
Units = dict[str, tuple[int, Callable[[dict[str, Any]], bool]]]


def _match(pool: dict[str, Any], m: codec.DeviceMatch) -> bool:
    def eq(have: Any, want: str) -> bool:
        return have is not None and str(have).lower() == want.lower()

    if not (
        eq(pool.get("vendor_id"), m.vendor_id)
        and eq(pool.get("product_id"), m.product_id)
    ):
        return False
    if m.device_type is not None and not eq(pool.get("dev_type"), m.device_type):
        return False
    for key, want in m.tags:
        have = pool.get(key)
        if key == "address":
            if not isinstance(have, str) or not fnmatch.fnmatchcase(
                have.lower(), want.lower()
            ):
                return False
        elif not eq(have, want):
            return False
    return True


def any_match(matches: Sequence[codec.DeviceMatch], pool: dict[str, Any]) -> bool:
    """Does ``pool`` match one of the match objects (ORed)?"""
    return any(_match(pool, m) for m in matches)


@functools.lru_cache(maxsize=None)
def parse_or_none(value: str) -> codec.PciFlavorDefinition | None:
    """The definition a metadata value holds, None if it is bad."""
    try:
        return codec.parse_value(value)
    except codec.PciFlavorError:
        return None


def effective_matches(host: Any, name: str) -> list[codec.DeviceMatch]:
    """The host's effective definition of ``name``: the match objects of
    every valid definition in its aggregates (ORed)."""
    matches: list[codec.DeviceMatch] = []
    for agg in host.aggregates:
        value = agg.metadata.get(codec.KEY_PREFIX + name)
        definition = parse_or_none(value) if value is not None else None
        if definition is not None:
            matches.extend(definition.matches)
    return matches


def managed_counts(
    wanted: Sequence[tuple[str, int]], managed: set[str]
) -> dict[str, int]:
    """Devices asked per managed flavor name (unmanaged names left alone)."""
    counts: dict[str, int] = {}
    for name, count in wanted:
        if name in managed:
            counts[name] = counts.get(name, 0) + count
    return counts


def units_fit(pools: Sequence[dict[str, Any]], units: Units) -> bool:
    """Exhaustive joint check: can every unit get a distinct free device
    of a pool its predicate accepts?"""
    return matching.feasible(pools, [(pred, count) for count, pred in units.values()])


def alias_units(
    host: Any, wanted: Sequence[tuple[str, int]], managed: set[str]
) -> Units | None:
    """Units of the managed flavor aliases (None: one has no definition)."""
    units: Units = {}
    for name, count in managed_counts(wanted, managed).items():
        matches = effective_matches(host, name)
        if not matches:
            return None
        units[name] = (count, functools.partial(any_match, matches))
    return units


def reference_decision(
    host: Any, wanted: Sequence[tuple[str, int]], managed: set[str]
) -> str:
    """The semantics of issue 3, computed the slow obvious way: "pass",
    "no-definition" (not in an aggregate validly defining a requested
    flavor) or "no-fit" (the managed requests do not fit jointly)."""
    units = alias_units(host, wanted, managed)
    if units is None:
        return "no-definition"
    return "pass" if not units or units_fit(host.pci_stats.pools, units) else "no-fit"
