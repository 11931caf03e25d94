"""``explain``: why a PCI request can or cannot land on each host.

Every verdict comes from ``decision.decide_host``, the function
``AggregatePciFilter`` runs, called with the same inputs (the host's
aggregates, its free pools, the ``RequestPlan`` that ``plan_request``
builds from the request objects); so the reasons are the filter's log
lines word for word, and the two cannot disagree.  This module only sorts
the outcomes into categories and adds context (free devices per requested
PCI flavor, the aggregates defining it).

Pure: the compute's claim replay and Nova's PciPassthroughFilter, which
need Nova, come in as callables (``admin/nova_io/nova_explain.py`` builds
them); without them (an inventory file, offline) the claim check is reported as
not replayed, never as passed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci import codec
from aggregate_pci.scheduler import claim_judge, decision, host_view, ports, request

#: Categories, in the order of the summary line.
FITS = "fits"
UNVERIFIED = "fits, claim not replayed"
OUT_OF_SCOPE = "out of scope"
LACKS = "lacks devices"
CLAIM = "claim would fail"
REJECTED = "rejected"
NOT_MANAGED = "not managed"


@dataclasses.dataclass(frozen=True)
class Request:
    """A synthetic ``InstancePCIRequest`` (what ``plan_request`` reads)."""

    alias_name: str
    count: int
    request_id: str | None = None
    spec: tuple[Mapping[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class HostExplanation:
    """One host's verdict and its context."""

    host: str
    category: str
    #: The filter's words (None when the host passes).
    reason: str | None
    #: Free devices matching this host's definition, per requested flavor
    #: (None where the host has no valid definition of it).
    free: dict[str, int | None]
    #: Per requested flavor, the host's aggregates carrying its key
    #: (``name (invalid)`` for a value that does not parse).
    aggregates: dict[str, list[str]]
    #: What Nova's PciPassthroughFilter says, None if not asked.
    nova_filter: str | None = None
    #: For a Neutron port out of scope: which aggregates manage its
    #: physical network, e.g. "physnet2 managed by rack1-sriov".
    scope: str | None = None

    @property
    def can_take(self) -> bool:
        return self.category in (FITS, UNVERIFIED, NOT_MANAGED)


@dataclasses.dataclass(frozen=True)
class Explanation:
    hosts: list[HostExplanation]
    #: Requested names no aggregate defines (left to Nova, or rejected).
    unmanaged: list[str]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.category] = out.get(h.category, 0) + 1
        return out

    def summary(self) -> str:
        """``3 hosts can take it now; 12 are out of scope; 5 lack devices``
        (plus the other categories that occur)."""
        c = self.counts()
        can = c.get(FITS, 0) + c.get(UNVERIFIED, 0) + c.get(NOT_MANAGED, 0)
        parts = ["%d host%s can take it now" % (can, "" if can == 1 else "s")]
        if c.get(UNVERIFIED):
            parts[0] += (
                " (%d of them only if the compute's claim takes devices inside "
                "the definitions: not replayed offline)" % c[UNVERIFIED]
            )
        parts.append("%d %s out of scope" % _are(c.get(OUT_OF_SCOPE, 0)))
        parts.append("%d lack%s devices" % _lacks(c.get(LACKS, 0)))
        if c.get(CLAIM):
            parts.append("%d would fail the compute's claim check" % c[CLAIM])
        if c.get(REJECTED):
            parts.append("%d reject it (unmanaged PCI flavor)" % c[REJECTED])
        return "; ".join(parts)


def _are(n: int) -> tuple[int, str]:
    return n, "is" if n == 1 else "are"


def _lacks(n: int) -> tuple[int, str]:
    return n, "s" if n == 1 else ""


class _NotReplayed(Exception):
    """Raised by the offline claim stand-in: the filter would replay the
    claim here, and we cannot."""


def _not_replayed() -> claim_judge.ClaimOutcome:
    raise _NotReplayed()


