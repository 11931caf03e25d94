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
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from aggregate_pci import alias, codec, matching
from aggregate_pci.scheduler.claim_judge import ClaimOutcome
from aggregate_pci.scheduler.host_view import DefinitionCache, HostView, host_view
from aggregate_pci.scheduler.request import ManagedRequest, RequestPlan

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


#: The devices a placement takes from a host's pools: {id(pool): count}.
Taken = Mapping[int, int]


def claimed(outcome: ClaimOutcome) -> dict[int, int]:
    """{id(pool): devices} the compute's greedy claim takes (PCI in
    Placement off), from its replay (``claim.replay_claim``)."""
    taken: dict[int, int] = {}
    for step in outcome.steps:
        taken[id(step.pool)] = taken.get(id(step.pool), 0) + step.count
    return taken


class Candidate(NamedTuple):
    """One candidate host: its aggregates, free pools, and the devices the
    placement would take from them, or a function computing them that
    depends on nothing but the pools (their keys, counts and order; e.g.
    the compute's greedy claim without NUMA cells), called only for the
    first host of alike ones.  (A tuple: one is built per candidate per
    request, which a frozen dataclass makes three times dearer.)"""

    aggregates: Sequence[Any]
    pools: Sequence[Mapping[str, Any]]
    taken: Taken | Callable[[], Taken]


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


@dataclasses.dataclass
class _Shared:
    """What alike candidates share within one ``placement_costs`` call
    (the candidates keep their aggregates and pools alive, so ids are
    stable keys for it)."""

    signatures: Signatures
    #: A host's views of the types, by the ids of its aggregates.
    views: dict[tuple[int, ...], tuple[HostView | str, ...]] = dataclasses.field(
        default_factory=dict
    )
    #: Servable instances before and after, by aggregates and pool state.
    servable: dict[tuple[Any, ...], tuple[tuple[int, int], ...]] = dataclasses.field(
        default_factory=dict
    )
    #: A pool's mask of a view's predicates, by the predicates' ids, then
    #: the pool's signature (the predicates read nothing else of a pool);
    #: ``view_masks``: the same dicts by the view's id.
    masks: dict[tuple[int, ...], dict[Any, int]] = dataclasses.field(
        default_factory=dict
    )
    view_masks: dict[int, dict[Any, int]] = dataclasses.field(default_factory=dict)
    #: Instances a grouped supply serves, by demands and supply.
    most: dict[tuple[Any, ...], int] = dataclasses.field(default_factory=dict)


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
    shared = _Shared(matching.SignatureCache() if signatures is None else signatures)
    plans = [type_plan(t) for t in types]
    pairs = _servable(candidates, plans, cache, shared)
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


def _servable(
    candidates: Sequence[Candidate],
    plans: Sequence[RequestPlan],
    cache: DefinitionCache,
    shared: _Shared,
) -> list[tuple[tuple[int, int], ...]]:
    """Per candidate, per plan, the instances the host serves before and
    after the placement takes its devices (one object for alike hosts).
    The per-candidate part of the weigher's cost: kept to a state key."""
    signature = shared.signatures.get
    count = matching.pool_count
    views_by = shared.views
    servable = shared.servable
    out = []
    for candidate in candidates:
        aggregates, pools, taken = candidate
        agg_key = tuple(map(id, aggregates))
        views = views_by.get(agg_key)
        if views is None:
            views = views_by[agg_key] = tuple(
                host_view(aggregates, plan, cache) for plan in plans
            )
        try:
            sigs = tuple(map(signature, pools))
        except TypeError:  # an unhashable value in a pool: no sharing
            out.append(_pairs(candidate, plans, views, None, None))
            continue
        state: tuple[Any, ...]
        if callable(taken):  # determined by the pools: not part of the key
            state = (agg_key, sigs, tuple(map(count, pools)))
        else:
            state = (
                agg_key,
                sigs,
                tuple(map(count, pools)),
                tuple(taken.get(id(p), 0) for p in pools),
            )
        hit = servable.get(state)
        if hit is None:
            hit = servable[state] = _pairs(candidate, plans, views, sigs, shared)
        out.append(hit)
    return out


def _pairs(
    candidate: Candidate,
    plans: Sequence[RequestPlan],
    views: Sequence[HostView | str],
    sigs: tuple[Any, ...] | None,
    shared: _Shared | None,
) -> tuple[tuple[int, int], ...]:
    """``_pair`` for every plan (the devices taken computed once); with the
    pools' signatures, masks and maxima shared through ``shared``."""
    taken = candidate.taken() if callable(candidate.taken) else candidate.taken
    pools = candidate.pools
    counts = [matching.pool_count(pool) for pool in pools]
    rests = [c - taken.get(id(p), 0) for c, p in zip(counts, pools, strict=True)]
    return tuple(
        _pair(pools, counts, rests, plan, view, sigs, shared)
        for plan, view in zip(plans, views, strict=True)
    )


def _pair(
    pools: Sequence[Mapping[str, Any]],
    counts: Sequence[int],
    rests: Sequence[int],
    plan: RequestPlan,
    view: HostView | str,
    sigs: tuple[Any, ...] | None,
    shared: _Shared | None,
) -> tuple[int, int]:
    """Instances of ``plan`` the host serves before and after (``counts``
    free devices per pool, ``rests`` left after the placement)."""
    if isinstance(view, str):
        return 0, 0
    preds = view.preds
    by_sig = None if shared is None else shared.view_masks.get(id(view))
    if shared is not None and by_sig is None:  # alike aggregates: alike preds
        by_sig = shared.masks.setdefault(tuple(map(id, preds)), {})
        shared.view_masks[id(view)] = by_sig
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    for n, count in enumerate(counts):
        if not count:
            continue
        mask = None if by_sig is None else by_sig.get(sigs[n])  # type: ignore[index]
        if mask is None:
            pool = pools[n]
            mask = sum(1 << bit for bit, pred in enumerate(preds) if pred(pool))
            if by_sig is not None:
                by_sig[sigs[n]] = mask  # type: ignore[index]
        if mask:
            before[mask] = before.get(mask, 0) + count
            rest = rests[n]
            if rest > 0:
                after[mask] = after.get(mask, 0) + rest
    demands = tuple(r.count for r in plan.requests)
    return _most(before, demands, shared), _most(after, demands, shared)


def _most(
    supply: dict[int, int], demands: tuple[int, ...], shared: _Shared | None
) -> int:
    """``matching.max_instances_from_supply``, once per distinct supply."""
    if shared is None:
        return matching.max_instances_from_supply(supply, demands)
    key = (demands, frozenset(supply.items()))
    found = shared.most.get(key)
    if found is None:
        found = shared.most[key] = matching.max_instances_from_supply(supply, demands)
    return found
