"""The rules of ``audit``: do the PCI devices instances hold match the
current PCI flavor definitions of their hosts?

Pure: inputs are ``Allocation``s (what ``nova_db`` reads from the cell
databases, or the ``allocations`` section of an inventory file) and
``PciFlavorRecord``s (or any objects with the same attributes).

An instance is judged as a set, never by Nova's request-to-device
bookkeeping: with overlapping flavors Nova may record a device against the
"other" request while the instance holds exactly what its flavors ask for.
The instance is correct when its devices can be assigned one to one to its
requested device slots, a slot of a managed flavor taking only a device its
host's current definition (OR of the host's aggregates' ones) matches
(``matching.feasible``, exact).  Slots of unmanaged aliases take any device
(their aliases, not ours, decide).  A device whose tags are unknown (the
host's ``[pci] device_spec`` was not given) matches a definition that uses
tags neither surely nor surely not: the instance is ``unknown`` unless it is
wrong or right either way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.admin.checks.audit_judge import (
    DeviceJudge,
    max_assignment,
    uses_tags,
)
from aggregate_pci.admin.models import Allocation, Device, host_definitions

__all__ = ["Allocation", "Device", "audit", "judge_instance", "summarize"]

YES = "yes"
NO = "no"
UNKNOWN = "unknown"
UNMANAGED = "unmanaged"
#: Instance shapes (aggregates, requests, devices) whose verdicts ``audit``
#: remembers at once (the memo starts again when full).
MEMO_SIZE = 100_000


@dataclasses.dataclass(frozen=True)
class DeviceRow:
    """One device of an audited instance and its verdict."""

    instance: str
    host: str
    flavor: str
    device: Device
    match: str
    reason: str
    #: What the operator should do about a ``no`` or ``unknown`` verdict.
    fix: str = ""


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """Instances and devices per flavor in one scope (total, aggregate, host)."""

    flavor: str
    scope: str
    name: str
    instances: int
    devices: int
    mismatched: int
    unknown: int


@dataclasses.dataclass
class AuditResult:
    rows: list[DeviceRow]
    summary: list[SummaryRow]
    #: One line each: hosts whose device tags are unknown where it matters.
    warnings: list[str]

    @property
    def mismatched_instances(self) -> int:
        return len({r.instance for r in self.rows if r.match == NO})


def judge_instance(
    alloc: Allocation,
    definitions: Mapping[str, codec.PciFlavorDefinition],
    managed: set[str],
    judge: DeviceJudge | None = None,
) -> list[DeviceRow]:
    """The verdict on each device of one instance (empty if the instance
    requests no managed alias); ``judge`` (of ``definitions``) is reused
    across the instances of one host."""
    names = [n for n, c in alloc.requests if c > 0]
    if not any(n in managed for n in names):
        return []
    if judge is None:
        judge = DeviceJudge(definitions)
    devices = list(alloc.devices)
    # Counted, not expanded: a name never takes more slots than there are
    # devices (a count of 10**12 in a file must not make a list of it).
    total = sum(max(c, 0) for _, c in alloc.requests)
    slots = [n for n, c in alloc.requests for _ in range(min(max(c, 0), len(devices)))]

    def edge_value(d: int, name: str) -> bool | None:
        if name not in managed:
            return True
        return judge.match(name, devices[d])

    def verdict(optimistic: bool) -> bool:
        if len(devices) != total:
            return False
        requests = []
        for name in dict.fromkeys(slots):
            allowed = {
                id(devices[d])
                for d in range(len(devices))
                if edge_value(d, name) in ((True, None) if optimistic else (True,))
            }
            requests.append(
                (_member(allowed), slots.count(name)),
            )
        pools = [dict(dev.pool({}), _id=id(dev)) for dev in devices]
        return matching.feasible(pools, requests)

    sure, possible = verdict(False), verdict(True)
    status = YES if sure else (UNKNOWN if possible else NO)
    assignment = max_assignment(
        len(devices), slots, lambda d, name: edge_value(d, name) is not False
    )
    rows = []
    for d, dev in enumerate(devices):
        slot = assignment.get(d)
        flavor = slots[slot] if slot is not None else (dev.alias or "")
        # An instance that is wrong with a device left over: that device
        # carries the "no", the assigned ones are judged alone.
        match, reason = _device_verdict(
            status if status != NO or len(assignment) == len(devices) else "",
            flavor,
            slot is not None,
            managed,
            alloc,
            judge,
            dev,
        )
        rows.append(_row(alloc, dev, flavor, match, reason, managed, judge))
    return rows


def _row(
    alloc: Allocation,
    dev: Device,
    flavor: str,
    match: str,
    reason: str,
    managed: set[str],
    judge: DeviceJudge,
) -> DeviceRow:
    """One device's row, with what to do about its verdict."""
    undefined = {n for n, _ in alloc.requests if n in managed} - set(judge.defs)
    return DeviceRow(
        alloc.instance,
        alloc.host,
        flavor,
        dev,
        match,
        reason,
        _fix(match, alloc, undefined),
    )


