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
``memo``, a ``request.RequestMemo``): see ``shared_replay``.
"""

from __future__ import annotations

from typing import Any, Sequence

from aggregate_pci import matching
from aggregate_pci.scheduler import nova_pools, ports, shared_replay
from aggregate_pci.scheduler.claim_judge import ClaimOutcome, ClaimReplay, ClaimStep
from aggregate_pci.scheduler.nova_pools import NumaCells, PciRequest, PciStats, Pool
from aggregate_pci.scheduler.request import RequestMemo


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
    ``shared_replay.replay_key``)."""
    if stats is None:
        return ClaimOutcome(failed="the host reports no PCI devices")
    pools = list(stats.pools)
    found = None
    if memo is not None and numa_cells is None:
        found = shared_replay.replay_key(stats, pools, requests, memo)
    if found is None:
        return _replay(stats, pools, requests, numa_cells, memo)
    assert memo is not None
    hit = memo.replays.get(found.key)
    if hit is None:
        outcome = shared_replay.replay_steps(stats, pools, found, requests, memo)
        hit = memo.replays[found.key] = shared_replay.indexed(outcome, pools, found)
    keep = found.keep
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
            if shared_replay.spec_match(
                nova_filter, sim, memo, request, pool, sigs[id(pool)]
            )
        ]

    nova_pools.use_spec_filter(sim, filter_for_spec)


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
