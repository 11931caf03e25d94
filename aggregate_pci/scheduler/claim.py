"""Replay the compute's PCI claim with Nova's own pool logic.

With PCI in Placement off the compute claims devices by the requests' specs
alone (a ``[pci] alias`` spec, or a Neutron port's: physical network,
device type, trust), and with it still so for Neutron-port requests, which
Placement does not map: ``PciDeviceStats.consume_requests`` walks the instance's
``InstancePCIRequest``s in order and takes devices greedily from the pools
``_filter_pools`` keeps (spec, NUMA policy, unrequested PFs / VDPA /
remote-managed devices, live-migratable), in pool order.  The scheduler's
``apply_requests`` is the same walk on the pools alone.  This module runs it
per request on a copy of the host's pools and records which pools each
request drained, so the decision core can judge the devices taken
(``decision.judge_claim``).  Nova is imported here, never in the core.

Within one scheduling request hosts share the work (``replay_claim``'s
``memo``): outcomes, single claim steps and spec matches are remembered by
keys that fix everything Nova's pool logic reads (``_replay_key``,
``_replay_steps``); Nova's code decides each new case.

Signatures are detected by capability (``inspect``), not by version: Nova
2023.2+ has ``apply_requests(requests, provider_mapping, numa_cells=None)``,
older releases ``apply_requests(requests, numa_cells=None)``.
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any, Callable, Sequence

from aggregate_pci import matching
from aggregate_pci.scheduler import decision, ports


@functools.lru_cache(maxsize=8)
def _params(fn: Any) -> frozenset[str]:
    """Parameter names of ``fn`` (an unbound method or a function)."""
    return frozenset(inspect.signature(fn).parameters)


def _copy_stats(stats: Any, memo: dict[Any, Any] | None) -> Any:
    """A copy of ``stats`` whose pool list and pool dicts are its own (the
    pool logic changes only ``count`` and list membership; the NUMA topology
    and device filter are shared read-only, unlike Nova's deep copy).

    With ``memo``, Nova's per-pool spec match (``_filter_pools_for_spec``)
    is remembered by (request spec, pool without its count): hosts share
    device models and slots, so most pools are matched once per request.
    """
    sim = copy.copy(stats)
    sim.pools = [dict(pool) for pool in stats.pools]
    nova_filter = getattr(type(stats), "_filter_pools_for_spec", None)
    if memo is None or nova_filter is None:
        return sim
    try:
        sigs = {id(p): matching.pool_signature(p) for p in sim.pools}
    except TypeError:  # an unhashable value (e.g. a device list)
        return sim
    sim._filter_pools_for_spec = functools.partial(
        _memo_filter_for_spec, nova_filter, sim, memo, sigs
    )
    return sim


def _memo_filter_for_spec(
    nova_filter: Callable[..., Any],
    sim: Any,
    memo: dict[Any, Any],
    sigs: dict[int, Any],
    pools: list[Any],
    request: Any,
) -> list[Any]:
    spec_key = id(request)
    out = []
    for pool in pools:
        key = (spec_key, sigs[id(pool)])
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = bool(nova_filter(sim, [pool], request))
        if hit:
            out.append(pool)
    return out


def _apply_one(sim: Any, request: Any, numa_cells: Any) -> None:
    params = _params(type(sim).apply_requests)
    kwargs: dict[str, Any] = {}
    if "provider_mapping" in params:
        # None: no Placement mapping, as the compute's consume_requests
        # (the request's own ``rp_uuids`` spec key, if any, still applies).
        kwargs["provider_mapping"] = None
    if "numa_cells" in params:
        kwargs["numa_cells"] = numa_cells
    sim.apply_requests([request], **kwargs)


def replay_claim(
    stats: Any,
    requests: Sequence[Any],
    numa_cells: Any = None,
    memo: dict[Any, Any] | None = None,
) -> decision.ClaimOutcome:
    """Which pools the claim of ``requests`` takes on a host whose free
    pools are ``stats`` (a ``PciDeviceStats``, left unchanged); the steps
    name the host's own pool dicts.  ``memo`` (one dict per scheduling
    request) shares spec matches between hosts and, without NUMA cells,
    whole replays between hosts whose pools the claim sees alike (see
    ``_replay_key``)."""
    if stats is None:
        return decision.ClaimOutcome(failed="the host reports no PCI devices")
    pools = list(stats.pools)
    key = None
    if memo is not None and numa_cells is None:
        key = _replay_key(stats, pools, requests, memo)
    if key is not None:
        assert memo is not None
        hit = memo.get(key[0])
        if hit is None:
            outcome = _replay_steps(stats, pools, key[1], key[2], requests, memo)
            hit = memo[key[0]] = _indexed(
                outcome, pools, key[1], memo[decision.SIGNATURES]
            )
        steps, failed, outcome_key = hit
        return decision.ClaimOutcome(
            tuple(
                decision.ClaimStep(name, pools[key[1][i]], took)
                for name, i, took in steps
            ),
            failed=failed,
            key=outcome_key,
        )
    return _replay(stats, pools, requests, numa_cells, memo)


def _replay(
    stats: Any,
    pools: list[Any],
    requests: Sequence[Any],
    numa_cells: Any,
    memo: dict[Any, Any] | None,
) -> decision.ClaimOutcome:
    """The replay itself, with Nova's pool logic on a copy of the pools."""
    from nova import exception

    sim = _copy_stats(stats, memo)
    # The copy's pool at position i is the host's pools[i].
    own = {id(copy_): pool for copy_, pool in zip(sim.pools, pools, strict=True)}
    steps: list[decision.ClaimStep] = []
    for request in requests:
        before = [(pool, pool["count"]) for pool in sim.pools]
        try:
            _apply_one(sim, request, numa_cells)
        except exception.PciDeviceRequestFailed:
            return decision.ClaimOutcome(tuple(steps), failed=_failure(request))
        left = {id(pool) for pool in sim.pools}
        name = request_name(request)
        for pool, count in before:
            took = count - (pool["count"] if id(pool) in left else 0)
            if took > 0:
                steps.append(decision.ClaimStep(name, own[id(pool)], took))
    return decision.ClaimOutcome(tuple(steps), failed=None)