def _fix(match: str, alloc: Allocation, undefined: set[str]) -> str:
    """What to do about a device's verdict: a ``no`` is fixed by a cold
    migration (the scheduler then places the server on devices its
    flavor's current definition matches), an ``unknown`` by the host's
    nova.conf."""
    if match == UNKNOWN:
        return "give --compute-conf %s=NOVA_CONF (its [pci] device_spec)" % alloc.host
    if match != NO:
        return ""
    fix = (
        "cold-migrate it ('openstack server migrate', then 'openstack server "
        "resize confirm'): the scheduler then picks a matching device"
    )
    if undefined:
        fix += "; or put host %s back into an aggregate defining %s" % (
            alloc.host,
            ", ".join(sorted(undefined)),
        )
    return fix


def _member(allowed: set[int]) -> matching.Predicate:
    return lambda pool: pool.get("_id") in allowed


def _request_text(alloc: Allocation) -> str:
    return ",".join("%s:%d" % (n, c) for n, c in alloc.requests)


def _device_verdict(
    status: str,
    flavor: str,
    assigned: bool,
    managed: set[str],
    alloc: Allocation,
    judge: DeviceJudge,
    dev: Device,
) -> tuple[str, str]:
    if assigned and flavor not in managed:
        return UNMANAGED, "alias %r is not a PCI flavor" % flavor
    if status == YES:
        return YES, ""
    if not assigned:  # left over in a maximum assignment
        requested = sorted({n for n, _ in alloc.requests if n in managed})
        missing = [n for n in requested if n not in judge.defs]
        if len(alloc.devices) > sum(c for _, c in alloc.requests):
            why = "one device more than %s asks for" % _request_text(alloc)
        elif any(judge.match(n, dev) is not False for n in requested):
            why = "the instance's devices cannot serve %s together" % (
                _request_text(alloc)
            )
        else:
            why = "outside the host's current definition of %s" % ", ".join(requested)
        if missing:
            why += "; the host has no definition of %s now" % ", ".join(missing)
        return NO, why
    if status == NO:  # every device assigned, yet some slot is empty
        return NO, "the instance holds %d device(s) for %s" % (
            len(alloc.devices),
            _request_text(alloc),
        )
    if judge.match(flavor, dev) is None:
        return UNKNOWN, "device tags unknown; the definition of %s uses %s" % (
            flavor,
            ", ".join(sorted(uses_tags(judge.defs[flavor]))),
        )
    return YES, ""


