"""``audit --summary``'s counts and ``audit``'s warnings, from verdicts per
device: instances, devices, mismatched and unknown devices per PCI flavor in
total, per aggregate defining it for the device's host, and per host."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from aggregate_pci import codec
from aggregate_pci.admin.checks.audit_judge import NO, UNKNOWN, UNMANAGED, uses_tags
from aggregate_pci.text import capped_names

#: Per (PCI flavor, host): [instances, devices, mismatched, unknown].
HostParts = dict[tuple[str, str], list[Any]]


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


def host_parts(verdicts: Iterable[tuple[str, str, str, str]]) -> HostParts:
    """The counts per (PCI flavor, host) of ``(flavor, host, instance,
    match)`` per device (unmanaged aliases left out): what the summary
    adds up."""
    per_host: HostParts = {}
    for flavor, host, instance, match in verdicts:
        if match == UNMANAGED:
            continue
        entry = per_host.get((flavor, host))
        if entry is None:
            entry = per_host[(flavor, host)] = [set(), 0, 0, 0]
        entry[0].add(instance)
        entry[1] += 1
        entry[2] += match == NO
        entry[3] += match == UNKNOWN
    return per_host


def summarize(rows: Iterable[Any], records: Sequence[Any]) -> list[SummaryRow]:
    """Per flavor: the total, each aggregate defining it for the device's
    host, and each host, of device rows (``.flavor``, ``.host``,
    ``.instance``, ``.match``)."""
    return summary_rows(
        host_parts((r.flavor, r.host, r.instance, r.match) for r in rows), records
    )


def summary_rows(per_host: HostParts, records: Sequence[Any]) -> list[SummaryRow]:
    """The summary's rows from the counts per (PCI flavor, host), sorted by
    flavor, then total, aggregates, hosts."""
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


def warnings(
    blind_hosts: Iterable[str],
    per_host: Mapping[str, Mapping[str, codec.PciFlavorDefinition]],
) -> list[str]:
    """One line per set of definitions using tags on hosts holding a device
    whose tags are unknown, naming those hosts (``text.capped_names``): a
    fleet read without its computes' nova.conf is a few lines, not one per
    host."""
    blind: dict[tuple[str, ...], list[str]] = {}
    for host in sorted(set(blind_hosts)):
        names = tuple(
            sorted(
                name
                for name, definition in per_host.get(host, {}).items()
                if uses_tags(definition)
            )
        )
        if names:
            blind.setdefault(names, []).append(host)
    out = []
    for names, hosts in sorted(blind.items(), key=lambda kv: kv[1][0]):
        if len(hosts) == 1:
            where, give = "host %r" % hosts[0], "%s=NOVA_CONF" % hosts[0]
        else:
            where = "%d hosts (%s)" % (
                len(hosts),
                capped_names(["%r" % h for h in hosts]),
            )
            give = "HOST=NOVA_CONF for each, or 'PATTERN'=NOVA_CONF for many"
        out.append(
            "%s: device tags unknown (give --compute-conf %s, that compute's "
            "nova.conf with its [pci] device_spec) and the definition of %s "
            "there uses tags: instances needing them are judged 'unknown'"
            % (where, give, ", ".join(names))
        )
    return out
