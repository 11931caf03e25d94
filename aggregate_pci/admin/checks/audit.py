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
import functools
from typing import Any, Iterable, Iterator, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.admin.checks import audit_summary
from aggregate_pci.admin.checks.audit_judge import (
    NO,
    UNKNOWN,
    UNMANAGED,
    YES,
    DeviceJudge,
    max_assignment,
    uses_tags,
)
from aggregate_pci.admin.checks.audit_summary import SummaryRow, summarize
from aggregate_pci.admin.models import Allocation, Device, host_definitions

__all__ = [
    "Allocation",
    "Device",
    "SummaryRow",
    "audit",
    "judge_instance",
    "summarize",
    "NO",
    "UNKNOWN",
    "UNMANAGED",
    "YES",
]

#: Instance shapes (aggregates, requests, devices) whose verdicts ``audit``
#: remembers at once (the memo starts again when full).
MEMO_SIZE = 100_000
#: (PCI flavor, match, reason) per device of an instance, in its order.
Verdicts = list[tuple[str, str, str]]


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


class AuditResult:
    """The verdicts on every instance requesting a managed alias; its
    device rows and summary are built when first asked for (the exporter
    and ``--summary`` only count)."""

    def __init__(
        self,
        judged: list[tuple[Allocation, DeviceJudge, Verdicts]],
        records: Sequence[Any],
        managed: set[str],
        warnings: list[str],
    ) -> None:
        self.judged = judged
        self.records = records
        self.managed = managed
        #: One line each: hosts whose device tags are unknown where it matters.
        self.warnings = warnings

    def device_verdicts(self) -> Iterator[tuple[str, str, str, str]]:
        """(PCI flavor, host, instance, match) per device, in row order."""
        for alloc, _, verdicts in self.judged:
            host, instance = alloc.host, alloc.instance
            for flavor, match, _ in verdicts:
                yield flavor, host, instance, match

    def device_rows(self) -> Iterator[tuple[Allocation, Device, str, str, str, str]]:
        """(allocation, device, PCI flavor, match, reason, what to do) per
        device, in row order: ``rows`` without an object per row."""
        managed = self.managed
        for alloc, judge, verdicts in self.judged:
            for dev, (flavor, match, reason) in zip(
                alloc.devices, verdicts, strict=True
            ):
                yield (
                    alloc,
                    dev,
                    flavor,
                    match,
                    reason,
                    _fix_of(alloc, match, managed, judge),
                )

    @functools.cached_property
    def rows(self) -> list[DeviceRow]:
        """One row per device, sorted by host and instance."""
        return [
            DeviceRow(alloc.instance, alloc.host, flavor, dev, match, reason, fix)
            for alloc, dev, flavor, match, reason, fix in self.device_rows()
        ]

    @functools.cached_property
    def summary(self) -> list[SummaryRow]:
        """Per flavor: the total, each aggregate defining it for the
        device's host, and each host (``summarize`` of the rows)."""
        parts = audit_summary.host_parts(self.device_verdicts())
        return audit_summary.summary_rows(parts, self.records)

    @property
    def instances(self) -> int:
        """Instances with a device row."""
        return len({alloc.instance for alloc, _, _ in self.judged})

    @property
    def devices(self) -> int:
        """Device rows."""
        return sum(len(verdicts) for _, _, verdicts in self.judged)

    def count(self, match: str) -> int:
        """Devices judged ``match``."""
        return sum(m == match for _, _, _, m in self.device_verdicts())

    @property
    def mismatched_instances(self) -> int:
        return len(
            {
                alloc.instance
                for alloc, _, verdicts in self.judged
                if any(m == NO for _, m, _ in verdicts)
            }
        )


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
        fix = _fix_of(alloc, match, managed, judge)
        rows.append(
            DeviceRow(alloc.instance, alloc.host, flavor, dev, match, reason, fix)
        )
    return rows


def _fix_of(
    alloc: Allocation, match: str, managed: set[str], judge: DeviceJudge
) -> str:
    """What to do about a device's verdict on ``alloc`` (``_fix``)."""
    if match != NO and match != UNKNOWN:  # nothing to do
        return ""
    undefined = {n for n, _ in alloc.requests if n in managed} - set(judge.defs)
    return _fix(match, alloc, undefined)


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
    memo: dict[tuple[Any, ...], Verdicts] = {}
    judged: list[tuple[Allocation, DeviceJudge, Verdicts]] = []
    blind: set[str] = set()
    for alloc in sorted(allocations, key=lambda a: (a.host, a.instance)):
        defs = per_host.get(alloc.host, none)
        judge = judge_of.get(id(defs))
        if judge is None:
            judge = judges.get(tuple(defs.items()))
            if judge is None:
                judge = judges[tuple(defs.items())] = DeviceJudge(defs, compiled)
            judge_of[id(defs)] = judge
        key = (id(judge), alloc.requests, tuple(map(id, alloc.devices)))
        verdicts = memo.get(key)
        if verdicts is None:
            found = judge_instance(alloc, judge.defs, managed, judge)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            verdicts = memo[key] = [(r.flavor, r.match, r.reason) for r in found]
        if not verdicts:  # no managed alias requested
            continue
        judged.append((alloc, judge, verdicts))
        if alloc.host not in blind and any(d.tags is None for d in alloc.devices):
            blind.add(alloc.host)
    return AuditResult(
        judged, records, managed, audit_summary.warnings(blind, per_host)
    )
