"""The filter's decision on one host: ``decide_host``, from the request's
plan (``request``), the host's definitions (``host_view``), its free pools,
Placement's allocation candidates and the compute's claim (``claim_judge``).

Pure: duck-typed objects (aggregates with ``.metadata``, pools as dicts),
no Nova import, so it is unit-testable and shared by every caller that must
decide as the filter does.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci import matching
from aggregate_pci.scheduler.claim_judge import (
    ClaimOutcome,
    ClaimReplay,
    describe_pool,
    judge_claim,
    needs_claim_check,
)
from aggregate_pci.scheduler.host_view import DefinitionCache, HostView, host_view
from aggregate_pci.scheduler.request import RequestMemo, RequestPlan, port_indices


def explain(
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    masks: dict[Any, int] | None = None,
    signatures: matching.SignatureCache | None = None,
    fits: dict[tuple[tuple[int, int], ...], str | None] | None = None,
) -> str | None:
    """None if the plan fits the pools, else why not (one line).
    ``masks``, ``signatures``: see ``matching.group_supply``; ``fits``
    (one per plan) remembers the answer by the grouped supply."""
    supply = matching.group_supply(pools, preds, masks, signatures)
    if fits is None:
        return _explain_supply(supply, plan)
    key = tuple(supply.items())
    if key not in fits:
        fits[key] = _explain_supply(supply, plan)
    return fits[key]


def _explain_supply(supply: dict[int, int], plan: RequestPlan) -> str | None:
    """``explain`` on the free devices grouped by predicate mask."""
    demands = [r.count for r in plan.requests]
    if len(demands) <= matching.HALL_LIMIT:
        bad = matching.hall_violation(supply, demands)
        if bad is None:
            return None
        subset, have, need = bad
        names = [r.name for i, r in enumerate(plan.requests) if subset >> i & 1]
        which = (
            "PCI flavor %r" % names[0]
            if len(names) == 1
            else "PCI flavors %s together" % "+".join(names)
        )
        return "%s could not be served: %d free device(s) matched, %d asked for" % (
            which,
            have,
            need,
        )
    if matching.supply_feasible(supply, demands):
        return None
    return "PCI flavors %s could not be served together" % "+".join(
        r.name for r in plan.requests
    )


def placement_maps_plan(
    candidates: Sequence[Mapping[str, Any]] | None, plan: RequestPlan
) -> bool:
    """True if any allocation candidate maps a managed request to resource
    providers (PCI in Placement on); otherwise candidates need no pruning."""
    ids = tuple(rid for r in plan.requests for rid in r.request_ids)
    if not candidates or not ids:
        return False
    for candidate in candidates:
        for group in candidate.get("mappings") or ():
            if group.startswith(ids):
                return True
    return False


def candidate_fits(
    candidate: Mapping[str, Any],
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
) -> bool:
    """With PCI in Placement: do the resource providers this allocation
    candidate gives each managed request hold only devices that match the
    host's definition of that flavor?  Requests without a mapping pass."""
    by_rp: dict[str, list[Mapping[str, Any]]] = {}
    for pool in pools:
        rp = pool.get("rp_uuid")
        if rp is not None:
            by_rp.setdefault(rp, []).append(pool)
    mappings = candidate.get("mappings") or {}
    for req, pred in zip(plan.requests, preds, strict=True):
        for request_id in req.request_ids:
            for group, rps in mappings.items():
                if not group.startswith(request_id):
                    continue
                for rp in rps:
                    if not any(pred(p) for p in by_rp.get(rp, ())):
                        return False
    return True


def placement_devices(
    candidate: Mapping[str, Any], ids: tuple[str, ...]
) -> collections.Counter[str]:
    """The resource providers an allocation candidate gives the PCI request
    groups named after the request ids ``ids`` (Nova names them
    ``REQUEST_ID-N``, one device each), each counted once per device."""
    out: collections.Counter[str] = collections.Counter()
    for group, rps in (candidate.get("mappings") or {}).items():
        if group.startswith(ids):
            out.update(rps)
    return out


def claimed_devices(outcome: ClaimOutcome) -> collections.Counter[str] | None:
    """The resource providers of the devices a claim takes for flavor-alias
    requests, each counted once per device (Neutron-port devices are not in
    Placement); None if such a device has no provider."""
    out: collections.Counter[str] = collections.Counter()
    for step in outcome.steps:
        if step.name is None or step.name.startswith("port:"):
            continue
        rp = step.pool.get("rp_uuid")
        if rp is None:
            return None
        out[str(rp)] += step.count
    return out


def _maps_ids(
    candidates: Sequence[Mapping[str, Any]] | None, ids: tuple[str, ...]
) -> bool:
    """True if any candidate maps a request group named after ``ids``."""
    return bool(ids) and any(
        group.startswith(ids)
        for candidate in candidates or ()
        for group in candidate.get("mappings") or ()
    )