def _replay_key(
    stats: Any, pools: list[Any], requests: Sequence[Any], memo: dict[Any, Any]
) -> tuple[Any, tuple[int, ...], list[Any]] | None:
    """The key under which this host's replay outcome is shared within one
    scheduling request, the positions of the pools it covers and every
    pool's signature; None when the outcome is not shared (then the plain
    replay runs: pools alike but for their count, a count that is not a
    positive int, or a request naming Placement ``rp_uuids`` in its spec,
    whose path reads every pool).

    Exact without NUMA cells, given Nova's pool logic as it is
    (``_filter_pools`` and ``_apply_request``):

    * a pool no request's spec matches (Nova's own
      ``_filter_pools_for_spec``) is dropped by every step and never
      consumed, so it is left out of the key;
    * the other pools enter in their order, each by every key except
      ``count`` (pools are otherwise distinct, else nothing is shared), and
      by ``min(count, D)``, D the devices all requests ask for: the logic
      reads counts only in sums compared with a request's count and in
      taking ``min(need, count)`` from a pool, and a pool with at least D
      devices keeps at least the remaining need of every later request
      whichever of the two counts it starts with (it can be emptied only
      by the last devices of the claim).
    """
    nova_filter = getattr(type(stats), "_filter_pools_for_spec", None)
    if nova_filter is None:
        return None
    req_ids = tuple(map(id, requests))
    if not _rp_free(stats, requests, req_ids, memo):
        return None
    try:
        demand = sum(int(r.count) for r in requests)
        cache = memo.setdefault(decision.SIGNATURES, {})
        sigs = [matching.cached_signature(p, cache) for p in pools]
        counts = [p["count"] for p in pools]
    except (TypeError, KeyError, ValueError):  # unhashable value, no count
        return None
    if len(set(sigs)) != len(sigs):
        return None
    keep: list[int] = []
    parts: list[Any] = []
    # Whether some request's spec matches a pool, by signature.
    relevant_by_sig = memo.setdefault(("relevant", req_ids), {})
    for i, (sig, count) in enumerate(zip(sigs, counts, strict=True)):
        relevant = relevant_by_sig.get(sig)
        if relevant is None:
            relevant = relevant_by_sig[sig] = any(
                _spec_match(nova_filter, stats, memo, r, pools[i], sig)
                for r in requests
            )
        if not relevant:
            continue
        if not isinstance(count, int) or count < 1:
            return None
        keep.append(i)
        parts.append((sig, min(count, demand)))
    return ("replay", type(stats), req_ids, tuple(parts)), tuple(keep), sigs


