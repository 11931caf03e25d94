"""The decision core of ``AggregatePciFilter``: per-request plan, per-host
verdict.

Pure: duck-typed objects (aggregates with ``.metadata``, pools as dicts),
no Nova import, so it is unit-testable and shared by every caller that must
decide as the filter does.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from aggregate_pci import codec, matching

LOG = logging.getLogger(__name__)


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
        Callable[[Sequence[Any], "DefinitionCache"], matching.Predicate | None] | None
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


#: Spec keys Nova's pool filtering ignores (matched by Placement instead).
_IGNORED_SPEC_KEYS = frozenset(("resource_class", "traits", "rp_uuids"))


def _match_covers(match: codec.DeviceMatch, spec: Mapping[str, str]) -> bool:
    """Does every device matching the alias spec entry match ``match``?
    Sound, not complete: a constraint of the match counts as implied only
    if the spec states the same value."""
    want = {"vendor_id": match.vendor_id, "product_id": match.product_id}
    if match.device_type is not None:
        want["dev_type"] = match.device_type
    if any(key == "address" for key, _ in match.tags):
        return False  # a glob is never implied by an alias
    want.update(match.tags)
    return all(
        spec.get(key, "").lower() == value.lower() for key, value in want.items()
    )


def definition_covers(
    definition: codec.PciFlavorDefinition,
    specs: Sequence[Sequence[tuple[str, str]]],
) -> bool:
    """True if every device Nova's claim may take for the alias (a device
    matching one of ``specs``) matches ``definition``: the definition is no
    narrower than the alias, and no claim simulation is needed."""
    if not specs:
        return False
    for entry in specs:
        spec = {k: v for k, v in entry if k not in _IGNORED_SPEC_KEYS}
        if not spec.get("vendor_id") or not spec.get("product_id"):
            return False
        if not any(_match_covers(m, spec) for m in definition.matches):
            return False
    return True


class DefinitionCache:
    """Parsed metadata values and compiled host definitions, bounded.

    Keyed by the metadata text itself, so a changed value is a cache miss:
    no invalidation is needed when aggregates change.
    """

    def __init__(self, size: int) -> None:
        self._logged: set[tuple[str, str, str]] = set()
        self._log_limit = size
        self.parse = functools.lru_cache(maxsize=size)(self._parse)
        self.compile = functools.lru_cache(maxsize=size)(self._compile)
        self.covers = functools.lru_cache(maxsize=size)(self._covers)

    @staticmethod
    def _parse(value: str) -> codec.PciFlavorDefinition | codec.PciFlavorError:
        try:
            return codec.parse_value(value)
        except codec.PciFlavorError as exc:
            # Cached for the filter's lifetime: keep a fresh copy, without
            # the traceback and context whose frames would keep the first
            # request's host states alive.
            return codec.PciFlavorError(exc.reason, exc.key, exc.aggregate)

    def definition(self, values: tuple[str, ...]) -> codec.PciFlavorDefinition:
        """The OR of the valid definitions among ``values``."""
        # Only values that parsed (see ``host_values``) get here.
        parsed = [self.parse(value) for value in values]
        definitions = [d for d in parsed if isinstance(d, codec.PciFlavorDefinition)]
        definition = definitions[0]
        for d in definitions[1:]:
            definition = definition.union(d)
        return definition

    def _compile(self, values: tuple[str, ...]) -> matching.Predicate:
        return matching.compile_definition(self.definition(values))

    def _covers(
        self,
        values: tuple[str, ...],
        specs: tuple[tuple[tuple[str, str], ...], ...],
    ) -> bool:
        return definition_covers(self.definition(values), specs)

    def log_bad(self, aggregate: Any, key: str, error: codec.PciFlavorError) -> None:
        """Log a bad value once per (aggregate, key, value)."""
        name = getattr(aggregate, "name", None) or getattr(aggregate, "uuid", "?")
        marker = (
            str(getattr(aggregate, "uuid", name)),
            key,
            str(aggregate.metadata.get(key)),
        )
        if marker in self._logged:
            return
        if len(self._logged) >= self._log_limit:
            self._logged.clear()
        self._logged.add(marker)
        LOG.warning(
            "aggregate-pci: ignoring bad PCI flavor metadata on "
            "aggregate %r, key %r: %s (hosts whose only definition of "
            "this flavor it is cannot serve it; fix or delete the key)",
            name,
            key,
            error.reason,
        )

    def memory(self) -> dict[str, int]:
        """Entries held, for the benchmark's memory report."""
        return {
            "parsed": self.parse.cache_info().currsize,
            "compiled": self.compile.cache_info().currsize,
            "covers": self.covers.cache_info().currsize,
            "logged": len(self._logged),
        }


