"""Replay the compute's PCI claim with Nova's own pool logic.

With PCI in Placement off the compute claims devices by the ``[pci] alias``
spec alone: ``PciDeviceStats.consume_requests`` walks the instance's
``InstancePCIRequest``s in order and takes devices greedily from the pools
``_filter_pools`` keeps (spec, NUMA policy, unrequested PFs / VDPA /
remote-managed devices, live-migratable), in pool order.  The scheduler's
``apply_requests`` is the same walk on the pools alone.  This module runs it
per request on a copy of the host's pools and records which pools each
request drained, so the decision core can judge the devices taken
(``decision.judge_claim``).  Nova is imported here, never in the core.

Signatures are detected by capability (``inspect``), not by version: Nova
2023.2+ has ``apply_requests(requests, provider_mapping, numa_cells=None)``,
older releases ``apply_requests(requests, numa_cells=None)``.
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any, Callable, Sequence

from aggregate_pci.scheduler import decision


@functools.lru_cache(maxsize=8)
def _params(fn: Any) -> frozenset[str]:
    """Parameter names of ``fn`` (an unbound method or a function)."""
    return frozenset(inspect.signature(fn).parameters)


def _copy_stats(stats: Any, memo: dict[Any, bool] | None) -> Any:
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
        sigs = {
            id(p): frozenset(i for i in p.items() if i[0] not in _UNSIGNED)
            for p in sim.pools
        }
    except TypeError:  # an unhashable value (e.g. a device list)
        return sim
    sim._filter_pools_for_spec = functools.partial(
        _memo_filter_for_spec, nova_filter, sim, memo, sigs
    )
    return sim


def _memo_filter_for_spec(
    nova_filter: Callable[..., Any],
    sim: Any,
    memo: dict[Any, bool],
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


#: Pool keys that do not take part in matching a spec.
_UNSIGNED = frozenset(("count", "devices"))


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
    memo: dict[Any, bool] | None = None,
) -> decision.ClaimOutcome:
    """Which pools the claim of ``requests`` takes on a host whose free
    pools are ``stats`` (a ``PciDeviceStats``, left unchanged).  ``memo``
    (one dict per scheduling request) shares spec matches between hosts."""
    from nova import exception

    if stats is None:
        return decision.ClaimOutcome(failed="the host reports no PCI devices")
    sim = _copy_stats(stats, memo)
    steps: list[decision.ClaimStep] = []
    for request in requests:
        before = [(pool, pool["count"]) for pool in sim.pools]
        try:
            _apply_one(sim, request, numa_cells)
        except exception.PciDeviceRequestFailed:
            return decision.ClaimOutcome(
                tuple(steps),
                failed="no %d device(s) left for request %r (%s)"
                % (
                    request.count,
                    getattr(request, "alias_name", None) or request.request_id,
                    request.spec,
                ),
            )
        left = {id(pool) for pool in sim.pools}
        alias = getattr(request, "alias_name", None)
        for pool, count in before:
            took = count - (pool["count"] if id(pool) in left else 0)
            if took > 0:
                steps.append(decision.ClaimStep(alias, pool, took))
    return decision.ClaimOutcome(tuple(steps))


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
    host_state: Any, spec_obj: Any, memo: dict[Any, bool] | None = None
) -> Callable[[], decision.ClaimOutcome]:
    """A zero-argument callable for ``decision.decide_host(claim=...)``;
    ``memo``: one dict per scheduling request (see ``replay_claim``)."""

    def run() -> decision.ClaimOutcome:
        requests = list(spec_obj.pci_requests.requests)
        try:
            cells = instance_numa_cells(host_state, spec_obj, requests)
        except LookupError as exc:
            return decision.ClaimOutcome(failed=str(exc))
        return replay_claim(host_state.pci_stats, requests, cells, memo)

    return run