def _rp_free(
    stats: Any, requests: Sequence[Any], req_ids: tuple[int, ...], memo: dict[Any, Any]
) -> bool:
    """True if Nova finds no Placement ``rp_uuids`` for any request
    without a provider mapping (``_get_rp_uuids_for_request``), so each
    claim step takes greedily from the pools its spec keeps."""
    key = ("rp-free", req_ids)
    hit = memo.get(key)
    if hit is None:
        get = getattr(stats, "_get_rp_uuids_for_request", None)
        hit = memo[key] = get is not None and not any(get(None, r) for r in requests)
    return bool(hit)


#: A claim step Nova cannot serve (``_replay_steps``).
_STEP_FAILED = "failed"


def _replay_steps(
    stats: Any,
    pools: list[Any],
    keep: tuple[int, ...],
    sigs: list[Any],
    requests: Sequence[Any],
    memo: dict[Any, Any],
) -> decision.ClaimOutcome:
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
    nova_filter = type(stats)._filter_pools_for_spec
    counts = {i: pools[i]["count"] for i in keep}
    order = list(keep)
    steps: list[decision.ClaimStep] = []
    for request in requests:
        subset = [
            i
            for i in order
            if _spec_match(nova_filter, stats, memo, request, pools[i], sigs[i])
        ]
        want = request.count
        key = (
            "step",
            type(stats),
            id(request),
            tuple((sigs[i], min(counts[i], want)) for i in subset),
        )
        taken: Any = memo.get(key)
        if taken is None:
            taken = memo[key] = _nova_step(
                stats, [dict(pools[i], count=counts[i]) for i in subset], request
            )
        if taken == _STEP_FAILED:
            return decision.ClaimOutcome(tuple(steps), failed=_failure(request))
        name = request_name(request)
        for k, took in taken:
            i = subset[k]
            counts[i] -= took
            if not counts[i]:
                order.remove(i)
            steps.append(decision.ClaimStep(name, pools[i], took))
    return decision.ClaimOutcome(tuple(steps), failed=None)


def _nova_step(
    stats: Any, subset: list[dict[str, Any]], request: Any
) -> tuple[tuple[int, int], ...] | str:
    """Nova's claim step for ``request`` on the pools ``subset`` alone:
    (position in ``subset``, devices taken) per pool it takes from, in
    order, or ``_STEP_FAILED``."""
    from nova import exception

    sim = copy.copy(stats)
    sim.pools = list(subset)
    before = [pool["count"] for pool in subset]
    try:
        _apply_one(sim, request, None)
    except exception.PciDeviceRequestFailed:
        return _STEP_FAILED
    left = {id(pool) for pool in sim.pools}
    out = []
    for k, pool in enumerate(subset):
        took = before[k] - (pool["count"] if id(pool) in left else 0)
        if took > 0:
            out.append((k, took))
    return tuple(out)


def request_name(request: Any) -> str | None:
    """The ``ManagedRequest.name`` a Nova PCI request would have (its
    ``alias_name``, or the port request's name), for ``ClaimStep.name``."""
    alias = getattr(request, "alias_name", None)
    if alias:
        return str(alias)
    spec = ports.port_spec(request)
    return ports.request_name(spec) if spec is not None else None


def _failure(request: Any) -> str:
    """Why the claim fails at ``request`` (``ClaimOutcome.failed``)."""
    return "no %d device(s) left for request %r (%s)" % (
        request.count,
        getattr(request, "alias_name", None) or request.request_id,
        request.spec,
    )


