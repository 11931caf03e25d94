"""Replay the compute's PCI claim with Nova's own pool logic.

With PCI in Placement off the compute claims devices by the requests' specs
alone (a ``[pci] alias`` spec, or a Neutron port's: physical network,
device type, trust), and with it still so for Neutron-port requests, which
Placement does not map: ``PciDeviceStats.consume_requests`` walks the instance's
``InstancePCIRequest``s in order and takes devices greedily from the pools
``_filter_pools`` keeps (spec, NUMA policy, unrequested PFs / VDPA /
remote-managed devices, live-migratable), in pool order.  The scheduler's
``apply_requests`` is the same walk on the pools alone.  This module runs it
per request (``nova_pools``) on a copy of the host's pools and records which
pools each request drained, so the decision core can judge the devices taken
(``claim_judge.judge_claim``).

Within one scheduling request hosts share the work (``replay_claim``'s
``memo``, a ``request.RequestMemo``): outcomes, single claim steps and spec
matches are remembered by keys that fix everything Nova's pool logic reads
(``_replay_key``, ``_replay_steps``); Nova's code decides each new case.
"""

from __future__ import annotations

from typing import Any, Sequence

from aggregate_pci import matching
from aggregate_pci.scheduler import nova_pools, ports
from aggregate_pci.scheduler.claim_judge import ClaimOutcome, ClaimReplay, ClaimStep
from aggregate_pci.scheduler.nova_pools import (
    NumaCells,
    PciRequest,
    PciStats,
    Pool,
    SpecFilter,
)
from aggregate_pci.scheduler.request import (
    IndexedOutcome,
    ReplayKey,
    RequestMemo,
    SharedRequests,
    Signature,
    StepKey,
)


def replay_claim(
    stats: PciStats | None,
    requests: Sequence[PciRequest],
    numa_cells: NumaCells = None,
    memo: RequestMemo | None = None,
) -> ClaimOutcome:
    """Which pools the claim of ``requests`` takes on a host whose free
    pools are ``stats`` (a ``PciDeviceStats``, left unchanged); the steps
    name the host's own pool dicts.  ``memo`` (one per scheduling request)
    shares spec matches between hosts and, without NUMA cells, whole
    replays between hosts whose pools the claim sees alike (see
    ``_replay_key``)."""
    if stats is None:
        return ClaimOutcome(failed="the host reports no PCI devices")
    pools = list(stats.pools)
    found = None
    if memo is not None and numa_cells is None:
        found = _replay_key(stats, pools, requests, memo)
    if found is None:
        return _replay(stats, pools, requests, numa_cells, memo)
    assert memo is not None
    key, keep, sigs, shared = found
    hit = memo.replays.get(key)
    if hit is None:
        outcome = _replay_steps(stats, pools, keep, sigs, requests, shared, memo)
        hit = memo.replays[key] = _indexed(outcome, pools, keep, memo)
    steps, failed, outcome_key = hit
    return ClaimOutcome(
        tuple(ClaimStep(name, pools[keep[i]], took) for name, i, took in steps),
        failed=failed,
        key=outcome_key,
    )


def _replay(
    stats: PciStats,
    pools: list[Pool],
    requests: Sequence[PciRequest],
    numa_cells: NumaCells,
    memo: RequestMemo | None,
) -> ClaimOutcome:
    """The replay itself, with Nova's pool logic on a copy of the pools."""
    sim = nova_pools.copy_stats(stats)
    if memo is not None:
        _share_spec_matches(sim, memo)
    # The copy's pool at position i is the host's pools[i].
    own = {id(copy_): pool for copy_, pool in zip(sim.pools, pools, strict=True)}
    steps: list[ClaimStep] = []
    for request in requests:
        before = [(pool, pool["count"]) for pool in sim.pools]
        if not nova_pools.apply_one(sim, request, numa_cells):
            return ClaimOutcome(tuple(steps), failed=nova_pools.claim_failure(request))
        left = {id(pool) for pool in sim.pools}
        name = ports.nova_request_name(request)
        for pool, count in before:
            took = count - (pool["count"] if id(pool) in left else 0)
            if took > 0:
                steps.append(ClaimStep(name, own[id(pool)], took))
    return ClaimOutcome(tuple(steps), failed=None)


def _share_spec_matches(sim: PciStats, memo: RequestMemo) -> None:
    """Make the copy ``sim`` remember Nova's per-pool spec match
    (``_filter_pools_for_spec``) in ``memo`` by (request spec, pool without
    its count): hosts share device models and slots, so most pools are
    matched once per request.  Left as is without that method or with an
    unhashable pool value (e.g. a device list)."""
    nova_filter = nova_pools.spec_filter(sim)
    if nova_filter is None:
        return
    try:
        sigs = {id(p): matching.pool_signature(p) for p in sim.pools}
    except TypeError:
        return

    def filter_for_spec(pools: list[Pool], request: PciRequest) -> list[Pool]:
        return [
            pool
            for pool in pools
            if _spec_match(nova_filter, sim, memo, request, pool, sigs[id(pool)])
        ]

    nova_pools.use_spec_filter(sim, filter_for_spec)


