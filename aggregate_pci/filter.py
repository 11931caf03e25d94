"""AggregatePciFilter: PCI flavors defined on host aggregates.

Enable it next to Nova's PciPassthroughFilter::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = aggregate_pci.filter.AggregatePciFilter
    enabled_filters = ...,AggregatePciFilter,PciPassthroughFilter

A flavor name is managed if any aggregate defines ``pci_flavor:NAME``.  For
managed ``pci_passthrough:alias`` requests a host passes only if it is in an
aggregate defining the name and all managed requests fit its free pools
jointly, each request using only devices matching the host's definition.
With PCI in Placement the allocation candidates are pruned to those mapping
each request to matching devices; without it, where a definition is
narrower than its alias, the compute's claim is replayed with Nova's own
pool logic and the host passes only if the devices it would take serve the
requests (see docs/scheduler.md).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Iterable, Iterator

from nova import context as nova_context
from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils
from oslo_config import cfg

from aggregate_pci import codec, conf
from aggregate_pci.scheduler import claim, compute_claim, decision, ports
from aggregate_pci.scheduler.host_view import DefinitionCache, host_view
from aggregate_pci.scheduler.request import RequestMemo, RequestPlan, plan_request

CONF = cfg.CONF
conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

#: The filter's memo of each request still alive, for AggregatePciWeigher,
#: which Nova runs on the same request right after the filters (pool
#: signatures and claim replays are shared): dropped with the RequestSpec,
#: replaced by the next pass (multi-create filters again per instance).
_MEMOS: weakref.WeakKeyDictionary[Any, RequestMemo] = weakref.WeakKeyDictionary()


def request_memo(spec_obj: Any) -> RequestMemo | None:
    """The memo of the filter's last pass over ``spec_obj``'s hosts."""
    try:
        return _MEMOS.get(spec_obj)
    except TypeError:  # not weakly referenceable or not hashable
        return None


def managed_flavor_names(context: Any) -> set[str]:
    """Every PCI flavor name any aggregate in the cloud defines.

    One indexed query on Nova's API database (``aggregate_metadata.key`` has
    an index), so it sees aggregates whose hosts were filtered out before
    our filter ran, and aggregates without hosts.  Keys with bad values
    count: the name stays managed while any aggregate carries the key.
    """
    return {
        key[len(codec.KEY_PREFIX) :]
        for key in _flavor_metadata(context, "key")
        if codec.is_flavor_key(key)
    }


def flavor_definition_values(context: Any) -> list[str]:
    """The values of every ``pci_flavor:*`` key in the cloud (distinct).

    Read only with ``[aggregate_pci] manage_port_requests`` on and for
    instances with Neutron-port PCI requests, to learn which physical
    networks some definition fixes (scheduler/ports.py).
    """
    return _flavor_metadata(context, "value")


def _flavor_metadata(context: Any, column: str) -> list[str]:
    """One column (``key`` or ``value``) of the ``pci_flavor:*`` rows of
    Nova's aggregate metadata, distinct, in one indexed query."""
    from nova.db.api import api as api_db
    from nova.db.api import models

    @api_db.context_manager.reader
    def _query(ctx: Any) -> list[str]:
        rows = (
            ctx.session.query(getattr(models.AggregateMetadata, column))
            .filter(models.AggregateMetadata.key.like(codec.KEY_PREFIX + "%"))
            .distinct()
        )
        return [row[0] for row in rows]

    return _query(context)


