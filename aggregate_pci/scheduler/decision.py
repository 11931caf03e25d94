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
from typing import Any, Callable, Iterable, Mapping, Sequence

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
            )
        )
    return RequestPlan(tuple(wanted)) if wanted else None


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

    @staticmethod
    def _parse(value: str) -> codec.PciFlavorDefinition | codec.PciFlavorError:
        try:
            return codec.parse_value(value)
        except codec.PciFlavorError as exc:
            # Cached for the filter's lifetime: keep a fresh copy, without
            # the traceback and context whose frames would keep the first
            # request's host states alive.
            return codec.PciFlavorError(exc.reason, exc.key, exc.aggregate)

    def _compile(self, values: tuple[str, ...]) -> matching.Predicate:
        # Only values that parsed (see ``host_predicates``) get here.
        parsed = [self.parse(value) for value in values]
        definitions = [d for d in parsed if isinstance(d, codec.PciFlavorDefinition)]
        definition = definitions[0]
        for d in definitions[1:]:
            definition = definition.union(d)
        return matching.compile_definition(definition)

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
            "logged": len(self._logged),
        }


def host_predicates(
    aggregates: Iterable[Any], plan: RequestPlan, cache: DefinitionCache
) -> list[matching.Predicate] | str:
    """One predicate per managed request for this host, or the name of the
    first flavor the host cannot serve at all (not in a defining aggregate,
    or only bad definitions)."""
    values: dict[str, list[str]] = {r.key: [] for r in plan.requests}
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
    preds = []
    for req in plan.requests:
        if req.predicate_for is not None:  # Neutron ports (scheduler/ports.py)
            pred = req.predicate_for(list(aggregates), cache)
            if pred is None:
                return req.name
            preds.append(pred)
            continue
        found = values[req.key]
        if not found:
            return req.name
        preds.append(cache.compile(tuple(sorted(set(found)))))
    return preds


def explain(
    pools: Sequence[Mapping[str, Any]],
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
) -> str | None:
    """None if the plan fits the pools, else why not (one line)."""
    supply = matching.group_supply(pools, preds)
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
