"""Neutron ports (issue 13), independently of aggregate_pci.scheduler.ports,
and Nova's greedy claim replayed by hand: the end-to-end decision of the
scheduler (our filter and Nova's PciPassthroughFilter together)."""

from __future__ import annotations

import functools
from typing import Any, Sequence

from aggregate_pci import codec
from tests.reference.aggregates import (
    Units,
    alias_units,
    any_match,
    parse_or_none,
    units_fit,
)

NET_TAG = "physical_network"
_TRUE_STRINGS = frozenset(("1", "t", "true", "on", "y", "yes"))


def _truthy(value: Any) -> bool:
    """As oslo's bool_from_string (what Nova applies to remote_managed)."""
    return (
        isinstance(value, (str, bool)) and str(value).strip().lower() in _TRUE_STRINGS
    )


def reference_physnets(aggs: Sequence[Any]) -> set[str]:
    """Physical networks (lower-cased) fixed by a match object of some valid
    definition in the cloud: the managed ones."""
    found = set()
    for agg in aggs:
        for key, value in agg.metadata.items():
            definition = (
                parse_or_none(value) if key.startswith(codec.KEY_PREFIX) else None
            )
            for m in definition.matches if definition else ():
                found.update(v.lower() for k, v in m.tags if k == NET_TAG)
    return found


def physnet_matches(host: Any, physnet: str) -> list[codec.DeviceMatch]:
    """The match objects fixing ``physnet`` in the valid definitions of any
    PCI flavor in the host's aggregates (ORed)."""
    want = physnet.lower()
    out = []
    for agg in host.aggregates:
        for key, value in agg.metadata.items():
            definition = (
                parse_or_none(value) if key.startswith(codec.KEY_PREFIX) else None
            )
            for m in definition.matches if definition else ():
                if any(k == NET_TAG and v.lower() == want for k, v in m.tags):
                    out.append(m)
    return out


def _spec_match(pool: dict[str, Any], spec: dict[str, str]) -> bool:
    """Independent of Nova: every spec key equal (case-insensitive)."""
    return all(str(pool.get(k, "")).lower() == str(v).lower() for k, v in spec.items())


def _claim_takes(pool: dict[str, Any], specs: Sequence[dict[str, str]]) -> bool:
    """Would Nova's claim of a request with ``specs`` take a device of
    ``pool`` (no NUMA cells, no Placement)?  A spec whose every key equals
    the pool's value case-insensitively; PF pools only if a spec asks
    type-PF, vDPA pools only if one asks vdpa, remote-managed pools only if
    one asks remote_managed true."""
    if not any(_spec_match(pool, s) for s in specs):
        return False
    dev_type = pool.get("dev_type")
    for special in ("type-PF", "vdpa"):
        if dev_type == special and not any(s.get("dev_type") == special for s in specs):
            return False
    return not _truthy(pool.get("remote_managed")) or any(
        _truthy(s.get("remote_managed")) for s in specs
    )


def _port_match(
    matches: Sequence[codec.DeviceMatch], spec: dict[str, str], pool: dict[str, Any]
) -> bool:
    return any_match(matches, pool) and _claim_takes(pool, [spec])


def port_of(req: Any) -> dict[str, str] | None:
    """The spec of a Neutron-port request with a physical network (no alias
    name, one spec), else None."""
    specs = list(req.spec or ())
    if req.alias_name or len(specs) != 1 or not specs[0].get(NET_TAG):
        return None
    return dict(specs[0])


def request_key(req: Any) -> str:
    """The alias name, or ``port:`` and the port's spec (identical ports
    share a key)."""
    port = port_of(req)
    if port is None:
        return str(req.alias_name)
    return "port:" + ",".join("%s=%s" % kv for kv in sorted(port.items()))


def request_units(
    host: Any, requests: Sequence[Any], managed: set[str], physnets: set[str]
) -> Units | None:
    """Per managed request (flavor aliases, and ports on a managed physical
    network): devices asked and the pools serving it on ``host``, i.e. the
    OR of its definitions' match objects (for a port: the objects fixing its
    physical network, AND its spec as the claim reads it).  None if the
    host has no definition for one of them."""
    wanted = [(r.alias_name, r.count) for r in requests if port_of(r) is None]
    units = alias_units(host, wanted, managed)
    if units is None:
        return None
    for req in requests:
        port = port_of(req)
        if port is None or port[NET_TAG].lower() not in physnets:
            continue
        matches = physnet_matches(host, port[NET_TAG])
        if not matches:
            return None
        key = request_key(req)
        pred = functools.partial(_port_match, matches, port)
        units[key] = (units.get(key, (0, pred))[0] + req.count, pred)
    return units


def reference_claim(host: Any, requests: Sequence[Any]) -> list[tuple[str, int]] | None:
    """Nova's greedy claim with PCI in Placement off, replayed the slow
    obvious way (no NUMA cells, as the benchmark's requests carry no NUMA
    topology): per request in order (flavor aliases, then ports), the pools
    its claim may take (``_claim_takes``), in pool order, each drained as
    far as needed.  Returns (``request_key``, pool index) per device
    taken, or None if the claim fails."""
    pools = host.pci_stats.pools
    free = [max(int(p.get("count", 0)), 0) for p in pools]
    taken: list[tuple[str, int]] = []
    for req in requests:
        specs = list(req.spec)
        ok = [i for i, p in enumerate(pools) if free[i] and _claim_takes(p, specs)]
        need = req.count
        if sum(free[i] for i in ok) < need:
            return None
        for i in ok:
            take = min(need, free[i])
            free[i] -= take
            need -= take
            taken += [(request_key(req), i)] * take
            if not need:
                break
    return taken


def _fit(
    host: Any, requests: Sequence[Any], managed: set[str], physnets: set[str]
) -> tuple[str, Units | None]:
    units = request_units(host, requests, managed, physnets)
    if units is None:
        return "no-definition", None
    if units and not units_fit(host.pci_stats.pools, units):
        return "no-fit", units
    return "pass", units


def reference_fit(
    host: Any,
    requests: Sequence[Any],
    managed: set[str],
    physnets: set[str] = frozenset(),
) -> str:
    """Our filter's decision before the claim replay: "no-definition" or
    "no-fit" for the managed requests (``request_units``, exhaustive), else
    "pass"."""
    return _fit(host, requests, managed, physnets)[0]


def reference_claim_decision(
    host: Any,
    requests: Sequence[Any],
    managed: set[str],
    physnets: set[str] = frozenset(),
) -> str:
    """The end-to-end decision of the scheduler (our filter and Nova's
    PciPassthroughFilter) computed independently: ``reference_fit``, then
    "claim-fails" if Nova's greedy claim fails, then "claim-outside" unless
    the devices the claim takes for the managed requests can be assigned
    to them, each in a pool its predicate accepts (exhaustive)."""
    fit, units = _fit(host, requests, managed, physnets)
    if fit != "pass" or units is None:
        return fit
    pools = host.pci_stats.pools
    taken = reference_claim(host, requests)
    if taken is None:
        return "claim-fails"
    mine = [i for key, i in taken if key in units]
    devices = sorted(set(mine))
    taken_pools = [dict(pools[i], count=mine.count(i)) for i in devices]
    return "pass" if units_fit(taken_pools, units) else "claim-outside"
