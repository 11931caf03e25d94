"""Step 1 of the filter's decision: what one scheduling request asks.

``plan_request`` turns the instance's PCI requests into a ``RequestPlan``
once per request; ``RequestMemo`` holds everything hosts share while that
one request is decided (each field names its writer and its key).

Pure: duck-typed Nova requests, no Nova import.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Hashable,
    Iterable,
    Sequence,
)

from aggregate_pci import codec, matching

if TYPE_CHECKING:
    from aggregate_pci.scheduler.host_view import (
        DefinitionCache,
        HostView,
        PerAggregate,
    )


@dataclasses.dataclass(frozen=True)
class ManagedRequest:
    """The devices one instance asks of one PCI flavor (counts summed)."""

    name: str
    key: str
    count: int
    #: Nova InstancePCIRequest.request_id values behind it (for Placement).
    request_ids: tuple[str, ...]
    #: The alias specs Nova's claim matches devices by (the
    #: ``InstancePCIRequest.spec`` entries, ORed), as sorted item tuples.
    specs: tuple[tuple[tuple[str, str], ...], ...] = ()
    #: Requests not served by one ``pci_flavor:NAME`` key (Neutron ports,
    #: scheduler/ports.py): ``(aggregates, cache) -> predicate``, or None
    #: when the host's aggregates cannot serve it.  ``key`` is then "".
    predicate_for: (
        Callable[[Sequence[Any], DefinitionCache], matching.Predicate | None] | None
    ) = None


@dataclasses.dataclass(frozen=True)
class RequestPlan:
    """What one scheduling request asks of our filter, computed once."""

    requests: tuple[ManagedRequest, ...]
    #: A request names a flavor no aggregate defines and the option says
    #: such requests fail: no host passes.
    reject_all: str | None = None


def plan_request(
    pci_requests: Iterable[Any], managed: Callable[[], set[str]], reject_unmanaged: bool
) -> RequestPlan | None:
    """The managed requests of an instance, or None if we have nothing to do.

    ``managed`` is called only when the instance asks for a flavor alias, so
    instances without PCI requests cost nothing.
    """
    by_name: dict[str, list[Any]] = collections.OrderedDict()
    for req in pci_requests:
        name = getattr(req, "alias_name", None)
        if not name:
            continue
        by_name.setdefault(name, []).append(req)
    if not by_name:
        return None
    names = managed()
    wanted = []
    for name, reqs in by_name.items():
        if name not in names:
            if reject_unmanaged:
                return RequestPlan((), reject_all=name)
            continue
        wanted.append(
            ManagedRequest(
                name,
                codec.KEY_PREFIX + name,
                sum(r.count for r in reqs),
                tuple(r.request_id for r in reqs if getattr(r, "request_id", None)),
                _specs_of(reqs),
            )
        )
    return RequestPlan(tuple(wanted)) if wanted else None


def _specs_of(reqs: Iterable[Any]) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The spec entries of Nova requests, hashable; a request whose spec
    cannot be read contributes an entry no definition covers."""
    out: list[tuple[tuple[str, str], ...]] = []
    for r in reqs:
        try:
            entries = list(getattr(r, "spec", None) or ())
        except Exception:  # an unset field on a Nova object
            entries = []
        if not entries:
            out.append((("", ""),))
        for entry in entries:
            item = tuple(sorted((str(k), str(v)) for k, v in dict(entry).items()))
            if item not in out:
                out.append(item)
    return tuple(out)


def port_indices(plan: RequestPlan) -> tuple[int, ...]:
    """Positions of the plan's Neutron-port requests (scheduler/ports.py)."""
    return tuple(i for i, r in enumerate(plan.requests) if r.predicate_for is not None)


# --- what hosts share within one scheduling request ---------------------------

