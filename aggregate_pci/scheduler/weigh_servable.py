"""The per-candidate part of the weigher's score (``weigh.placement_costs``):
the instances of each request type a host serves before and after the
placement takes its devices.

Pure, as ``weigh``: pools as dicts, views from ``host_view``, the exact
count from ``matching``.  A candidate's pools are visited once for all
types: each pool's masks for the types (by the views' predicates) are
remembered per host view and pool signature, and only a type whose supply
the placement touches is counted twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from aggregate_pci import matching
from aggregate_pci.scheduler.host_view import DefinitionCache, HostView, host_view
from aggregate_pci.scheduler.request import RequestPlan

#: The devices a placement takes from a host's pools: {id(pool): count}.
Taken = Mapping[int, int]
#: (type index, mask) for each type whose predicates a pool matches.
Hits = tuple[tuple[int, int], ...]
#: Per type, the instances a host serves before and after the placement.
Pair = tuple[tuple[int, int], ...]


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


@dataclasses.dataclass
class Shared:
    """What alike candidates share within one ``placement_costs`` call
    (the candidates keep their aggregates and pools alive, so ids are
    stable keys for it)."""

    signatures: matching.SignatureCache
    #: A host's views of the types, by the ids of its aggregates.
    views: dict[tuple[int, ...], tuple[HostView | str, ...]] = dataclasses.field(
        default_factory=dict
    )
    #: Servable instances before and after, by aggregates and pool state.
    servable: dict[tuple[Any, ...], Pair] = dataclasses.field(default_factory=dict)
    #: A pool's mask of a view's predicates, by the predicates' ids, then
    #: the pool's signature (the predicates read nothing else of a pool).
    masks: dict[tuple[int, ...], dict[Any, int]] = dataclasses.field(
        default_factory=dict
    )
    #: A pool's ``Hits``, by its views' predicates (ids), then its
    #: signature; ``hits_of``: the same dicts by the id of the views.
    hits: dict[tuple[Any, ...], dict[Any, Hits]] = dataclasses.field(
        default_factory=dict
    )
    hits_of: dict[int, dict[Any, Hits]] = dataclasses.field(default_factory=dict)
    #: Instances a grouped supply serves, by demands and supply.
    most: dict[tuple[Any, ...], int] = dataclasses.field(default_factory=dict)


def servable(
    candidates: Sequence[Candidate],
    plans: Sequence[RequestPlan],
    cache: DefinitionCache,
    shared: Shared,
) -> list[Pair]:
    """Per candidate, per plan, the instances the host serves before and
    after the placement takes its devices (one object for alike hosts)."""
    signature = shared.signatures.get
    count = matching.pool_count
    views_by = shared.views
    known = shared.servable
    demands = [tuple(r.count for r in plan.requests) for plan in plans]
    out = []
    for candidate in candidates:
        aggregates, pools, taken = candidate
        agg_key = tuple(map(id, aggregates))
        views = views_by.get(agg_key)
        if views is None:
            views = views_by[agg_key] = tuple(
                host_view(aggregates, plan, cache) for plan in plans
            )
        counts = tuple(map(count, pools))
        try:
            sigs = tuple(map(signature, pools))
        except TypeError:  # an unhashable value in a pool: no sharing
            out.append(pairs(candidate, counts, demands, views, None, None))
            continue
        state: tuple[Any, ...]
        if callable(taken):  # determined by the pools: not part of the key
            state = (agg_key, sigs, counts)
        else:
            state = (agg_key, sigs, counts, tuple(taken.get(id(p), 0) for p in pools))
        hit = known.get(state)
        if hit is None:
            hit = known[state] = pairs(candidate, counts, demands, views, sigs, shared)
        out.append(hit)
    return out


def pairs(
    candidate: Candidate,
    counts: Sequence[int],
    demands: Sequence[tuple[int, ...]],
    views: Sequence[HostView | str],
    sigs: tuple[Any, ...] | None,
    shared: Shared | None,
) -> Pair:
    """Instances of each request type (``demands``: its devices per PCI
    flavor) the host serves before and after (``counts`` free devices per
    pool, the devices taken computed once); with the pools' signatures,
    masks and maxima shared through ``shared``."""
    taken = candidate.taken() if callable(candidate.taken) else candidate.taken
    by_sig = None
    if shared is not None and sigs is not None:
        by_sig = shared.hits_of.get(id(views))
        if by_sig is None:  # alike aggregates: alike predicates
            key = tuple(
                None if isinstance(v, str) else tuple(map(id, v.preds)) for v in views
            )
            by_sig = shared.hits_of[id(views)] = shared.hits.setdefault(key, {})
    # per type hit: its supply before and after, and whether they differ
    before: dict[int, dict[int, int]] = {}
    after: dict[int, dict[int, int]] = {}
    touched: set[int] = set()
    for n, pool in enumerate(candidate.pools):
        count = counts[n]
        if not count:
            continue
        hits: Hits | None
        if by_sig is None or sigs is None:
            hits = _hits(pool, views, None, None)
        else:
            hits = by_sig.get(sigs[n])
            if hits is None:
                hits = by_sig[sigs[n]] = _hits(pool, views, sigs[n], shared)
        if not hits:
            continue
        rest = count - taken.get(id(pool), 0)
        for i, mask in hits:
            supply = before.get(i)
            if supply is None:
                supply = before[i] = {}
                after[i] = {}
            supply[mask] = supply.get(mask, 0) + count
            if rest > 0:
                supply = after[i]
                supply[mask] = supply.get(mask, 0) + rest
            if rest != count:
                touched.add(i)
    out = [(0, 0)] * len(demands)
    for i, supply in before.items():
        served = _most(supply, demands[i], shared)
        left = _most(after[i], demands[i], shared) if i in touched else served
        out[i] = (served, left)
    return tuple(out)


def _hits(
    pool: Mapping[str, Any],
    views: Sequence[HostView | str],
    sig: Any,
    shared: Shared | None,
) -> Hits:
    """(type index, mask) for each type whose view's predicates ``pool``
    matches (none for a view that is a reason, not a view)."""
    out = []
    for i, view in enumerate(views):
        if isinstance(view, str):
            continue
        if shared is None:
            mask = matching.pool_mask(pool, view.preds)
        else:
            masks = shared.masks.get(tuple(map(id, view.preds)))
            if masks is None:
                masks = shared.masks[tuple(map(id, view.preds))] = {}
            mask = masks.get(sig)  # type: ignore[assignment]
            if mask is None:
                mask = masks[sig] = matching.pool_mask(pool, view.preds)
        if mask:
            out.append((i, mask))
    return tuple(out)


def _most(
    supply: dict[int, int], demands: tuple[int, ...], shared: Shared | None
) -> int:
    """``matching.max_instances_from_supply``, once per distinct supply."""
    if not supply:
        return 0
    if shared is None:
        return matching.max_instances_from_supply(supply, demands)
    key = (demands, frozenset(supply.items()))
    found = shared.most.get(key)
    if found is None:
        found = shared.most[key] = matching.max_instances_from_supply(supply, demands)
    return found
