"""How many more instances of a request fit, per host and in total.

``capacity --fit`` and the exporter's fit metrics: exact counts over each
host's free devices, with the hosts grouped as ``report.capacity`` groups
them (``report.group_hosts``).  Pure: records as in ``report``, pools
as dicts.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from aggregate_pci import matching
from aggregate_pci.admin.capacity.report import NOT_SIGNATURE, group_hosts
from aggregate_pci.admin.interned import ByIdentity


def fit(
    records: Sequence[Any],
    host_pools: Mapping[str, Sequence[Mapping[str, Any]]],
    request: Mapping[str, int],
) -> tuple[dict[str, int], int]:
    """How many more instances asking ``request`` ({flavor: count}) fit per
    host (hosts defining every requested flavor) and in total, exactly."""
    return fit_many(records, host_pools, {"": request})[""]


def fit_many(
    records: Sequence[Any],
    host_pools: Mapping[str, Sequence[Mapping[str, Any]]],
    requests: Mapping[str, Mapping[str, int]],
) -> dict[str, tuple[dict[str, int], int]]:
    """``fit`` for each of ``requests`` ({label: {flavor: count}}), reading
    the pools once: per host, the free devices grouped by the effective
    definitions they match (each distinct pool signature evaluated once),
    then ``matching.max_instances_from_supply`` per request (the tests
    check it against a host-by-host reference, ``tests/fixtures/host_by_host``)."""
    _, _, defs, host_group, groups = group_hosts(records)
    preds = [matching.compile_definition(d) for d in defs]
    wanted = {
        label: {n: c for n, c in request.items() if c}
        for label, request in requests.items()
    }
    # Per membership: (label, definition ids, demands) of the requests its
    # hosts can serve (every requested flavor defined).
    plans: dict[tuple[int, ...], list[tuple[str, tuple[int, ...], tuple[int, ...]]]]
    plans = {}
    for key, (eff_ids, _) in groups.items():
        plan = plans[key] = []
        for label, want in wanted.items():
            if all(n in eff_ids for n in want):
                if not want:
                    raise ValueError("the request asks for no device")
                names = sorted(want)
                plan.append(
                    (
                        label,
                        tuple(eff_ids[n] for n in names),
                        tuple(want[n] for n in names),
                    )
                )
    per_host: dict[str, dict[str, int]] = {label: {} for label in requests}
    sig_masks: dict[tuple[tuple[str, Any], ...], int] = {}
    # a pool object (readers share equal pools): (its mask, free devices)
    by_id = ByIdentity()
    solved: dict[tuple[Any, ...], int] = {}
    for host, key in sorted(host_group.items()):
        plan = plans[key]
        if not plan:
            continue
        supply = _host_supply(host_pools.get(host, ()), preds, sig_masks, by_id)
        free: dict[int, int] = {}
        for label, def_ids, demands in plan:
            if len(def_ids) == 1:
                # One flavor: every matching free device serves it.
                d = def_ids[0]
                if d not in free:
                    free[d] = sum(c for m, c in supply.items() if m >> d & 1)
                per_host[label][host] = free[d] // demands[0]
            else:
                local = _local_supply(supply, def_ids)
                memo = (demands, tuple(sorted(local.items())))
                n = solved.get(memo)
                if n is None:
                    n = solved[memo] = matching.max_instances_from_supply(
                        local, demands
                    )
                per_host[label][host] = n
    return {label: (hosts, sum(hosts.values())) for label, hosts in per_host.items()}


def _host_supply(
    pools: Iterable[Mapping[str, Any]],
    preds: Sequence[matching.Predicate],
    sig_masks: dict[tuple[tuple[str, Any], ...], int],
    by_id: ByIdentity,
) -> dict[int, int]:
    """Free devices of one host by the bitmask of every definition they
    match (``matching.group_supply`` over all definitions at once)."""
    supply: dict[int, int] = {}
    for pool in pools:
        hit = by_id.get(pool)
        if hit is None:
            count = matching.pool_count(pool)
            mask: int | None = 0
            if count:
                sig = tuple([(k, v) for k, v in pool.items() if k not in NOT_SIGNATURE])
                mask = sig_masks.get(sig)
                if mask is None:
                    mask = sum(1 << d for d, pred in enumerate(preds) if pred(pool))
                    sig_masks[sig] = mask
            hit = by_id.put(pool, (mask, count))
        mask, count = hit
        if mask and count:
            supply[mask] = supply.get(mask, 0) + count
    return supply


def _local_supply(supply: Mapping[int, int], def_ids: Sequence[int]) -> dict[int, int]:
    """A host's supply re-keyed to bit i for ``def_ids[i]`` (as
    ``matching.group_supply`` over those definitions' predicates)."""
    local: dict[int, int] = {}
    for mask, count in supply.items():
        m = 0
        for i, d in enumerate(def_ids):
            if mask >> d & 1:
                m |= 1 << i
        if m:
            local[m] = local.get(m, 0) + count
    return local