#: ``matching.pool_signature``: a pool without its count.
Signature = frozenset[Any]
#: Python ids of the instance's Nova PCI requests, in order (stable for the
#: request: the objects live as long as it).
RequestIds = tuple[int, ...]
#: A replay shared between hosts (``shared_replay.replay_key``): the PciDeviceStats
#: class, the requests, and per pool the claim sees its signature and capped
#: count.
ReplayKey = tuple[type, RequestIds, tuple[tuple[Signature, int], ...]]
#: A shared replay's outcome: steps as (request name, position among the
#: pools the key covers, devices taken), the failure, ``ClaimOutcome.key``.
IndexedOutcome = tuple[tuple[tuple[str | None, int, int], ...], str | None, Hashable]
#: One claim step shared between hosts (``shared_replay.replay_steps``):
#: the PciDeviceStats class, the request's id, and per pool the step reads
#: the signature and count capped at the request's count.
StepKey = tuple[type, int, tuple[tuple[Signature, int], ...]]
#: What Nova's claim step took: (position in the pools, devices) per pool
#: it took from, or ``nova_pools.STEP_FAILED``.
StepTaken = tuple[tuple[int, int], ...] | str
#: A ``judge_claim`` verdict shared between hosts: the outcome's key, the
#: predicates, the judged positions (None: all).
VerdictKey = tuple[Hashable, tuple[matching.Predicate, ...], tuple[int, ...] | None]


@dataclasses.dataclass
class SharedRequests:
    """The instance's Nova PCI requests as a claim replay shared between
    hosts reads them (``claim._shared_requests``), once per request."""

    ids: RequestIds
    #: Nova's ``PciDeviceStats._filter_pools_for_spec``, unbound.
    spec_filter: Callable[..., Any]
    #: Each request's ``count`` (all positive ints).
    counts: tuple[int, ...]
    #: Each request's ``ClaimStep.name`` (``ports.nova_request_name``).
    names: tuple[str | None, ...]
    #: Per pool signature, the devices the requests whose spec matches it
    #: ask for together (0: none matches; the cap of its count in a
    #: ``ReplayKey``) and the bitmask of those requests.
    caps: dict[Signature, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Per request position and pool signature, whether Nova's claim step
    #: keeps that pool (``shared_replay._step_pools``).
    kept: dict[tuple[int, Signature], bool] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RequestMemo:
    """What hosts share while one scheduling request (one ``RequestPlan``)
    is decided: hosts share aggregates, device models and slots, so most
    work is done once per request, not once per host.  One per request;
    never reused, since the ids in its keys are only stable that long."""

    #: The PCI flavor names the aggregates define, once read from Nova's
    #: API database for this request (the weigher reuses them).
    managed: set[str] | None = None
    #: The filter: a host's view by the ids of its aggregates.
    host_views: dict[tuple[int, ...], HostView | str] = dataclasses.field(
        default_factory=dict
    )
    #: ``host_view.host_values``: each aggregate's values of the plan's keys.
    aggregate_values: PerAggregate = dataclasses.field(default_factory=dict)
    #: ``matching.cached_signature``'s cache: each pool's signature.
    signatures: matching.SignatureCache = dataclasses.field(
        default_factory=matching.SignatureCache
    )
    #: ``decide_host``: per host predicates, each pool's predicate mask by
    #: signature (``matching.group_supply``'s ``masks``).
    masks: dict[tuple[matching.Predicate, ...], dict[Signature, int]] = (
        dataclasses.field(default_factory=dict)
    )
    #: ``decide_host``: the joint check's answer (``decision.explain``) by
    #: the free devices grouped by predicate mask.
    fits: dict[tuple[tuple[int, int], ...], str | None] = dataclasses.field(
        default_factory=dict
    )
    #: ``decide_host``: ``judge_claim``'s verdicts (``ClaimOutcome.key``).
    verdicts: dict[VerdictKey, str | None] = dataclasses.field(default_factory=dict)
    #: The claim replay: Nova's ``_filter_pools_for_spec`` on one pool, by
    #: (request id, pool signature).
    spec_matches: dict[tuple[int, Signature], bool] = dataclasses.field(
        default_factory=dict
    )
    #: The claim replay: the instance's requests as a shared replay reads
    #: them, None where replays are not shared.
    requests: dict[RequestIds, SharedRequests | None] = dataclasses.field(
        default_factory=dict
    )
    #: The claim replay: whole replays shared between hosts.
    replays: dict[ReplayKey, IndexedOutcome] = dataclasses.field(default_factory=dict)
    #: The claim replay: single claim steps shared between hosts and replays.
    steps: dict[StepKey, StepTaken] = dataclasses.field(default_factory=dict)