@dataclasses.dataclass(frozen=True)
class HostView:
    """A host's definitions of the requested flavors: per managed request
    the metadata values that define it (sorted) and their compiled OR."""

    values: tuple[tuple[str, ...], ...]
    preds: tuple[matching.Predicate, ...]


def host_view(
    aggregates: Iterable[Any], plan: RequestPlan, cache: DefinitionCache
) -> HostView | str:
    """The host's definitions of the plan's flavors, or the name of the
    first flavor the host cannot serve at all (see ``host_predicates``)."""
    aggregates = list(aggregates)
    values = host_values(aggregates, plan, cache)
    if isinstance(values, str):
        return values
    preds = []
    for req, found in zip(plan.requests, values, strict=True):
        if req.predicate_for is None:
            preds.append(cache.compile(found))
            continue
        # Neutron ports (scheduler/ports.py): no pci_flavor:NAME key.
        pred = req.predicate_for(aggregates, cache)
        if pred is None:
            return req.name
        preds.append(pred)
    return HostView(values, tuple(preds))


def host_predicates(
    aggregates: Iterable[Any], plan: RequestPlan, cache: DefinitionCache
) -> list[matching.Predicate] | str:
    """One predicate per managed request for this host, or the name of the
    first flavor the host cannot serve at all (not in a defining aggregate,
    or only bad definitions)."""
    view = host_view(aggregates, plan, cache)
    return view if isinstance(view, str) else list(view.preds)


def host_values(
    aggregates: Iterable[Any], plan: RequestPlan, cache: DefinitionCache
) -> tuple[tuple[str, ...], ...] | str:
    """The valid metadata values defining each managed request on this
    host (sorted, deduplicated; none for a Neutron-port request, decided by
    its ``predicate_for``), or the first flavor name without any."""
    values: dict[str, list[str]] = {
        r.key: [] for r in plan.requests if r.predicate_for is None
    }
    for agg in aggregates:
        metadata = agg.metadata
        for key, found in values.items():
            value = metadata.get(key)
            if value is None:
                continue
            parsed = cache.parse(value)
            if isinstance(parsed, codec.PciFlavorError):
                cache.log_bad(agg, key, parsed)
            else:
                found.append(value)
    out: list[tuple[str, ...]] = []
    for req in plan.requests:
        if req.predicate_for is not None:
            out.append(())
            continue
        found = values[req.key]
        if not found:
            return req.name
        out.append(tuple(sorted(set(found))))
    return tuple(out)


def explain(
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    masks: dict[Any, int] | None = None,
    signatures: dict[int, Any] | None = None,
) -> str | None:
    """None if the plan fits the pools, else why not (one line).
    ``masks``, ``signatures``: see ``matching.group_supply``."""
    supply = matching.group_supply(pools, preds, masks, signatures)
    demands = [r.count for r in plan.requests]
    if len(demands) <= matching.HALL_LIMIT:
        bad = matching.hall_violation(supply, demands)
        if bad is None:
            return None
        subset, have, need = bad
        names = [r.name for i, r in enumerate(plan.requests) if subset >> i & 1]
        which = (
            "PCI flavor %r" % names[0]
            if len(names) == 1
            else "PCI flavors %s together" % "+".join(names)
        )
        return "%s could not be served: %d free device(s) matched, %d asked for" % (
            which,
            have,
            need,
        )
    if matching.supply_feasible(supply, demands):
        return None
    return "PCI flavors %s could not be served together" % "+".join(
        r.name for r in plan.requests
    )


def placement_maps_plan(
    candidates: Sequence[Mapping[str, Any]] | None, plan: RequestPlan
) -> bool:
    """True if any allocation candidate maps a managed request to resource
    providers (PCI in Placement on); otherwise candidates need no pruning."""
    ids = tuple(rid for r in plan.requests for rid in r.request_ids)
    if not candidates or not ids:
        return False
    for candidate in candidates:
        for group in candidate.get("mappings") or ():
            if group.startswith(ids):
                return True
    return False


def candidate_fits(
    candidate: Mapping[str, Any],
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
) -> bool:
    """With PCI in Placement: do the resource providers this allocation
    candidate gives each managed request hold only devices that match the
    host's definition of that flavor?  Requests without a mapping pass."""
    by_rp: dict[str, list[Mapping[str, Any]]] = {}
    for pool in pools:
        rp = pool.get("rp_uuid")
        if rp is not None:
            by_rp.setdefault(rp, []).append(pool)
    mappings = candidate.get("mappings") or {}
    for req, pred in zip(plan.requests, preds, strict=True):
        for request_id in req.request_ids:
            for group, rps in mappings.items():
                if not group.startswith(request_id):
                    continue
                for rp in rps:
                    if not any(pred(p) for p in by_rp.get(rp, ())):
                        return False
    return True