class AggregatePciFilter(filters.BaseHostFilter, filters.CandidateFilterMixin):
    """Hosts whose aggregates define, and whose free devices fit, the
    instance's PCI flavor requests."""

    RUN_ON_REBUILD = False

    def __init__(self) -> None:
        super().__init__()
        self.cache = DefinitionCache(CONF.aggregate_pci.parse_cache_size)

    def filter_all(
        self, filter_obj_list: Iterable[Any], spec_obj: Any
    ) -> Iterator[Any]:
        """Build the request's plan once, then decide each host."""
        if scheduler_utils.request_is_rebuild(spec_obj):
            yield from filter_obj_list
            return
        # Hosts share aggregates, device models and claim steps: one memo
        # per request (the objects live as long as the host states, so
        # their ids are stable keys for this request).
        memo = RequestMemo()
        try:
            plan, claimed, move_ids = self._plan(spec_obj, memo)
        except Exception:
            # Without the managed names no alias request can be judged:
            # fail closed for this request only, never raise.
            LOG.exception(
                "aggregate-pci: cannot read which PCI flavors the "
                "aggregates define; no host passes this request's "
                "pci_passthrough:alias requests"
            )
            return
        try:
            _MEMOS[spec_obj] = memo
        except TypeError:  # not weakly referenceable or not hashable
            pass
        for host_state in filter_obj_list:
            if plan is None or self._passes_safely(
                host_state, spec_obj, plan, memo, claimed, move_ids
            ):
                yield host_state

    def host_passes(self, host_state: Any, spec_obj: Any) -> bool:
        """Single-host entry point (Nova calls ``filter_all``)."""
        return any(True for _ in self.filter_all([host_state], spec_obj))

    def _plan(
        self, spec_obj: Any, memo: RequestMemo
    ) -> tuple[RequestPlan | None, tuple[Any, ...], tuple[str, ...] | None]:
        """The request's plan (None: nothing for us to do), the PCI requests
        the compute will claim, and with PCI in Placement where that claim
        will not follow Placement's allocation (a move claim) the request
        ids of Placement's PCI request groups (see ``compute_claim``)."""
        pci_requests = getattr(spec_obj, "pci_requests", None)
        if not pci_requests or not pci_requests.requests:
            return None, (), None
        ctx = getattr(spec_obj, "_context", None) or nova_context.get_admin_context()
        claimed = compute_claim.compute_claim(spec_obj)

        def managed() -> set[str]:
            if memo.managed is None:
                memo.managed = managed_flavor_names(ctx)
            return memo.managed

        plan = plan_request(
            claimed.requests,
            managed,
            CONF.aggregate_pci.reject_unmanaged_requests,
        )
        if CONF.aggregate_pci.manage_port_requests:  # Neutron ports (issue 13)
            plan = ports.extend_plan(
                plan,
                claimed.requests,
                lambda: ports.managed_physnets(
                    flavor_definition_values(ctx), self.cache.parse
                ),
            )
        move_ids = None
        if plan is not None and getattr(
            CONF.filter_scheduler, "pci_in_placement", False
        ):
            move_ids = compute_claim.move_claim_ids(spec_obj, claimed)
        return plan, claimed.requests, move_ids

    def _passes_safely(
        self,
        host_state: Any,
        spec_obj: Any,
        plan: RequestPlan,
        memo: RequestMemo,
        claimed: tuple[Any, ...],
        move_ids: tuple[str, ...] | None,
    ) -> bool:
        try:
            return self._passes(host_state, spec_obj, plan, memo, claimed, move_ids)
        except Exception:
            LOG.exception(
                "aggregate-pci: unexpected error judging host %s; "
                "rejecting it for this request",
                getattr(host_state, "host", host_state),
            )
            return False

    def _passes(
        self,
        host_state: Any,
        spec_obj: Any,
        plan: RequestPlan,
        memo: RequestMemo,
        claimed: tuple[Any, ...],
        move_ids: tuple[str, ...] | None,
    ) -> bool:
        view = None
        if not plan.reject_all:
            # Hosts share aggregates: resolve each set once per request.
            aggregates = host_state.aggregates
            key = tuple(map(id, aggregates))
            view = memo.host_views.get(key)
            if view is None:
                view = memo.host_views[key] = host_view(
                    aggregates, plan, self.cache, memo.aggregate_values
                )
        stats = host_state.pci_stats
        why = decision.decide_host(
            host_state.aggregates,
            stats.pools if stats is not None else [],
            plan,
            self.cache,
            candidates=host_state.allocation_candidates,
            prune=lambda fits: len(self.filter_candidates(host_state, fits)),
            claim=claim.claim_replayer(host_state, spec_obj, memo, claimed),
            view=view,
            memo=memo,
            move_claim_ids=move_ids,
        )
        if why is not None:
            if LOG.isEnabledFor(logging.DEBUG):
                # The node too: one compute service may run many (Ironic).
                LOG.debug(
                    "host %s rejected: %s (node %s)",
                    host_state.host,
                    why,
                    getattr(host_state, "nodename", None),
                )
            return False
        return True
