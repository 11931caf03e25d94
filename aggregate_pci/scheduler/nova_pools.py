"""Nova's own PCI pool logic, called on copies of a host's pools.

The compute claims devices with ``PciDeviceStats.apply_requests`` (the
scheduler's ``consume_requests`` is the same walk on the pools alone); the
claim replay (``claim``) calls it here, one request at a time, on copies of
the host's pools, and asks Nova's per-pool spec match
(``_filter_pools_for_spec``) and the instance's NUMA fit.  The scheduler
package imports Nova here alone, lazily.

Signatures are detected by capability (``inspect``), not by version: Nova
2023.2+ has ``apply_requests(requests, provider_mapping, numa_cells=None)``,
older releases ``apply_requests(requests, numa_cells=None)``.
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any, Callable, Protocol

#: One of Nova's pools (``PciDeviceStats.pools``): a dict of the devices'
#: keys and tags plus ``count``.
Pool = dict[str, Any]

#: The instance's NUMA cells (``nova.objects.InstanceNUMACell`` list), only
#: handed from Nova's NUMA fit to Nova's pool logic: opaque here.
NumaCells = Any


class PciRequest(Protocol):
    """The fields of ``nova.objects.InstancePCIRequest`` the replay reads
    (``alias_name`` and ``request_id`` may be unset: read by getattr)."""

    count: int
    request_id: str | None
    spec: list[dict[str, str]]


class PciStats(Protocol):
    """The part of ``nova.pci.stats.PciDeviceStats`` the replay uses."""

    pools: list[Pool]

    def apply_requests(
        self, requests: list[PciRequest], *args: Any, **kwargs: Any
    ) -> None:
        """Nova's claim walk (the signature varies by release)."""


#: Nova's ``PciDeviceStats._filter_pools_for_spec``, unbound.
SpecFilter = Callable[[PciStats, list[Pool], PciRequest], list[Pool]]
#: The same bound to one ``PciDeviceStats``.
BoundSpecFilter = Callable[[list[Pool], PciRequest], list[Pool]]

#: A claim step Nova cannot serve (``nova_step``).
STEP_FAILED = "failed"


@functools.lru_cache(maxsize=8)
def _params(fn: Callable[..., Any]) -> frozenset[str]:
    """Parameter names of ``fn`` (an unbound method or a function)."""
    return frozenset(inspect.signature(fn).parameters)


def spec_filter(stats: PciStats) -> SpecFilter | None:
    """Nova's per-pool spec match of ``stats``' class, if it has one."""
    found: SpecFilter | None = getattr(type(stats), "_filter_pools_for_spec", None)
    return found


def spec_match(
    nova_filter: SpecFilter, stats: PciStats, request: PciRequest, pool: Pool
) -> bool:
    """Does Nova's spec match keep ``pool`` for ``request``?"""
    return bool(nova_filter(stats, [pool], request))


def rp_free(stats: PciStats, requests: list[PciRequest]) -> bool:
    """True if Nova finds no Placement ``rp_uuids`` for any request
    without a provider mapping (``_get_rp_uuids_for_request``), so each
    claim step takes greedily from the pools its spec keeps."""
    get = getattr(stats, "_get_rp_uuids_for_request", None)
    return get is not None and not any(get(None, r) for r in requests)


def copy_stats(stats: PciStats) -> PciStats:
    """A copy of ``stats`` whose pool list and pool dicts are its own (the
    pool logic changes only ``count`` and list membership; the NUMA topology
    and device filter are shared read-only, unlike Nova's deep copy)."""
    sim = copy.copy(stats)
    sim.pools = [dict(pool) for pool in stats.pools]
    return sim


def use_spec_filter(sim: PciStats, filter_for_spec: BoundSpecFilter) -> None:
    """Make ``sim`` (a copy) match specs with ``filter_for_spec`` instead of
    Nova's ``_filter_pools_for_spec``, which Nova's claim walk calls."""
    vars(sim)["_filter_pools_for_spec"] = filter_for_spec