# --- the compute's claim (PCI in Placement off) --------------------------------


#: Key of the pool signature cache in ``decide_host``'s ``shared`` dict
#: (``matching.cached_signature``), which the claim replay reads too.
SIGNATURES = ("signatures",)


@dataclasses.dataclass(frozen=True)
class ClaimStep:
    """Devices one of the instance's PCI requests takes from one pool in
    the compute's claim (as Nova's own pool logic replays it)."""

    #: The ``ManagedRequest.name`` the request would have: its
    #: ``alias_name``, or ``ports.request_name`` for a Neutron-port request
    #: with a physical network; None for other requests.
    name: str | None
    pool: Mapping[str, Any]
    count: int


@dataclasses.dataclass(frozen=True)
class ClaimOutcome:
    """What the compute's claim would take, in request order, or why it
    would fail."""

    steps: tuple[ClaimStep, ...] = ()
    #: Set when the claim would fail (Nova raises PciDeviceRequestFailed).
    failed: str | None = None
    #: Hashable, or None: outcomes with the same key take the same numbers
    #: of devices for the same requests from pools alike in every key but
    #: ``count``, and fail alike (``claim.replay_claim`` sets it when it
    #: shares a replay between hosts), so one judgement serves them all
    #: (``decide_host``'s ``shared``).
    key: Any = None


class ClaimReplay(Protocol):
    """Replays the compute's claim on one host (``claim.claim_replayer``)."""

    def __call__(self, *, ports_only: bool = False) -> ClaimOutcome:
        """All of the instance's PCI requests in order, or with
        ``ports_only`` its Neutron-port requests alone (those Placement
        does not map)."""
        ...


def port_indices(plan: RequestPlan) -> tuple[int, ...]:
    """Positions of the plan's Neutron-port requests (scheduler/ports.py)."""
    return tuple(i for i, r in enumerate(plan.requests) if r.predicate_for is not None)


def needs_claim_check(
    plan: RequestPlan, view: HostView, cache: DefinitionCache
) -> bool:
    """True unless every requested flavor's definition on this host is no
    narrower than its alias spec (then any device the claim may take for
    it serves it, and the joint check on the free pools is exact).

    A Neutron-port request always needs it: the compute claims by the
    port's spec (physical network, device type, trust), and a definition
    always fixes vendor and product ids, which no port spec states."""
    for req, values in zip(plan.requests, view.values, strict=True):
        if req.predicate_for is not None or not cache.covers(values, req.specs):
            return True
    return False


def describe_pool(pool: Mapping[str, Any]) -> str:
    """``0000:82:00.0 (10de:1db4 type-PCI, gpu_model=v100)`` for a log line
    (``a VF of 0000:81:01.0 (...)`` for a VF pool)."""
    skip = {"vendor_id", "product_id", "dev_type", "count", "address", "devices"}
    skip |= _IGNORED_SPEC_KEYS | {"rp_uuid"}
    tags = ", ".join("%s=%s" % (k, pool[k]) for k in sorted(pool) if k not in skip)
    ids = "%s:%s %s" % (
        pool.get("vendor_id"),
        pool.get("product_id"),
        pool.get("dev_type", "?"),
    )
    # A VF pool's address is its parent PF's (nova.pci.stats).
    vf = "a VF of " if pool.get("dev_type") == "type-VF" else ""
    return "%s%s (%s%s)" % (
        vf,
        pool.get("address", "?"),
        ids,
        ", " + tags if tags else "",
    )


def _served(name: str) -> str:
    """``PCI flavor 'a100'``, or a Neutron-port request's own name."""
    return name if name.startswith("port:") else "PCI flavor %r" % name


