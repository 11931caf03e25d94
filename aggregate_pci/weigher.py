"""AggregatePciWeigher: place a PCI instance where its devices cost the
other PCI request types least (issue 18, docs/weigher.md).

Enable it beside Nova's weighers (one line: ``weight_classes`` is a list
option, a second line would replace Nova's weighers)::

    [filter_scheduler]
    weight_classes = nova.scheduler.weights.all_weighers,aggregate_pci.weigher.AggregatePciWeigher

    [aggregate_pci]
    #weight_multiplier = 10.0

Per aggregate, the metadata key ``aggregate_pci_weight_multiplier``
overrides the multiplier, as Nova's own weighers allow.  The weigher keeps
no state across requests (several schedulers may run): each request's
candidate hosts are its view of the fleet.  The score itself is pure
(``aggregate_pci.scheduler.weigh``); this class only reads Nova's objects.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Sequence

from nova import context as nova_context
from nova.scheduler import weights
from oslo_config import cfg

from aggregate_pci import alias, conf
from aggregate_pci import filter as agg_filter
from aggregate_pci.scheduler import claim, decision, nova_pools, weigh
from aggregate_pci.scheduler.claim_judge import ClaimOutcome
from aggregate_pci.scheduler.host_view import DefinitionCache
from aggregate_pci.scheduler.request import RequestMemo, plan_request

CONF = cfg.CONF
conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

#: Aggregate metadata key overriding ``[aggregate_pci] weight_multiplier``.
MULTIPLIER_KEY = weigh.MULTIPLIER_KEY


def flavor_alias_requests(context: Any) -> list[str]:
    """The distinct ``pci_passthrough:alias`` values of the cloud's Nova
    flavors: one query on Nova's API database (a small table)."""
    from nova.db.api import api as api_db
    from nova.db.api import models

    @api_db.context_manager.reader
    def _query(ctx: Any) -> list[str]:
        rows = (
            ctx.session.query(models.FlavorExtraSpecs.value)
            .filter(models.FlavorExtraSpecs.key == alias.SPEC_KEY)
            .distinct()
        )
        return [row[0] for row in rows if row[0]]

    return _query(context)


