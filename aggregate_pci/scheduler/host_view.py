"""Step 2 of the filter's decision: a host's definitions of the requested
PCI flavors, read from its aggregates' metadata.

``DefinitionCache`` parses and compiles each metadata value once for the
filter's lifetime; ``host_view`` gives one host's definitions of a plan.

Pure: duck-typed aggregates (``.metadata``), no Nova import.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.scheduler.request import RequestPlan

LOG = logging.getLogger(__name__)

#: Spec keys Nova's pool matching ignores (nova.pci.stats.PciDeviceStats;
#: matched by Placement instead).
IGNORED_SPEC_KEYS = frozenset(("resource_class", "traits", "rp_uuids"))


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
        spec = {k: v for k, v in entry if k not in IGNORED_SPEC_KEYS}
        if not spec.get("vendor_id") or not spec.get("product_id"):
            return False
        if not any(_match_covers(m, spec) for m in definition.matches):
            return False
    return True


class ScanResistantMemo:
    """``function`` memoised by its arguments, at most ``size`` entries,
    least recently used out; but once full, a new entry goes in at the
    least-recently-used end (moved up on its first hit), save every
    ``ADMIT_EVERY``-th.

    Plain LRU (``functools.lru_cache``) misses every time when one request
    reads more distinct values than ``size`` in a cycle (every
    ``pci_flavor:*`` value for a port request, issue 22): each entry is
    evicted before its next use.  Here the entries already held keep
    hitting and the newcomers take turns in the last place, while the
    occasional admission at the top still lets a changed cloud's new
    values in (bimodal insertion).
    """

    #: One new entry in this many goes in at the most-recently-used end.
    ADMIT_EVERY = 8

    def __init__(self, function: Callable[..., Any], size: int) -> None:
        self._function = function
        self._size = size
        self._data: collections.OrderedDict[tuple[Any, ...], Any] = (
            collections.OrderedDict()
        )
        self._misses = 0

    def __call__(self, *args: Any) -> Any:
        try:
            value = self._data[args]
        except KeyError:
            return self._miss(args)
        self._data.move_to_end(args)
        return value

    def _miss(self, args: tuple[Any, ...]) -> Any:
        value = self._function(*args)
        data = self._data
        if len(data) < self._size:
            data[args] = value
            return value
        self._misses += 1
        data.popitem(last=False)
        data[args] = value
        if self._misses % self.ADMIT_EVERY:
            data.move_to_end(args, last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class DefinitionCache:
    """Parsed metadata values and compiled host definitions, bounded.

    Keyed by the metadata text itself, so a changed value is a cache miss:
    no invalidation is needed when aggregates change.
    """

    def __init__(self, size: int) -> None:
        self._logged: set[tuple[str, str, str]] = set()
        self._log_limit = size
        self.parse = ScanResistantMemo(self._parse, size)
        self.compile = ScanResistantMemo(self._compile, size)
        self.covers = ScanResistantMemo(self._covers, size)

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
            "parsed": len(self.parse),
            "compiled": len(self.compile),
            "covers": len(self.covers),
            "logged": len(self._logged),
        }


@dataclasses.dataclass(frozen=True)
class HostView:
    """A host's definitions of the requested flavors: per managed request
    the metadata values that define it (sorted) and their compiled OR."""

    values: tuple[tuple[str, ...], ...]
    preds: tuple[matching.Predicate, ...]


#: ``host_values``' memo for one plan: per aggregate (by id, the aggregate
#: kept so that the id is not reused) its valid value of each of the plan's
#: ``pci_flavor:NAME`` keys, None where it has none.
PerAggregate = dict[int, tuple[Any, tuple[str | None, ...]]]


def host_view(
    aggregates: Iterable[Any],
    plan: RequestPlan,
    cache: DefinitionCache,
    per_aggregate: PerAggregate | None = None,
) -> HostView | str:
    """The host's definitions of the plan's flavors, or the name of the
    first flavor the host cannot serve at all (see ``host_predicates``).
    ``per_aggregate``: see ``host_values``."""
    aggregates = list(aggregates)
    values = host_values(aggregates, plan, cache, per_aggregate)
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
    aggregates: Iterable[Any],
    plan: RequestPlan,
    cache: DefinitionCache,
    per_aggregate: PerAggregate | None = None,
) -> tuple[tuple[str, ...], ...] | str:
    """The valid metadata values defining each managed request on this
    host (sorted, deduplicated; none for a Neutron-port request, decided by
    its ``predicate_for``), or the first flavor name without any.
    ``per_aggregate`` (one per plan, e.g. ``RequestMemo.aggregate_values``)
    reads each aggregate's metadata once for all hosts in it."""
    keys = tuple(r.key for r in plan.requests if r.predicate_for is None)
    values: dict[str, list[str]] = {key: [] for key in keys}
    for agg in aggregates:
        if per_aggregate is None:
            own = _aggregate_values(agg, keys, cache)
        else:
            hit = per_aggregate.get(id(agg))
            if hit is None or hit[0] is not agg:
                hit = per_aggregate[id(agg)] = (
                    agg,
                    _aggregate_values(agg, keys, cache),
                )
            own = hit[1]
        for key, value in zip(keys, own, strict=True):
            if value is not None:
                values[key].append(value)
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


def _aggregate_values(
    agg: Any, keys: tuple[str, ...], cache: DefinitionCache
) -> tuple[str | None, ...]:
    """One aggregate's valid value of each key, None where it has none (a
    bad value is logged once and counts as none)."""
    metadata = agg.metadata
    out: list[str | None] = []
    for key in keys:
        value = metadata.get(key)
        if value is not None:
            parsed = cache.parse(value)
            if isinstance(parsed, codec.PciFlavorError):
                cache.log_bad(agg, key, parsed)
                value = None
        out.append(value)
    return tuple(out)