def audit(allocations: Iterable[Allocation], records: Sequence[Any]) -> AuditResult:
    """Every device of every instance requesting a managed alias, judged
    against its host's current definitions, plus summaries and warnings."""
    per_host = host_definitions(records)
    managed = {r.name for r in records if r.definition is not None}
    # One judge per distinct definitions (aggregates often define alike) and
    # one verdict per (judge, requests, devices) shape: a fleet's instances
    # repeat them (devices equal in value are one object when read from an
    # inventory; otherwise the memo only misses).
    none: dict[str, codec.PciFlavorDefinition] = {}
    compiled: dict[int, tuple[Any, ...]] = {}
    judges: dict[tuple[Any, ...], DeviceJudge] = {}
    judge_of: dict[int, DeviceJudge] = {}
    memo: dict[tuple[Any, ...], list[tuple[str, str, str]]] = {}
    rows: list[DeviceRow] = []
    for alloc in sorted(allocations, key=lambda a: (a.host, a.instance)):
        defs = per_host.get(alloc.host, none)
        judge = judge_of.get(id(defs))
        if judge is None:
            judge = judges.get(tuple(defs.items()))
            if judge is None:
                judge = judges[tuple(defs.items())] = DeviceJudge(defs, compiled)
            judge_of[id(defs)] = judge
        key = (id(judge), alloc.requests, tuple(map(id, alloc.devices)))
        known = memo.get(key)
        if known is None:
            found = judge_instance(alloc, judge.defs, managed, judge)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = [(r.flavor, r.match, r.reason) for r in found]
            rows.extend(found)
            continue
        if not known:  # no managed alias requested
            continue
        rows.extend(
            _row(alloc, dev, flavor, match, reason, managed, judge)
            for dev, (flavor, match, reason) in zip(alloc.devices, known, strict=True)
        )
    return AuditResult(rows, summarize(rows, records), _warnings(rows, per_host))


def _warnings(
    rows: Sequence[DeviceRow],
    per_host: Mapping[str, Mapping[str, codec.PciFlavorDefinition]],
) -> list[str]:
    out = []
    blind: dict[str, set[str]] = {}
    for r in rows:
        if r.device.tags is None:
            for name, definition in per_host.get(r.host, {}).items():
                if uses_tags(definition):
                    blind.setdefault(r.host, set()).add(name)
    for host, names in sorted(blind.items()):
        out.append(
            "host %r: device tags unknown (give --compute-conf %s=NOVA_CONF, that "
            "compute's nova.conf with its [pci] device_spec) and the definition "
            "of %s there uses tags: instances needing them are judged 'unknown'"
            % (host, host, ", ".join(sorted(names)))
        )
    return out


def summarize(rows: Sequence[DeviceRow], records: Sequence[Any]) -> list[SummaryRow]:
    """Per flavor: the total, each aggregate defining it for the device's
    host, and each host (instances, devices, mismatched, unknown)."""
    # per aggregate (one hosts tuple per aggregate, so a name twice stays
    # two aggregates): the PCI flavors it defines; then per host, those
    names: dict[tuple[str, int], tuple[set[str], Sequence[str]]] = {}
    for r in records:
        if r.definition is not None:
            key = (r.aggregate, id(r.hosts))
            names.setdefault(key, (set(), r.hosts))[0].add(r.name)
    member_of: dict[str, list[tuple[str, set[str]]]] = {}
    for (agg, _), (defined, hosts) in names.items():
        for host in hosts:
            member_of.setdefault(host, []).append((agg, defined))
    # per (flavor, host) first; the totals and aggregates add those up
    per_host: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        if row.match == UNMANAGED:
            continue
        entry = per_host.get((row.flavor, row.host))
        if entry is None:
            entry = per_host[(row.flavor, row.host)] = [set(), 0, 0, 0]
        entry[0].add(row.instance)
        entry[1] += 1
        entry[2] += row.match == NO
        entry[3] += row.match == UNKNOWN
    counts: dict[tuple[str, str, str], list[Any]] = {}

    def add(key: tuple[str, str, str], part: list[Any]) -> None:
        entry = counts.setdefault(key, [set(), 0, 0, 0])
        entry[0].update(part[0])
        entry[1] += part[1]
        entry[2] += part[2]
        entry[3] += part[3]

    for (flavor, host), part in per_host.items():
        add((flavor, "total", "*"), part)
        aggs = [a for a, defined in member_of.get(host, ()) if flavor in defined]
        for agg in aggs or ["(none)"]:
            add((flavor, "aggregate", agg), part)
        counts[(flavor, "host", host)] = part
    order = {"total": 0, "aggregate": 1, "host": 2}
    return [
        SummaryRow(f, scope, name, len(c[0]), c[1], c[2], c[3])
        for (f, scope, name), c in sorted(
            counts.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])
        )
    ]
