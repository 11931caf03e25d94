"""Neutron-port PCI requests scoped by aggregate metadata (issue 13).

With ``[aggregate_pci] manage_port_requests`` on, a physical network P is
*managed* when any aggregate defines a PCI flavor whose definition has a
match object fixing ``physical_network`` to P.  A Neutron-port PCI request
(Nova builds one per SR-IOV port: no alias name, one spec with
``physical_network``, ``remote_managed`` and sometimes ``dev_type`` and
``trusted``) for a managed P then becomes one more ``ManagedRequest`` of the
instance's plan.  Its predicate on a host is

    (OR of the match objects fixing P in the host's aggregates' valid
     definitions)  AND  (the port spec, as Nova's claim reads it)

and the host passes only if it is in an aggregate with such a definition and
all managed requests (flavor aliases and ports) fit its free pools jointly.

"As Nova reads it" (nova/pci/stats.py, nova/pci/utils.py, Nova 34): every
spec key must equal the pool's value case-insensitively (a key absent from
the pool never matches a non-null value), PF pools serve only specs asking
``dev_type`` type-PF, vDPA pools only specs asking vdpa, and remote-managed
pools only specs asking ``remote_managed`` true.

Pure: duck-typed requests and aggregates, no Nova import.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.scheduler.host_view import IGNORED_SPEC_KEYS, DefinitionCache
from aggregate_pci.scheduler.request import ManagedRequest, RequestPlan

NET_TAG = "physical_network"
DEV_TYPE_TAG = "dev_type"
REMOTE_MANAGED_TAG = "remote_managed"
TYPE_PF = "type-PF"
TYPE_VDPA = "vdpa"

#: oslo_utils.strutils.TRUE_STRINGS (what Nova's bool_from_string accepts).
_TRUE_STRINGS = frozenset(("1", "t", "true", "on", "y", "yes"))


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def port_spec(request: Any) -> dict[str, Any] | None:
    """The spec of a Neutron-port PCI request with a physical network, or
    None for flavor-alias requests and ports without one (tunnelled)."""
    if getattr(request, "alias_name", None):
        return None
    specs: Sequence[Any] = getattr(request, "spec", None) or ()
    if len(specs) != 1:
        return None
    spec = dict(specs[0])
    physnet = spec.get(NET_TAG)
    if not isinstance(physnet, str) or not physnet:
        return None
    return spec


def managed_physnets(
    values: Iterable[str], parse: Callable[[str], Any] = codec.parse_value
) -> set[str]:
    """Physical networks (lower-cased) that some valid definition fixes.

    ``values`` are the values of every ``pci_flavor:*`` key in the cloud;
    bad values are skipped (they fix nothing).  ``parse`` may be a cache's
    (returning the error instead of raising).
    """
    found: set[str] = set()
    for value in values:
        try:
            parsed = parse(value)
        except codec.PciFlavorError:
            continue
        if not isinstance(parsed, codec.PciFlavorDefinition):
            continue
        for match in parsed.matches:
            for key, tag in match.tags:
                if key == NET_TAG:
                    found.add(tag.lower())
    return found


def spec_predicate(spec: Mapping[str, Any]) -> matching.Predicate:
    """``pool -> bool``: would Nova's claim take a device of ``pool`` for
    this port spec?  (Prop match plus the unrequested PF, vDPA and
    remote-managed exclusions; NUMA and Placement are left to Nova.)"""
    checks = tuple(
        (key, _lower(value))
        for key, value in sorted(spec.items())
        if key not in IGNORED_SPEC_KEYS
    )
    dev_type = spec.get(DEV_TYPE_TAG)
    allow_pf = dev_type == TYPE_PF
    allow_vdpa = dev_type == TYPE_VDPA
    allow_remote = _truthy(spec.get(REMOTE_MANAGED_TAG))

    def predicate(pool: matching.Pool) -> bool:
        for key, want in checks:
            if _lower(pool.get(key)) != want:
                return False
        pool_type = pool.get(DEV_TYPE_TAG)
        if pool_type == TYPE_PF and not allow_pf:
            return False
        if pool_type == TYPE_VDPA and not allow_vdpa:
            return False
        return allow_remote or not _truthy(pool.get(REMOTE_MANAGED_TAG))

    return predicate


def physnet_matches(
    aggregates: Iterable[Any], physnet: str, cache: DefinitionCache
) -> list[codec.DeviceMatch]:
    """The match objects fixing ``physnet`` in the valid definitions of any
    PCI flavor on ``aggregates`` (sorted, duplicates dropped)."""
    found: set[codec.DeviceMatch] = set()
    for agg in aggregates:
        found.update(aggregate_physnet_matches(agg, physnet, cache))
    return sorted(found, key=lambda m: sorted(m.to_dict().items()))


def aggregate_physnet_matches(
    agg: Any, physnet: str, cache: DefinitionCache
) -> frozenset[codec.DeviceMatch]:
    """The match objects fixing ``physnet`` in the valid definitions of any
    PCI flavor on one aggregate."""
    want = physnet.lower()
    found: set[codec.DeviceMatch] = set()
    for key, value in agg.metadata.items():
        if not codec.is_flavor_key(key):
            continue
        parsed = cache.parse(value)
        if isinstance(parsed, codec.PciFlavorError):
            cache.log_bad(agg, key, parsed)
            continue
        for match in parsed.matches:
            if any(k == NET_TAG and v.lower() == want for k, v in match.tags):
                found.add(match)
    return frozenset(found)


def host_port_predicate(
    aggregates: Iterable[Any],
    spec: Mapping[str, Any],
    cache: DefinitionCache,
) -> matching.Predicate | None:
    """The predicate of one port request on a host, or None if no aggregate
    of the host defines a flavor fixing the port's physical network."""
    matches = physnet_matches(aggregates, str(spec[NET_TAG]), cache)
    if not matches:
        return None
    return port_predicate(tuple(matches), spec)