def _replay_key(
    stats: PciStats,
    pools: list[Pool],
    requests: Sequence[PciRequest],
    memo: RequestMemo,
) -> tuple[ReplayKey, tuple[int, ...], list[Signature], SharedRequests] | None:
    """The key under which this host's replay outcome is shared within one
    scheduling request, the positions of the pools it covers, every pool's
    signature and the requests as the shared replay reads them; None when
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
    keep: list[int] = []
    sigs: list[Signature] = []
    parts: list[tuple[Signature, int]] = []
    try:
        for i, pool in enumerate(pools):
            sig = signature(pool)
            sigs.append(sig)
            count = pool["count"]
            cap = caps.get(sig)
            if cap is None:
                cap = caps[sig] = sum(
                    count
                    for request, count in zip(requests, shared.counts, strict=True)
                    if _spec_match(shared.spec_filter, stats, memo, request, pool, sig)
                )
            if not cap:
                continue
            if not isinstance(count, int) or count < 1:
                return None
            keep.append(i)
            parts.append((sig, count if count < cap else cap))
    except (TypeError, KeyError):  # an unhashable value, no count
        return None
    if len(set(sigs)) != len(sigs):
        return None
    return (type(stats), shared.ids, tuple(parts)), tuple(keep), sigs, shared


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


def _replay_steps(
    stats: PciStats,
    pools: list[Pool],
    keep: tuple[int, ...],
    sigs: list[Signature],
    requests: Sequence[PciRequest],
    shared: SharedRequests,
    memo: RequestMemo,
) -> ClaimOutcome:
    """The replay, one claim step at a time, each step shared between
    hosts (and between replays) by its request and the pools its spec
    matches, each by signature and by ``min(count, request.count)``.

    Nova's step (``_apply_request`` without Placement ``rp_uuids``) keeps
    the pools ``_filter_pools`` returns, which starts with the spec match
    and then reads only those pools' keys and count sums compared with
    ``request.count``, and takes ``min(need, count)`` from each in turn,
    need <= request.count: both are the same for the capped counts.  A new
    case runs Nova's ``apply_requests`` on copies of those pools (at their
    real counts); the host's counts then drop by what it took, and a pool
    left with none leaves the list, as in ``_decrease_pool_count``.
    ``keep``: the pools some request's spec matches, in order, signatures
    distinct and counts positive (``_replay_key``)."""
    nova_filter = shared.spec_filter
    counts = {i: pools[i]["count"] for i in keep}
    order = list(keep)
    steps: list[ClaimStep] = []
    for request, want, name in zip(
        requests, shared.counts, shared.names, strict=True
    ):
        subset = [
            i
            for i in order
            if _spec_match(nova_filter, stats, memo, request, pools[i], sigs[i])
        ]
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


def _spec_match(
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


def _indexed(
    outcome: ClaimOutcome,
    pools: list[Pool],
    keep: tuple[int, ...],
    memo: RequestMemo,
) -> IndexedOutcome:
    """``outcome`` with each step's pool given by its position in ``keep``
    (the pools a shared replay covers), to rebuild it on another host, and
    its ``ClaimOutcome.key``: the steps by name, pool signature and count,
    and the failure, all ``claim_judge.judge_claim`` reads."""
    where = {id(pools[i]): k for k, i in enumerate(keep)}
    steps = tuple(
        (step.name, where[id(step.pool)], step.count) for step in outcome.steps
    )
    key = (
        "steps",
        tuple(
            (
                step.name,
                matching.cached_signature(step.pool, memo.signatures),
                step.count,
            )
            for step in outcome.steps
        ),
        outcome.failed,
    )
    return steps, outcome.failed, key


def claim_replayer(
    host_state: Any,
    spec_obj: Any,
    memo: RequestMemo | None = None,
    requests: Sequence[PciRequest] | None = None,
) -> ClaimReplay:
    """The host's ``ClaimReplay`` for ``decide_host(claim=...)``; ``memo``:
    one per scheduling request (see ``replay_claim``).  ``host_state``,
    ``spec_obj``: Nova's HostState and RequestSpec (Any: see
    ``nova_pools.instance_numa_cells``).  ``requests``: the PCI requests
    the compute will claim (``compute_claim``), by default the
    RequestSpec's."""

    def run(*, ports_only: bool = False) -> ClaimOutcome:
        claimed: list[PciRequest] = list(
            spec_obj.pci_requests.requests if requests is None else requests
        )
        try:
            cells = nova_pools.instance_numa_cells(host_state, spec_obj, claimed)
        except LookupError as exc:
            return ClaimOutcome(failed=str(exc))
        if ports_only:
            # Neutron-port requests have no alias name (Nova builds them
            # from the ports); the NUMA fit above is the whole instance's.
            claimed = [r for r in claimed if not getattr(r, "alias_name", None)]
        return replay_claim(host_state.pci_stats, claimed, cells, memo)

    return run
