"""The overlap-aware weigher's score: what placing one instance on a host
costs the other PCI request types (issue 18).

For each request type (the ``pci_passthrough:alias`` requests of the
cloud's Nova flavors) the score counts the instances of it the host can no
longer serve once the devices the compute will really take are gone (the
greedy claim without PCI in Placement, the allocation candidate's mapping
with it), divides that loss by the instances of it the candidate hosts
still serve together (a scarce type weighs more), and sums.  The weigher
prefers the host with the lowest cost.

Pure: duck-typed aggregates (``.metadata``) and pools as dicts, no Nova
import; the plan, definitions, host view and exact capacity are the
filter's own (``request``, ``host_view``, ``matching``); the devices taken
come from the caller (``aggregate_pci.weigher``: the claim replay or the
Placement mapping).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from aggregate_pci import alias, codec, matching
from aggregate_pci.scheduler import weigh_servable
from aggregate_pci.scheduler.claim_judge import ClaimOutcome
from aggregate_pci.scheduler.host_view import DefinitionCache
from aggregate_pci.scheduler.request import ManagedRequest, RequestPlan
from aggregate_pci.scheduler.weigh_servable import Candidate, Taken

__all__ = [
    "Candidate",
    "Costs",
    "HostCost",
    "Multiplier",
    "Taken",
    "claimed",
    "host_multiplier",
    "normalized",
    "placement_costs",
    "request_types",
    "type_plan",
]

#: Aggregate metadata key overriding ``[aggregate_pci] weight_multiplier``.
MULTIPLIER_KEY = "aggregate_pci_weight_multiplier"


class Multiplier(NamedTuple):
    """The weigher's multiplier on a host and where it comes from."""

    value: float
    #: The aggregates whose ``MULTIPLIER_KEY`` gives it (none: the option).
    aggregates: tuple[str, ...] = ()
    #: Why the key was ignored (``a value is no number``, ``not finite``).
    ignored: str = ""


def host_multiplier(aggregates: Sequence[Any], default: float) -> Multiplier:
    """The multiplier on a host, the rule of the weigher and of ``explain``:
    the smallest ``MULTIPLIER_KEY`` of its aggregates (Nova's
    ``get_weight_multiplier``), else ``default``, also when a value is no
    number (Nova's helper ignores it) or not finite (we do: an infinite
    weight would swamp every other weigher)."""
    values = {
        a.metadata[MULTIPLIER_KEY] for a in aggregates if MULTIPLIER_KEY in a.metadata
    }
    if not values:
        return Multiplier(default)
    try:
        value = min(float(v) for v in values)
    except (TypeError, ValueError):
        return Multiplier(default, ignored="a value is no number")
    if not math.isfinite(value):
        return Multiplier(default, ignored="not finite")
    names = tuple(
        str(getattr(a, "name", a))
        for a in aggregates
        if MULTIPLIER_KEY in a.metadata and float(a.metadata[MULTIPLIER_KEY]) == value
    )
    return Multiplier(value, names)


def normalized(values: Sequence[float]) -> list[float]:
    """Nova's ``weights.normalize`` of one weigher's weights: to 0..1 by
    their minimum and maximum, all 0 when these are equal."""
    if not values:
        return []
    low, high = min(values), max(values)
    if low == high:
        return [0.0] * len(values)
    return [(v - low) / (high - low) for v in values]


#: A request type: ((PCI flavor, devices), ...) sorted by flavor.
RequestType = tuple[tuple[str, int], ...]


def request_types(
    alias_requests: Iterable[str], managed: Iterable[str]
) -> tuple[RequestType, ...]:
    """The distinct request types of Nova flavors' ``pci_passthrough:alias``
    values, restricted to managed PCI flavors (a count Nova would refuse,
    not a positive integer, drops its item)."""
    names = set(managed)
    out: list[RequestType] = []
    for text in alias_requests:
        parsed = alias.parse_request(text)
        rtype = tuple(sorted((n, c) for n, c in parsed.items() if n in names and c > 0))
        if rtype and rtype not in out:
            out.append(rtype)
    return tuple(out)


def type_plan(rtype: RequestType) -> RequestPlan:
    """A request type as the decision core's plan (one instance of it)."""
    return RequestPlan(
        tuple(
            ManagedRequest(name, codec.KEY_PREFIX + name, count, ())
            for name, count in rtype
        )
    )


def claimed(outcome: ClaimOutcome) -> dict[int, int]:
    """{id(pool): devices} the compute's greedy claim takes (PCI in
    Placement off), from its replay (``claim.replay_claim``)."""
    taken: dict[int, int] = {}
    for step in outcome.steps:
        taken[id(step.pool)] = taken.get(id(step.pool), 0) + step.count
    return taken


@dataclasses.dataclass(frozen=True)
class HostCost:
    """A candidate's cost and the losses behind it: (type index, instances
    of the type the host serves before, after the placement)."""

    cost: float
    losses: tuple[tuple[int, int, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class Costs:
    """Every candidate's cost, the types and what the candidates serve of
    each before the placement (the scarcity divisor)."""

    hosts: tuple[HostCost, ...]
    types: tuple[RequestType, ...]
    left: tuple[int, ...]


#: ``matching.cached_signature``'s cache (``RequestMemo.signatures``).
Signatures = matching.SignatureCache


def placement_costs(
    candidates: Sequence[Candidate],
    types: Sequence[RequestType],
    cache: DefinitionCache,
    weights: Mapping[RequestType, float] | None = None,
    signatures: Signatures | None = None,
) -> Costs:
    """What placing the instance on each candidate costs: for every type,
    the instances of it lost on that host, divided by the instances of it
    all candidates serve, times the type's weight (1 by default), summed.

    Hosts in the same aggregates with alike pools (by signature) and the
    same devices taken share the work; ``signatures``: the request's
    signature cache, shared with the filter (``RequestMemo.signatures``).
    """
    shared = weigh_servable.Shared(
        matching.SignatureCache() if signatures is None else signatures
    )
    plans = [type_plan(t) for t in types]
    pairs = weigh_servable.servable(candidates, plans, cache, shared)
    # Alike hosts share their pairs (the same object): count, cost once.
    distinct: dict[int, list[Any]] = {}
    for pair in pairs:
        seen = distinct.get(id(pair))
        if seen is None:
            distinct[id(pair)] = [pair, 1]
        else:
            seen[1] += 1
    left = tuple(
        sum(pair[i][0] * n for pair, n in distinct.values()) for i in range(len(types))
    )
    by_pair = {
        key: _host_cost(pair, types, left, weights)
        for key, (pair, _) in distinct.items()
    }
    return Costs(tuple([by_pair[id(pair)] for pair in pairs]), tuple(types), left)


def _host_cost(
    pair: tuple[tuple[int, int], ...],
    types: Sequence[RequestType],
    left: tuple[int, ...],
    weights: Mapping[RequestType, float] | None,
) -> HostCost:
    """One host's cost from its (before, after) per type."""
    cost = 0.0
    losses = []
    for i, (before, after) in enumerate(pair):
        if before > after and left[i]:
            weight = 1.0 if weights is None else weights.get(types[i], 1.0)
            cost += weight * (before - after) / left[i]
            losses.append((i, before, after))
    return HostCost(cost, tuple(losses))