class AggregatePciWeigher(weights.BaseHostWeigher):
    """Prefer hosts where the instance's PCI devices are the ones the other
    request types need least, weighted by their scarcity among the
    candidates."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = DefinitionCache(CONF.aggregate_pci.parse_cache_size)
        #: The option, read once per request by ``weigh_objects`` (Nova
        #: asks the multiplier of every host right after it).
        self._default: float | None = None
        #: The candidates' aggregates without ``MULTIPLIER_KEY``, by id
        #: (kept, so ids stay theirs), from ``weigh_objects``: reading an
        #: Aggregate's metadata costs more per host than the rest of it.
        self._plain: dict[int, Any] = {}

    def weight_multiplier(self, host_state: Any) -> float:
        """``aggregate_pci_weight_multiplier`` of the host's aggregates (the
        smallest), else ``[aggregate_pci] weight_multiplier``: the rule of
        ``weigh.host_multiplier``, logged when it ignores the key."""
        default = self._default
        if default is None:
            default = float(CONF.aggregate_pci.weight_multiplier)
        # Nova asks every candidate: no key, no call (the rule's first step).
        plain = self._plain
        for agg in host_state.aggregates:
            if id(agg) not in plain and MULTIPLIER_KEY in agg.metadata:
                break
        else:
            return default
        mult = weigh.host_multiplier(host_state.aggregates, default)
        if mult.ignored:
            LOG.warning(
                "aggregate-pci: ignoring %s on the aggregates of host %s: %s "
                "(set a number, e.g. 10, or delete the key)",
                MULTIPLIER_KEY,
                getattr(host_state, "host", host_state),
                mult.ignored,
            )
        return mult.value

    def _weigh_object(self, host_state: Any, weight_properties: Any) -> float:
        """One host alone: no other candidate, so no preference."""
        return 0.0

    def weigh_objects(
        self, weighed_obj_list: Sequence[Any], weight_properties: Any
    ) -> list[float]:
        """Minus each candidate's placement cost (0 for every host when the
        request asks no managed PCI flavor, or on any error)."""
        self._default = float(CONF.aggregate_pci.weight_multiplier)
        self._plain = {}
        hosts = [w.obj for w in weighed_obj_list]
        try:
            costs = self.costs(hosts, weight_properties)
            aggregates = {id(a): a for h in hosts for a in h.aggregates}
            self._plain = {
                i: a for i, a in aggregates.items() if MULTIPLIER_KEY not in a.metadata
            }
        except Exception:
            LOG.exception(
                "aggregate-pci: cannot weigh hosts for this request; "
                "AggregatePciWeigher gives every host weight 0"
            )
            costs = None
        if costs is None:
            return [0.0] * len(hosts)
        return [-host.cost for host in costs.hosts]

    def costs(self, hosts: Sequence[Any], spec_obj: Any) -> weigh.Costs | None:
        """The placement cost on each host, or None if the request asks no
        managed PCI flavor (or no Nova flavor requests one)."""
        pci_requests = getattr(spec_obj, "pci_requests", None)
        if not pci_requests or not pci_requests.requests:
            return None
        requests = list(pci_requests.requests)
        if not any(getattr(r, "alias_name", None) for r in requests):
            return None
        ctx = getattr(spec_obj, "_context", None) or nova_context.get_admin_context()
        # The filter's memo of this request, if it ran: the managed names,
        # pool signatures and claim replays are shared (Nova weighs right
        # after the filters).
        memo = agg_filter.request_memo(spec_obj) or RequestMemo()
        managed = memo.managed
        if managed is None:
            managed = agg_filter.managed_flavor_names(ctx)
        plan = plan_request(requests, lambda: managed, False)
        if plan is None:
            return None
        types = weigh.request_types(flavor_alias_requests(ctx), managed)
        if not types:
            return None
        # Without an instance NUMA topology no host has NUMA cells to pass
        # to the claim: replay it directly (claim_replayer checks per host).
        numa = nova_pools.field(spec_obj, "numa_topology") is not None
        # With PCI in Placement off Nova makes no request group of a PCI
        # request, so no allocation candidate maps one: not asked per host.
        mapped = getattr(CONF.filter_scheduler, "pci_in_placement", False)
        replayed = self._replayed
        candidates = []
        for host in hosts:
            stats = host.pci_stats
            pools = stats.pools if stats is not None else []
            taken: weigh.Taken | Callable[[], weigh.Taken]
            if mapped and decision.placement_maps_plan(
                host.allocation_candidates, plan
            ):
                taken = self._mapped(host.allocation_candidates[0], pools)
            elif numa:
                taken = self._claimed(claim.claim_replayer(host, spec_obj, memo)())
            else:
                # Determined by the pools alone: replayed once per alike hosts.
                taken = functools.partial(replayed, stats, requests, memo)
            candidates.append(weigh.Candidate(host.aggregates, pools, taken))
        return weigh.placement_costs(
            candidates, types, self.cache, signatures=memo.signatures
        )

    @staticmethod
    def _mapped(candidate: Any, pools: Sequence[Any]) -> dict[int, int]:
        """{id(pool): devices} of an allocation candidate's mapping (PCI in
        Placement: the first candidate is the one Nova allocates, and the
        compute claims the devices of its providers)."""
        by_rp = {p.get("rp_uuid"): p for p in pools if p.get("rp_uuid")}
        taken: dict[int, int] = {}
        # One request group per device (Nova's PCI request groups).
        for rps in (candidate.get("mappings") or {}).values():
            for rp in rps:
                pool = by_rp.get(rp)
                if pool is not None:
                    taken[id(pool)] = taken.get(id(pool), 0) + 1
        return taken

    @classmethod
    def _replayed(
        cls, stats: Any, requests: Sequence[Any], memo: RequestMemo
    ) -> dict[int, int]:
        """``_claimed`` of the claim replayed without NUMA cells."""
        return cls._claimed(claim.replay_claim(stats, requests, None, memo))

    @staticmethod
    def _claimed(outcome: ClaimOutcome) -> dict[int, int]:
        """{id(pool): devices} the compute's greedy claim takes (PCI in
        Placement off), replayed with Nova's pool logic."""
        return weigh.claimed(outcome)
