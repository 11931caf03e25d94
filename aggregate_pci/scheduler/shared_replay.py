"""The claim replay shared between hosts within one scheduling request.

``claim.replay_claim`` asks ``replay_key`` under which key a host's replay
is shared (outcomes, single claim steps and spec matches are remembered in
the request's ``request.RequestMemo`` by keys that fix everything Nova's
pool logic reads); a new case runs ``replay_steps``, where Nova's code
decides each new claim step (``nova_pools.nova_step``).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from aggregate_pci.scheduler import nova_pools, ports
from aggregate_pci.scheduler.claim_judge import ClaimOutcome, ClaimStep
from aggregate_pci.scheduler.nova_pools import PciRequest, PciStats, Pool, SpecFilter
from aggregate_pci.scheduler.request import (
    IndexedOutcome,
    ReplayKey,
    RequestMemo,
    SharedRequests,
    Signature,
    StepKey,
)


class Keyed(NamedTuple):
    """A host's replay as shared between hosts (``replay_key``)."""

    key: ReplayKey
    #: Positions of the pools it covers (some request's spec matches).
    keep: tuple[int, ...]
    #: Per pool in ``keep``, the bitmask of the requests whose spec matches it.
    marks: tuple[int, ...]
    #: Every pool's signature.
    sigs: list[Signature]
    shared: SharedRequests


def replay_key(
    stats: PciStats,
    pools: list[Pool],
    requests: Sequence[PciRequest],
    memo: RequestMemo,
) -> Keyed | None:
    """The key under which this host's replay outcome is shared within one
    scheduling request, with what the shared replay reads; None when
    the outcome is not shared (then the plain replay runs: pools alike but
    for their count, a count that is not a positive int, or requests
    ``_shared_requests`` refuses).

    Exact without NUMA cells, given Nova's pool logic as it is
    (``_filter_pools`` and ``_apply_request``):

    * a pool no request's spec matches (Nova's own
      ``_filter_pools_for_spec``) is dropped by every step and never
      consumed, so it is left out of the key;
    * the other pools enter in their order, each by every key except
      ``count`` (pools are otherwise distinct, else nothing is shared), and
      by ``min(count, D)``, D the devices the requests whose spec matches
      that pool ask for together (``SharedRequests.caps``): only those
      requests' steps see the pool (the spec match comes first), and they
      read its count only in sums compared with a request's count and in
      taking ``min(need, count)`` from it.  A pool with at least D devices
      still holds, before each of those steps, at least what that step and
      the later ones ask for (each asks for at least one device), whichever
      of the two counts it starts with: every comparison and every take
      comes out the same, and it can be emptied only by their last devices,
      after which no step sees it.
    """
    shared = _shared_requests(stats, requests, memo)
    if shared is None:
        return None
    caps = shared.caps
    signature = memo.signatures.get
    known = memo.signatures.known()
    keep: list[int] = []
    marks: list[int] = []
    sigs: list[Signature] = []
    parts: list[tuple[Signature, int]] = []
    try:
        for i, pool in enumerate(pools):
            sig = known.get(id(pool)) or signature(pool)
            sigs.append(sig)
            count = pool["count"]
            hit = caps.get(sig)
            if hit is None:
                hit = caps[sig] = _cap(stats, requests, shared, memo, pool, sig)
            cap, mark = hit
            if not cap:
                continue
            if not isinstance(count, int) or count < 1:
                return None
            keep.append(i)
            marks.append(mark)
            parts.append((sig, count if count < cap else cap))
    except (TypeError, KeyError):  # an unhashable value, no count
        return None
    if len(set(sigs)) != len(sigs):
        return None
    key = (type(stats), shared.ids, tuple(parts))
    return Keyed(key, tuple(keep), tuple(marks), sigs, shared)


def _cap(
    stats: PciStats,
    requests: Sequence[PciRequest],
    shared: SharedRequests,
    memo: RequestMemo,
    pool: Pool,
    sig: Signature,
) -> tuple[int, int]:
    """``SharedRequests.caps`` of one pool signature."""
    cap = mark = 0
    for k, (request, count) in enumerate(zip(requests, shared.counts, strict=True)):
        if spec_match(shared.spec_filter, stats, memo, request, pool, sig):
            cap += count
            mark |= 1 << k
    return cap, mark


def _shared_requests(
    stats: PciStats, requests: Sequence[PciRequest], memo: RequestMemo
) -> SharedRequests | None:
    """The instance's requests as the shared replay reads them, built once
    per scheduling request; None (the plain replay) without Nova's per-pool
    spec match, with a request naming Placement ``rp_uuids`` in its spec
    (that path reads every pool) or a count that is not a positive int."""
    ids = tuple(map(id, requests))
    if ids in memo.requests:
        return memo.requests[ids]
    found = None
    nova_filter = nova_pools.spec_filter(stats)
    if nova_filter is not None and nova_pools.rp_free(stats, list(requests)):
        counts = tuple(getattr(r, "count", None) for r in requests)
        if all(isinstance(c, int) and c >= 1 for c in counts):
            found = SharedRequests(
                ids,
                nova_filter,
                counts,  # type: ignore[arg-type]  # checked above
                tuple(ports.nova_request_name(r) for r in requests),
            )
    memo.requests[ids] = found
    return found