def decide_host(
    aggregates: Iterable[Any],
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    cache: DefinitionCache,
    *,
    candidates: Sequence[Mapping[str, Any]] | None = None,
    prune: Callable[[Callable[[Mapping[str, Any]], bool]], int] | None = None,
    claim: ClaimReplay | None = None,
    view: HostView | str | None = None,
    memo: RequestMemo | None = None,
    move_claim_ids: tuple[str, ...] | None = None,
) -> str | None:
    """Decide one host: None if it serves the plan, else why not (one line).

    The one decision both the filter and offline callers use, from plain
    inputs: the host's aggregates and free pools; with PCI in Placement,
    its allocation ``candidates`` (``prune(fits)`` keeps those for which
    ``fits(candidate)`` holds and returns how many remain; without it they
    are only counted); ``claim()`` replays the compute's claim (None skips
    that check): without Placement's mapping, when a request's definition
    on this host is narrower than what the compute claims by (its alias
    spec, or a Neutron port's spec); with it, for the Neutron-port
    requests alone, which Placement does not map.

    ``memo``: one per scheduling request (the same ``plan``), in which
    hosts whose definitions compile to the same predicates share which
    predicates each pool matches (by the predicate objects: a plan's
    ``predicate_for`` must return one object per distinct predicate, as
    ``ports`` does, and no predicate may read ``count`` or ``devices``) and
    ``judge_claim``'s verdict on claim outcomes with the same ``key``.

    ``move_claim_ids``: with PCI in Placement, where the compute's claim
    will not follow Placement's allocation (a move claim: cold migration,
    resize, evacuation), the request ids Placement's PCI request groups are
    named after.  The claim is then replayed (all requests, in Nova's
    order) and judged as without Placement, and the candidates are pruned
    to those naming exactly the devices it takes, so that Placement and
    the cell DB agree; the host is refused where none does.
    """
    if plan.reject_all:
        return (
            "PCI flavor %r is not defined on any aggregate "
            "([aggregate_pci] reject_unmanaged_requests)" % plan.reject_all
        )
    if view is None:
        view = host_view(aggregates, plan, cache)
    if isinstance(view, str):
        return (
            "PCI flavor %r could not be served: the host is in no aggregate "
            "with a valid definition of it" % view
        )
    preds = view.preds
    masks = signatures = answers = None
    if memo is not None:
        # Every predicate reads only a pool's signature (a Neutron-port
        # one too, built once per set of match objects: ports._builder).
        masks = memo.masks.setdefault(preds, {})
        signatures = memo.signatures
        answers = memo.fits
    why = explain(pools, plan, preds, masks, signatures, answers)
    if why is not None:
        return why
    if (
        move_claim_ids is not None
        and claim is not None
        and _maps_ids(candidates, move_claim_ids)
    ):
        return _move_claim(
            claim(), plan, preds, memo, candidates, prune, move_claim_ids
        )
    if placement_maps_plan(candidates, plan):

        def fits(candidate: Mapping[str, Any]) -> bool:
            return candidate_fits(candidate, pools, plan, preds)

        kept = prune(fits) if prune is not None else sum(map(fits, candidates or ()))
        if not kept:
            return (
                "no Placement allocation candidate maps the PCI flavor "
                "requests to matching devices"
            )
        ports = port_indices(plan)
        if claim is None or not ports:
            return None
        # Devices a port may take carry a physical_network tag, which
        # Nova keeps out of Placement: the aliases' devices (mapped to
        # their providers) are others, so the ports' claim is replayed
        # alone.
        return _judged(claim(ports_only=True), plan, preds, memo, ports)
    if claim is not None and needs_claim_check(plan, view, cache):
        return _judged(claim(), plan, preds, memo, None)
    return None


def _move_claim(
    outcome: ClaimOutcome,
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    memo: RequestMemo | None,
    candidates: Sequence[Mapping[str, Any]] | None,
    prune: Callable[[Callable[[Mapping[str, Any]], bool]], int] | None,
    ids: tuple[str, ...],
) -> str | None:
    """``decide_host`` for a move claim with PCI in Placement: judge the
    devices the claim takes, then keep the candidates naming exactly them."""
    why = _judged(outcome, plan, preds, memo, None)
    if why is not None:
        return why
    taken = claimed_devices(outcome)

    def exact(candidate: Mapping[str, Any]) -> bool:
        return taken is not None and placement_devices(candidate, ids) == taken

    kept = prune(exact) if prune is not None else sum(map(exact, candidates or ()))
    if kept:
        return None
    devices = ", ".join(
        describe_pool(s.pool)
        for s in outcome.steps
        if s.name is not None and not s.name.startswith("port:")
    )
    return (
        "no Placement allocation candidate names the devices the compute's "
        "move claim would take (%s): Nova's move claim takes them in pool "
        "order, not as Placement allocates" % (devices or "none")
    )


def _judged(
    outcome: ClaimOutcome,
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    memo: RequestMemo | None,
    judged: Sequence[int] | None,
) -> str | None:
    """``judge_claim``, shared between hosts whose outcomes have one key."""
    if memo is None or outcome.key is None:
        return judge_claim(outcome, plan, preds, judged)
    # judge_claim reads the steps' names, counts and pools but for their
    # count: all fixed by the outcome's key.
    key = (outcome.key, tuple(preds), None if judged is None else tuple(judged))
    if key not in memo.verdicts:
        memo.verdicts[key] = judge_claim(outcome, plan, preds, judged)
    return memo.verdicts[key]