#: Nova's device type for a port's vnic_type (nova.pci.request
#: DEVICE_TYPE_FOR_VNIC_TYPE); other SR-IOV vnic_types ask none.
VNIC_DEV_TYPES = {"direct-physical": "type-PF", "vdpa": "vdpa"}
#: The vnic_types for which Nova asks a PCI device (network.model.VNIC_TYPES_SRIOV).
SRIOV_VNIC_TYPES = (
    "direct",
    "macvtap",
    "direct-physical",
    "virtio-forwarder",
    "vdpa",
    "remote-managed",
)


def port_spec(
    physnet: str, vnic_type: str, trusted: bool | None = None
) -> dict[str, str]:
    """The PCI request spec Nova builds for a Neutron port of ``physnet``
    with ``vnic_type`` (nova.network.neutron, Nova 34)."""
    spec = {
        ports.NET_TAG: physnet,
        ports.REMOTE_MANAGED_TAG: str(vnic_type == "remote-managed"),
    }
    if vnic_type in VNIC_DEV_TYPES:
        spec[ports.DEV_TYPE_TAG] = VNIC_DEV_TYPES[vnic_type]
    if trusted is not None:
        spec["trusted"] = str(trusted)
    return spec


def requests_from(
    request: Mapping[str, int],
    alias_specs: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
) -> list[Request]:
    """Synthetic request objects for ``{alias: count}``, with each alias's
    specs where known (a nova.conf's ``[pci] alias``); without them the
    claim check counts as needed wherever a definition exists."""
    specs = alias_specs or {}
    return [
        Request(name, count, spec=tuple(specs.get(name, ())))
        for name, count in request.items()
        if count > 0
    ]


def host_aggregates(
    aggregates: Iterable[Any], hosts: Iterable[str]
) -> dict[str, list[Any]]:
    """{host: its aggregates}, in the aggregates' order."""
    out: dict[str, list[Any]] = {h: [] for h in hosts}
    for agg in aggregates:
        for h in agg.hosts:
            if h in out:
                out[h].append(agg)
    return out


def managed_names(aggregates: Iterable[Any]) -> set[str]:
    """Every PCI flavor name any aggregate carries a key for, valid or not
    (as the filter's ``managed_flavor_names``)."""
    return {
        key[len(codec.KEY_PREFIX) :]
        for agg in aggregates
        for key in agg.metadata
        if codec.is_flavor_key(key)
    }


def explain(
    aggregates: Sequence[Any],
    hosts: Mapping[str, Sequence[Mapping[str, Any]]],
    requests: Sequence[Any],
    *,
    reject_unmanaged: bool = False,
    claims: Mapping[str, Callable[[], claim_judge.ClaimOutcome]] | None = None,
    nova_filter: Callable[[str], str] | None = None,
    cache: host_view.DefinitionCache | None = None,
    manage_ports: bool = False,
) -> Explanation:
    """Decide every host of ``hosts`` ({host: free pools, ``count`` free})
    for ``requests`` (objects with alias_name/count/request_id/spec).

    ``claims``: {host: replay of the compute's claim}, as the filter's
    ``claim=``; None means offline (hosts needing it are UNVERIFIED).
    ``nova_filter(host)``: Nova's PciPassthroughFilter's word on a host.
    ``manage_ports``: judge Neutron-port requests (no alias name, a spec
    with ``physical_network``) as the filter does with ``[aggregate_pci]
    manage_port_requests`` on (scheduler/ports.py).
    """
    cache = cache or host_view.DefinitionCache(4096)
    names = managed_names(aggregates)
    plan = request.plan_request(requests, lambda: names, reject_unmanaged)
    if manage_ports:
        # As the filter does with [aggregate_pci] manage_port_requests on.
        plan = ports.extend_plan(
            plan,
            requests,
            lambda: ports.managed_physnets(_values(aggregates), cache.parse),
        )
    unmanaged = sorted(
        {r.alias_name for r in requests if r.alias_name and r.alias_name not in names}
    )
    by_host = host_aggregates(aggregates, hosts)
    out = []
    for host in sorted(hosts):
        pools = [{k: v for k, v in p.items() if k != "used"} for p in hosts[host]]
        aggs = by_host[host]
        item = _explain_host(host, aggs, pools, plan, cache, claims)
        if item.category == OUT_OF_SCOPE and plan is not None:
            item = dataclasses.replace(
                item, scope=_port_scope(aggregates, aggs, plan, cache)
            )
        if nova_filter is not None:
            item = dataclasses.replace(item, nova_filter=nova_filter(host))
        out.append(item)
    return Explanation(out, unmanaged)