def _spec_match(
    nova_filter: Callable[..., Any],
    stats: Any,
    memo: dict[Any, Any],
    request: Any,
    pool: Any,
    sig: Any,
) -> bool:
    """Nova's ``_filter_pools_for_spec`` on one pool, remembered by (request,
    pool without its count) as ``_memo_filter_for_spec`` does."""
    key = (id(request), sig)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = bool(nova_filter(stats, [pool], request))
    return hit


def _indexed(
    outcome: decision.ClaimOutcome,
    pools: list[Any],
    keep: tuple[int, ...],
    signatures: dict[int, Any],
) -> tuple[tuple[tuple[str | None, int, int], ...], str | None, Any]:
    """``outcome`` with each step's pool given by its position in ``keep``
    (the pools a shared replay covers), to rebuild it on another host, and
    its ``ClaimOutcome.key``: the steps by name, pool signature and count,
    and the failure, all ``decision.judge_claim`` reads."""
    where = {id(pools[i]): k for k, i in enumerate(keep)}
    steps = tuple(
        (step.name, where[id(step.pool)], step.count) for step in outcome.steps
    )
    key = (
        "steps",
        tuple(
            (
                step.name,
                matching.cached_signature(step.pool, signatures),
                step.count,
            )
            for step in outcome.steps
        ),
        outcome.failed,
    )
    return steps, outcome.failed, key


def _field(obj: Any, name: str) -> Any:
    """A Nova object's field, None if unset (unset fields of a RequestSpec
    raise on access instead of lazy-loading)."""
    try:
        if name not in obj:
            return None
    except TypeError:  # not a Nova object
        pass
    return getattr(obj, name, None)


def instance_numa_cells(host_state: Any, spec_obj: Any, requests: Any) -> Any:
    """The instance NUMA cells the claim passes to the pool logic: the fit
    ``NUMATopologyFilter`` and the compute compute (None without a NUMA
    topology).  Raises LookupError if the instance does not fit."""
    requested = _field(spec_obj, "numa_topology")
    host_topology = getattr(host_state, "numa_topology", None)
    if not requested or not host_topology:
        return None
    from nova import objects
    from nova.virt import hardware

    limits = objects.NUMATopologyLimits(
        cpu_allocation_ratio=host_state.cpu_allocation_ratio,
        ram_allocation_ratio=host_state.ram_allocation_ratio,
    )
    network_metadata = _field(spec_obj, "network_metadata")
    if network_metadata:
        limits.network_metadata = network_metadata
    fit = hardware.numa_fit_instance_to_host
    kwargs: dict[str, Any] = {
        "limits": limits,
        "pci_requests": requests,
        "pci_stats": host_state.pci_stats,
    }
    if "provider_mapping" in _params(fit):
        kwargs["provider_mapping"] = None
    # numa_fit_instance_to_host fills in cpu_pinning: work on a clone.
    fitted = fit(host_topology, requested.obj_clone(), **kwargs)
    if fitted is None:
        raise LookupError("the instance's NUMA topology does not fit")
    return fitted.cells


def claim_replayer(
    host_state: Any, spec_obj: Any, memo: dict[Any, Any] | None = None
) -> decision.ClaimReplay:
    """The host's ``decision.ClaimReplay`` for ``decide_host(claim=...)``;
    ``memo``: one dict per scheduling request (see ``replay_claim``)."""

    def run(*, ports_only: bool = False) -> decision.ClaimOutcome:
        requests = list(spec_obj.pci_requests.requests)
        try:
            cells = instance_numa_cells(host_state, spec_obj, requests)
        except LookupError as exc:
            return decision.ClaimOutcome(failed=str(exc))
        if ports_only:
            # Neutron-port requests have no alias name (Nova builds them
            # from the ports); the NUMA fit above is the whole instance's.
            requests = [r for r in requests if not getattr(r, "alias_name", None)]
        return replay_claim(host_state.pci_stats, requests, cells, memo)

    return run