def apply_one(sim: PciStats, request: PciRequest, numa_cells: NumaCells) -> bool:
    """Nova's claim of ``request`` on ``sim`` (changed in place): False if
    Nova raises ``PciDeviceRequestFailed``."""
    return apply_all(sim, [request], numa_cells)


def supports(stats: PciStats, requests: list[PciRequest]) -> bool:
    """Nova's ``support_requests(requests, provider_mapping=None)``: its
    ``apply_requests`` on a ``copy_stats`` copy, not on Nova's deep copy
    (which also copies the device filter and NUMA topology, unchanged by
    applying, and made most of ``explain``'s time at fleet scale)."""
    return apply_all(copy_stats(stats), requests, None)


def apply_all(sim: PciStats, requests: list[PciRequest], numa_cells: NumaCells) -> bool:
    """Nova's ``apply_requests`` of ``requests`` on ``sim`` (changed in
    place): False if Nova raises ``PciDeviceRequestFailed``."""
    from nova import exception

    params = _params(type(sim).apply_requests)
    kwargs: dict[str, Any] = {}
    if "provider_mapping" in params:
        # None: no Placement mapping, as the compute's consume_requests
        # (the request's own ``rp_uuids`` spec key, if any, still applies).
        kwargs["provider_mapping"] = None
    if "numa_cells" in params:
        kwargs["numa_cells"] = numa_cells
    try:
        sim.apply_requests(requests, **kwargs)
    except exception.PciDeviceRequestFailed:
        return False
    return True


def nova_step(
    stats: PciStats, subset: list[Pool], request: PciRequest
) -> tuple[tuple[int, int], ...] | str:
    """Nova's claim step for ``request`` on the pools ``subset`` alone:
    (position in ``subset``, devices taken) per pool it takes from, in
    order, or ``STEP_FAILED``."""
    sim = copy.copy(stats)
    sim.pools = list(subset)
    before = [pool["count"] for pool in subset]
    if not apply_one(sim, request, None):
        return STEP_FAILED
    left = {id(pool) for pool in sim.pools}
    out = []
    for k, pool in enumerate(subset):
        took = before[k] - (pool["count"] if id(pool) in left else 0)
        if took > 0:
            out.append((k, took))
    return tuple(out)


def field(obj: Any, name: str) -> Any:
    """A Nova object's field, None if unset (unset fields of a RequestSpec
    raise on access instead of lazy-loading)."""
    try:
        if name not in obj:
            return None
    except TypeError:  # not a Nova object
        pass
    return getattr(obj, name, None)


def instance_numa_cells(
    host_state: Any, spec_obj: Any, requests: list[PciRequest]
) -> NumaCells:
    """The instance NUMA cells the claim passes to the pool logic: the fit
    ``NUMATopologyFilter`` and the compute compute (None without a NUMA
    topology).  Raises LookupError if the instance does not fit.

    ``host_state``, ``spec_obj``: Nova's HostState and RequestSpec (Any:
    versioned objects whose unset fields raise, read through ``field``)."""
    requested = field(spec_obj, "numa_topology")
    host_topology = getattr(host_state, "numa_topology", None)
    if not requested or not host_topology:
        return None
    from nova import objects
    from nova.virt import hardware

    limits = objects.NUMATopologyLimits(
        cpu_allocation_ratio=host_state.cpu_allocation_ratio,
        ram_allocation_ratio=host_state.ram_allocation_ratio,
    )
    network_metadata = field(spec_obj, "network_metadata")
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


def claim_failure(request: PciRequest) -> str:
    """Why the claim fails at ``request`` (``ClaimOutcome.failed``)."""
    return "no %d device(s) left for request %r (%s)" % (
        request.count,
        getattr(request, "alias_name", None) or request.request_id,
        request.spec,
    )
