"""Host-by-host capacity straight from ``matching``'s primitives: the
reference that the fleet code (``headroom.fit_many``) and the properties
are checked against.  Test code: the product answers these questions in
``admin/capacity/`` over whole fleets."""

from __future__ import annotations

from typing import Iterable, Mapping

from aggregate_pci.codec import PciFlavorDefinition
from aggregate_pci.matching import (
    Pool,
    compile_definition,
    count_matching,
    group_supply,
    max_instances_from_supply,
)

Definitions = Mapping[str, PciFlavorDefinition]


def free_by_flavor(pools: Iterable[Pool], definitions: Definitions) -> dict[str, int]:
    """Free devices of each flavor on one host, if that flavor were asked alone."""
    pools = list(pools)
    return {
        name: count_matching(pools, compile_definition(d))
        for name, d in definitions.items()
    }


def instances_fit(
    pools: Iterable[Pool], definitions: Definitions, request: Mapping[str, int]
) -> int:
    """How many more instances asking ``request`` ({flavor: count}) fit on one
    host, exactly.  0 if the host does not define a requested flavor."""
    wanted = {name: count for name, count in request.items() if count}
    if not wanted:
        raise ValueError("the request asks for no device")
    if any(name not in definitions for name in wanted):
        return 0
    names = sorted(wanted)
    preds = [compile_definition(definitions[n]) for n in names]
    supply = group_supply(pools, preds)
    return max_instances_from_supply(supply, [wanted[n] for n in names])


def fleet_free_by_flavor(
    hosts: Mapping[str, tuple[Iterable[Pool], Definitions]],
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """``free_by_flavor`` for each host, and totals per flavor."""
    per_host: dict[str, dict[str, int]] = {}
    total: dict[str, int] = {}
    for host, (pools, definitions) in hosts.items():
        free = free_by_flavor(pools, definitions)
        per_host[host] = free
        for name, count in free.items():
            total[name] = total.get(name, 0) + count
    return per_host, total


def fleet_instances_fit(
    hosts: Mapping[str, tuple[Iterable[Pool], Definitions]],
    request: Mapping[str, int],
) -> tuple[dict[str, int], int]:
    """``instances_fit`` for each host, and the total (an instance never
    spans hosts, so the total is the sum)."""
    per_host = {
        host: instances_fit(pools, definitions, request)
        for host, (pools, definitions) in hosts.items()
    }
    return per_host, sum(per_host.values())