def judge_claim(
    outcome: ClaimOutcome,
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    judged: Sequence[int] | None = None,
) -> str | None:
    """None if the devices the claim takes for the managed requests (those
    at positions ``judged``, all by default) can be assigned to them, each
    matching the host's definition of what it serves (the set is judged,
    not Nova's request-to-device bookkeeping); else one line naming the
    device the compute would take and why it is outside."""
    if outcome.failed is not None:
        return "the compute's PCI claim would fail: %s" % outcome.failed
    if judged is None:
        judged = range(len(plan.requests))
    requests = [plan.requests[i] for i in judged]
    preds = [preds[i] for i in judged]
    index = {r.name: i for i, r in enumerate(requests)}
    steps = [s for s in outcome.steps if s.name in index]
    taken = [dict(s.pool, count=s.count) for s in steps]
    supply = matching.group_supply(taken, preds)
    demands = [r.count for r in requests]
    if sum(s.count for s in steps) >= sum(demands) and matching.supply_feasible(
        supply, demands
    ):
        return None
    names = "+".join(r.name for r in requests)
    for step in steps:
        if not any(pred(step.pool) for pred in preds):
            return (
                "the compute's claim would take %s for %s: it matches no "
                "definition of %s on this host"
                % (describe_pool(step.pool), _served(str(step.name)), names)
            )
    for step in steps:
        assert step.name is not None
        if not preds[index[step.name]](step.pool):
            return (
                "the compute's claim would take %s for %s: outside its "
                "definition on this host, and the devices taken that match "
                "it are needed by the others (%s)"
                % (describe_pool(step.pool), _served(step.name), names)
            )
    return "the compute's claim would not take enough devices for %s" % names


def decide_host(
    aggregates: Iterable[Any],
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    cache: DefinitionCache,
    *,
    candidates: Sequence[Mapping[str, Any]] | None = None,
    prune: Callable[[Callable[[Mapping[str, Any]], bool]], int] | None = None,
    claim: ClaimReplay | None = None,
    view: HostView | str | None = None,
    shared: dict[Any, Any] | None = None,
) -> str | None:
    """Decide one host: None if it serves the plan, else why not (one line).

    The one decision both the filter and offline callers use, from plain
    inputs: the host's aggregates and free pools; with PCI in Placement,
    its allocation ``candidates`` (``prune(fits)`` keeps those for which
    ``fits(candidate)`` holds and returns how many remain; without it they
    are only counted); ``claim()`` replays the compute's claim (None skips
    that check): without Placement's mapping, when a request's definition
    on this host is narrower than what the compute claims by (its alias
    spec, or a Neutron port's spec); with it, for the Neutron-port
    requests alone, which Placement does not map.

    ``shared``: one dict per scheduling request (the same ``plan``), in
    which hosts whose definitions compile to the same predicates share
    which predicates each pool matches (flavor-alias requests only: a
    Neutron-port predicate is left unshared) and ``judge_claim``'s verdict
    on claim outcomes with the same ``key``.
    """
    if plan.reject_all:
        return (
            "PCI flavor %r is not defined on any aggregate "
            "([aggregate_pci] reject_unmanaged_requests)" % plan.reject_all
        )
    if view is None:
        view = host_view(aggregates, plan, cache)
    if isinstance(view, str):
        return (
            "PCI flavor %r could not be served: the host is in no aggregate "
            "with a valid definition of it" % view
        )
    preds = view.preds
    masks = signatures = None
    if shared is not None and all(r.predicate_for is None for r in plan.requests):
        masks = shared.setdefault(("masks", preds), {})
        signatures = shared.setdefault(SIGNATURES, {})
    why = explain(pools, plan, preds, masks, signatures)
    if why is not None:
        return why
    if placement_maps_plan(candidates, plan):

        def fits(candidate: Mapping[str, Any]) -> bool:
            return candidate_fits(candidate, pools, plan, preds)

        kept = prune(fits) if prune is not None else sum(map(fits, candidates or ()))
        if not kept:
            return (
                "no Placement allocation candidate maps the PCI flavor "
                "requests to matching devices"
            )
        ports = port_indices(plan)
        if claim is None or not ports:
            return None
        # Devices a port may take carry a physical_network tag, which
        # Nova keeps out of Placement: the aliases' devices (mapped to
        # their providers) are others, so the ports' claim is replayed
        # alone.
        return _judged(claim(ports_only=True), plan, preds, shared, ports)
    if claim is not None and needs_claim_check(plan, view, cache):
        return _judged(claim(), plan, preds, shared, None)
    return None


def _judged(
    outcome: ClaimOutcome,
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    shared: dict[Any, Any] | None,
    judged: Sequence[int] | None,
) -> str | None:
    """``judge_claim``, shared between hosts whose outcomes have one key."""
    if shared is None or outcome.key is None:
        return judge_claim(outcome, plan, preds, judged)
    # judge_claim reads the steps' names, counts and pools but for their
    # count: all fixed by the outcome's key.
    key = ("judged", outcome.key, preds, judged)
    if key not in shared:
        shared[key] = judge_claim(outcome, plan, preds, judged)
    verdict: str | None = shared[key]
    return verdict