def _values(aggregates: Iterable[Any]) -> list[str]:
    """Every ``pci_flavor:*`` value of the aggregates."""
    return [
        v
        for agg in aggregates
        for k, v in agg.metadata.items()
        if codec.is_flavor_key(k)
    ]


def _port_physnet(req: request.ManagedRequest) -> str | None:
    """The physical network of a managed Neutron-port request, else None."""
    if req.predicate_for is None or not req.name.startswith("port:"):
        return None
    return req.name[len("port:") :].split("[", 1)[0]


def _port_scope(
    aggregates: Sequence[Any],
    host_aggs: Sequence[Any],
    plan: request.RequestPlan,
    cache: host_view.DefinitionCache,
) -> str | None:
    """ "physnet2 managed by rack1-sriov" for the first port request none of
    the host's aggregates serves, or None (a flavor alias is out of scope)."""
    for req in plan.requests:
        physnet = _port_physnet(req)
        if physnet is None or ports.physnet_matches(host_aggs, physnet, cache):
            continue
        managers = [
            a.name for a in aggregates if ports.physnet_matches([a], physnet, cache)
        ]
        return "%s managed by %s" % (physnet, ", ".join(sorted(managers)))
    return None


def _explain_host(
    host: str,
    aggs: Sequence[Any],
    pools: Sequence[Mapping[str, Any]],
    plan: request.RequestPlan | None,
    cache: host_view.DefinitionCache,
    claims: Mapping[str, Callable[[], claim_judge.ClaimOutcome]] | None,
) -> HostExplanation:
    if plan is None:
        return HostExplanation(host, NOT_MANAGED, None, {}, {})
    free, defining = _context(aggs, pools, plan, cache)
    if plan.reject_all:
        why = decision.decide_host(aggs, pools, plan, cache)
        return HostExplanation(host, REJECTED, why, free, defining)
    view = host_view.host_view(aggs, plan, cache)
    called: list[bool] = []
    replay = claims.get(host) if claims is not None else _not_replayed

    def claim(*, ports_only: bool = False) -> claim_judge.ClaimOutcome:
        # ``ports_only`` is set only with Placement's candidates, which
        # explain never passes.
        called.append(True)
        if replay is None:
            return claim_judge.ClaimOutcome(failed="the host reports no PCI devices")
        return replay()

    try:
        why = decision.decide_host(aggs, pools, plan, cache, claim=claim, view=view)
    except _NotReplayed:
        return HostExplanation(host, UNVERIFIED, None, free, defining)
    if why is None:
        category = FITS
    elif called:
        category = CLAIM
    elif isinstance(view, str):
        category = OUT_OF_SCOPE
    else:
        category = LACKS
    return HostExplanation(host, category, why, free, defining)


def _context(
    aggs: Sequence[Any],
    pools: Sequence[Mapping[str, Any]],
    plan: request.RequestPlan,
    cache: host_view.DefinitionCache,
) -> tuple[dict[str, int | None], dict[str, list[str]]]:
    """Free matching devices and defining aggregates per requested flavor
    (each flavor alone, with the filter's own host view)."""
    free: dict[str, int | None] = {}
    defining: dict[str, list[str]] = {}
    for req in plan.requests:
        alone = request.RequestPlan((req,))
        view = host_view.host_view(aggs, alone, cache)
        free[req.name] = (
            None
            if isinstance(view, str)
            else sum(int(p.get("count", 0)) for p in pools if view.preds[0](p))
        )
        physnet = _port_physnet(req)
        if physnet is not None:
            defining[req.name] = [
                a.name for a in aggs if ports.physnet_matches([a], physnet, cache)
            ]
            continue
        defining[req.name] = [
            agg.name
            + (
                ""
                if isinstance(
                    cache.parse(agg.metadata[req.key]), codec.PciFlavorDefinition
                )
                else " (invalid)"
            )
            for agg in aggs
            if req.key in agg.metadata
        ]
    return free, defining