def port_predicate(
    matches: tuple[codec.DeviceMatch, ...], spec: Mapping[str, Any]
) -> matching.Predicate:
    """The predicate of one port request on hosts whose aggregates' match
    objects fixing its physical network are ``matches``."""
    in_definition = matching.compile_definition(
        codec.PciFlavorDefinition(tuple(matches))
    )
    by_spec = spec_predicate(spec)

    def predicate(pool: matching.Pool) -> bool:
        return by_spec(pool) and in_definition(pool)

    return predicate


def request_name(spec: Mapping[str, Any]) -> str:
    """A short name for log lines, e.g. ``port:physnet2`` or
    ``port:physnet2[dev_type=type-PF,trusted=True]``."""
    extra = [
        "%s=%s" % (k, v)
        for k, v in sorted(spec.items())
        if k not in (NET_TAG, REMOTE_MANAGED_TAG)
        or (k == REMOTE_MANAGED_TAG and _truthy(v))
    ]
    base = "port:%s" % spec[NET_TAG]
    return "%s[%s]" % (base, ",".join(extra)) if extra else base


def port_requests(
    pci_requests: Iterable[Any], physnets: Callable[[], set[str]]
) -> tuple[ManagedRequest, ...]:
    """The managed port requests of an instance (identical specs summed).

    ``physnets`` (the managed physical networks, lower-cased) is called only
    if the instance has a port request with a physical network.
    """
    by_spec: dict[tuple[tuple[str, Any], ...], list[Any]] = {}
    for req in pci_requests:
        spec = port_spec(req)
        if spec is not None:
            by_spec.setdefault(tuple(sorted(spec.items())), []).append(req)
    if not by_spec:
        return ()
    managed = physnets()
    out = []
    for items, reqs in by_spec.items():
        spec = dict(items)
        if str(spec[NET_TAG]).lower() not in managed:
            continue
        out.append(
            ManagedRequest(
                request_name(spec),
                "",
                sum(getattr(r, "count", 1) or 1 for r in reqs),
                # Nova 34 does not map port PCI requests to Placement, so
                # no candidate pruning by request id applies to them.
                (),
                predicate_for=_builder(spec),
            )
        )
    return tuple(out)


def _builder(
    spec: Mapping[str, Any],
) -> Callable[[Sequence[Any], DefinitionCache], matching.Predicate | None]:
    frozen = dict(spec)
    # One predicate object per set of match objects, for the plan's life
    # (one scheduling request): hosts whose aggregates fix the port's
    # physical network alike share it, so ``decide_host`` shares each
    # pool's predicate mask between them (issue 21).
    built: dict[frozenset[codec.DeviceMatch], matching.Predicate] = {}
    # Each aggregate's match objects fixing the physical network, read once
    # per plan (the aggregate is kept, so its id is not reused).
    per_aggregate: dict[int, tuple[Any, frozenset[codec.DeviceMatch]]] = {}
    physnet = str(frozen[NET_TAG])

    def build(
        aggregates: Sequence[Any], cache: DefinitionCache
    ) -> matching.Predicate | None:
        found: set[codec.DeviceMatch] = set()
        for agg in aggregates:
            hit = per_aggregate.get(id(agg))
            if hit is None or hit[0] is not agg:
                hit = per_aggregate[id(agg)] = (
                    agg,
                    aggregate_physnet_matches(agg, physnet, cache),
                )
            found.update(hit[1])
        if not found:
            return None
        key = frozenset(found)
        pred = built.get(key)
        if pred is None:
            ordered = sorted(found, key=lambda m: sorted(m.to_dict().items()))
            pred = built[key] = port_predicate(tuple(ordered), frozen)
        return pred

    return build


def extend_plan(
    plan: RequestPlan | None,
    pci_requests: Iterable[Any],
    physnets: Callable[[], set[str]],
) -> RequestPlan | None:
    """``plan`` with the instance's managed port requests added."""
    if plan is not None and plan.reject_all:
        return plan
    extra = port_requests(pci_requests, physnets)
    if not extra:
        return plan
    if plan is None:
        return RequestPlan(extra)
    return dataclasses.replace(plan, requests=plan.requests + extra)


def nova_request_name(request: Any) -> str | None:
    """The ``ManagedRequest.name`` a Nova PCI request (an
    ``InstancePCIRequest``) would have: its ``alias_name``, or the port
    request's name; for ``ClaimStep.name``."""
    alias = getattr(request, "alias_name", None)
    if alias:
        return str(alias)
    spec = port_spec(request)
    return request_name(spec) if spec is not None else None