def replay_steps(
    stats: PciStats,
    pools: list[Pool],
    found: Keyed,
    requests: Sequence[PciRequest],
    memo: RequestMemo,
) -> ClaimOutcome:
    """The replay, one claim step at a time, each step shared between
    hosts (and between replays) by its request and the pools it reads
    (``_step_pools``), each by signature and by ``min(count,
    request.count)``.

    Nova's step (``_apply_request`` without Placement ``rp_uuids``) keeps
    the pools ``_filter_pools`` returns, which starts with the spec match
    and then reads only those pools' keys and count sums compared with
    ``request.count``, and takes ``min(need, count)`` from each in turn,
    need <= request.count: both are the same for the capped counts.  A new
    case runs Nova's ``apply_requests`` on copies of those pools (at their
    real counts); the host's counts then drop by what it took, and a pool
    left with none leaves the list, as in ``_decrease_pool_count``.
    ``found.keep``: the pools some request's spec matches, in order,
    signatures distinct and counts positive (``replay_key``)."""
    shared, sigs = found.shared, found.sigs
    counts = {i: pools[i]["count"] for i in found.keep}
    marks = dict(zip(found.keep, found.marks, strict=True))
    order = list(found.keep)
    steps: list[ClaimStep] = []
    for bit, (request, want, name) in enumerate(
        zip(requests, shared.counts, shared.names, strict=True)
    ):
        subset = _step_pools(stats, pools, found, counts, order, marks, bit, request)
        key: StepKey = (
            type(stats),
            id(request),
            tuple((sigs[i], min(counts[i], want)) for i in subset),
        )
        taken = memo.steps.get(key)
        if taken is None:
            taken = memo.steps[key] = nova_pools.nova_step(
                stats, [dict(pools[i], count=counts[i]) for i in subset], request
            )
        if isinstance(taken, str):  # nova_pools.STEP_FAILED
            return ClaimOutcome(tuple(steps), failed=nova_pools.claim_failure(request))
        for k, took in taken:
            i = subset[k]
            counts[i] -= took
            if not counts[i]:
                order.remove(i)
            steps.append(ClaimStep(name, pools[i], took))
    return ClaimOutcome(tuple(steps), failed=None)


def _step_pools(
    stats: PciStats,
    pools: list[Pool],
    found: Keyed,
    counts: dict[int, int],
    order: list[int],
    marks: dict[int, int],
    bit: int,
    request: PciRequest,
) -> list[int]:
    """The pools (positions, in order) Nova's claim step for request
    ``bit`` reads: those its spec matches, up to the first ones Nova keeps
    that hold its count together.

    Without NUMA cells and Placement ``rp_uuids`` each of
    ``_filter_pools``' filters after the spec match keeps or drops a pool
    by that pool and the request alone (unrequested PFs, vDPA and
    remote-managed devices, live-migratable: Nova 2024.1 to 34), then
    ``_filter_pools`` fails only where the pools kept hold fewer devices
    than asked, and ``_apply_request`` takes from the pools kept, in order,
    until the request is served: the pools after the first kept ones that
    hold its count are never read.  Whether Nova keeps a pool is asked of
    Nova, on that pool alone holding exactly the request's count (kept:
    the step takes them; dropped: it fails), once per request and pool
    signature (``SharedRequests.kept``)."""
    shared, sigs = found.shared, found.sigs
    want = shared.counts[bit]
    out: list[int] = []
    have = 0
    for i in order:
        if not marks[i] >> bit & 1:
            continue
        out.append(i)
        kept = shared.kept.get((bit, sigs[i]))
        if kept is None:
            probe = [dict(pools[i], count=want)]
            kept = shared.kept[bit, sigs[i]] = not isinstance(
                nova_pools.nova_step(stats, probe, request), str
            )
        if kept:
            have += counts[i]
            if have >= want:
                break
    return out


def spec_match(
    nova_filter: SpecFilter,
    stats: PciStats,
    memo: RequestMemo,
    request: PciRequest,
    pool: Pool,
    sig: Signature,
) -> bool:
    """Nova's ``_filter_pools_for_spec`` on one pool, remembered by
    (request, pool without its count)."""
    key = (id(request), sig)
    hit = memo.spec_matches.get(key)
    if hit is None:
        hit = memo.spec_matches[key] = nova_pools.spec_match(
            nova_filter, stats, request, pool
        )
    return hit


def indexed(outcome: ClaimOutcome, pools: list[Pool], found: Keyed) -> IndexedOutcome:
    """``outcome`` with each step's pool given by its position in ``keep``
    (the pools a shared replay covers), to rebuild it on another host, and
    its ``ClaimOutcome.key``: the steps by name, pool signature and count,
    and the failure, all ``claim_judge.judge_claim`` reads."""
    where = {id(pools[i]): k for k, i in enumerate(found.keep)}
    steps = tuple(
        (step.name, where[id(step.pool)], step.count) for step in outcome.steps
    )
    sigs = [found.sigs[found.keep[k]] for _, k, _ in steps]
    key = (
        "steps",
        tuple(
            (name, sig, took) for (name, _, took), sig in zip(steps, sigs, strict=True)
        ),
        outcome.failed,
    )
    return steps, outcome.failed, key
