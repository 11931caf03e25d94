"""PCI capacity as Prometheus metrics: the library behind ``exporter``.

``snapshot`` turns one read of the sources ``capacity`` reads (an inventory,
or Nova's databases through ``nova_db``) into metric families, with the same
numbers as ``capacity`` (``report.capacity`` rows) and ``capacity --fit``
(``headroom.fit``).  ``admin.metrics_server`` refreshes and serves it.

With what instances hold (an inventory's ``allocations``, or Nova's cell
databases read with them: ``exporter --audit``) it also exports ``audit``'s
verdicts: instances holding a device their PCI flavor does not match.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from aggregate_pci import alias
from aggregate_pci.admin import models
from aggregate_pci.admin.capacity import headroom, report
from aggregate_pci.admin.checks import alias_lint, audit
from aggregate_pci.admin.inventory import Inventory
from aggregate_pci.text import printable

PREFIX = "aggregate_pci_"

#: name (without PREFIX) -> (labels, HELP).  Data metrics, from a snapshot.
DATA_METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "devices_free": (
        ("pci_flavor", "aggregate"),
        "Free (unclaimed) devices matching the PCI flavor's definition on the "
        "aggregate, over its hosts (capacity's aggregate rows; a host in "
        "several aggregates counts in each).",
    ),
    "devices_used": (
        ("pci_flavor", "aggregate"),
        "Claimed or allocated devices matching the PCI flavor's definition on "
        "the aggregate, over its hosts (capacity's aggregate rows).",
    ),
    "cloud_devices_free": (
        ("pci_flavor",),
        "Free devices of the PCI flavor in the whole cloud, each device once "
        "(capacity's total row: each host's definition is the OR of its "
        "aggregates').",
    ),
    "cloud_devices_used": (
        ("pci_flavor",),
        "Claimed or allocated devices of the PCI flavor in the whole cloud, "
        "each device once (capacity's total row).",
    ),
    "host_devices_free": (
        ("pci_flavor", "host"),
        "Free devices of the PCI flavor on the host (capacity's host rows; "
        "only with --per-host).",
    ),
    "host_devices_used": (
        ("pci_flavor", "host"),
        "Claimed or allocated devices of the PCI flavor on the host "
        "(capacity's host rows; only with --per-host).",
    ),
    "devices_total": (
        (),
        "Every PCI device the computes report (free and used), whether or "
        "not a PCI flavor matches it.",
    ),
    "devices_stranded": (
        ("pci_flavor",),
        "Devices matching the PCI flavor on hosts in no aggregate defining "
        "it, which the filter never places it on (capacity --stranded).",
    ),
    "instances_fit": (
        ("nova_flavor", "aggregate"),
        "More instances of the Nova flavor (its pci_passthrough:alias "
        "request) that fit on the aggregate's hosts now, exactly (capacity "
        "--fit per host, summed over the aggregate's hosts); for aggregates "
        "defining a requested PCI flavor.",
    ),
    "cloud_instances_fit": (
        ("nova_flavor",),
        "More instances of the Nova flavor that fit in the whole cloud now "
        "(capacity --fit's total).",
    ),
    "host_instances_fit": (
        ("nova_flavor", "host"),
        "More instances of the Nova flavor that fit on the host now "
        "(capacity --fit's host rows; only with --per-host).",
    ),
    "invalid_definitions": (
        ("aggregate", "key"),
        "1 for each pci_flavor:NAME metadata key whose value is not a valid "
        "definition (check lists why); such keys define nothing.",
    ),
    "audit_checked": (
        (),
        "1 if what instances hold was read and judged (the instances_* "
        "audit metrics; exporter --audit, or an inventory with allocations), "
        "else 0.",
    ),
    "instances_mismatched": (
        ("pci_flavor",),
        "Instances holding a device their PCI flavor's definition on that "
        "host does not match ('audit' verdict no; 'audit --mismatched' lists "
        "them and what to do).",
    ),
    "instances_audit_unknown": (
        ("pci_flavor",),
        "Instances whose devices audit cannot judge: the definition uses "
        "device_spec tags and the compute's nova.conf was not given "
        "(--compute-conf).",
    ),
    "alias_checked": (
        (),
        "1 if a nova.conf was given and its [pci] alias compared with the "
        "PCI flavors (the alias_* metrics), else 0.",
    ),
    "alias_missing": (
        ("pci_flavor",),
        "1 for each PCI flavor that aggregates define but the given "
        "nova.conf has no [pci] alias for (Nova flavors requesting it "
        "cannot boot).",
    ),
    "alias_drift": (
        ("pci_flavor",),
        "1 for each PCI flavor whose [pci] alias entries in the given "
        "nova.conf differ from what 'alias-config' generates.",
    ),
    "alias_without_pci_flavor": (
        ("alias",),
        "1 for each [pci] alias of the given nova.conf that no aggregate "
        "defines as a PCI flavor (unmanaged: Nova's alias alone decides).",
    ),
    "alias_invalid_entries": (
        (),
        "[pci] alias entries of the given nova.conf that Nova would refuse.",
    ),
}


class Snapshot:
    """The data metric families of one refresh, and how much it held."""

    def __init__(self, families: list[Metric], hosts: int, records: int) -> None:
        self.families = families
        self.hosts = hosts
        self.records = records


def _gauge(name: str) -> GaugeMetricFamily:
    labels, help_text = DATA_METRICS[name]
    return GaugeMetricFamily(PREFIX + name, help_text, labels=labels)


def snapshot(
    inv: Inventory,
    conf_aliases: Sequence[alias.Entry] | None = None,
    per_host: bool = False,
) -> Snapshot:
    """The data metrics of one inventory (and nova.conf's ``[pci] alias``
    entries, if given): the numbers of ``capacity`` and ``capacity --fit``."""
    records = inv.pci_flavor_records()
    g = {name: _gauge(name) for name in DATA_METRICS}
    for row in report.capacity(records, inv.hosts, host_rows=per_host):
        prefix = {"total": "cloud_", "aggregate": "", "host": "host_"}[row.scope]
        labels = [row.flavor] if row.scope == "total" else [row.flavor, row.name]
        g[prefix + "devices_free"].add_metric(labels, row.free)
        g[prefix + "devices_used"].add_metric(labels, row.used)
    g["devices_total"].add_metric(
        [], sum(report.total_count(p) for pools in inv.hosts.values() for p in pools)
    )
    stranded: dict[str, int] = {}
    for row in report.stranded(records, inv.hosts):
        stranded[row.flavor] = stranded.get(row.flavor, 0) + row.matching
    for name, n in sorted(stranded.items()):
        g["devices_stranded"].add_metric([name], n)
    _fit_metrics(g, records, inv, per_host)
    for r in records:
        if r.error is not None:
            g["invalid_definitions"].add_metric([r.aggregate, r.key], 1)
    _alias_metrics(g, records, conf_aliases, inv.nova_flavors)
    _audit_metrics(g, records, inv)
    return Snapshot([_escaped(f) for f in g.values()], len(inv.hosts), len(records))


def _escaped(family: Metric) -> Metric:
    """``family`` with control characters in label values escaped, as every
    row printer shows them (an ESC written straight into the database must
    not reach a terminal that shows the scrape)."""
    family.samples = [
        s._replace(labels={k: printable(v) for k, v in s.labels.items()})
        for s in family.samples
    ]
    return family


def _fit_metrics(
    g: Mapping[str, GaugeMetricFamily],
    records: Sequence[models.PciFlavorRecord],
    inv: Inventory,
    per_host_series: bool,
) -> None:
    """Instances that fit per Nova flavor requesting PCI flavors that
    aggregates define (others are unmanaged: capacity cannot tell)."""
    defined: dict[str, list[models.PciFlavorRecord]] = {}
    for r in records:
        if r.definition is not None:
            defined.setdefault(r.name, []).append(r)
    requests: dict[str, dict[str, int]] = {}
    for flavor in inv.nova_flavors:
        request = alias.request_of(flavor.get("extra_specs"))
        wanted = {n: c for n, c in request.items() if c}
        if wanted and all(n in defined for n in wanted):
            requests[str(flavor["name"])] = wanted
    fits = headroom.fit_many(records, inv.hosts, requests)
    for name, wanted in sorted(requests.items()):
        per_host, total = fits[name]
        g["cloud_instances_fit"].add_metric([name], total)
        aggregates = {r.aggregate: r.hosts for n in wanted for r in defined[n]}
        for agg, hosts in sorted(aggregates.items()):
            n = sum(per_host.get(h, 0) for h in set(hosts))
            g["instances_fit"].add_metric([name, agg], n)
        if per_host_series:
            for host, n in sorted(per_host.items()):
                g["host_instances_fit"].add_metric([name, host], n)


def _alias_metrics(
    g: Mapping[str, GaugeMetricFamily],
    records: Sequence[models.PciFlavorRecord],
    conf_aliases: Sequence[alias.Entry] | None,
    nova_flavors: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Drift between the PCI flavors and a nova.conf's ``[pci] alias``, by
    the rules of ``check`` (``alias_lint.alias_drift``; port-only PCI flavors,
    ``models.port_only_names``, need no alias)."""
    g["alias_checked"].add_metric([], 0 if conf_aliases is None else 1)
    if conf_aliases is None:
        return
    conf, refused = alias.merge(conf_aliases)
    g["alias_invalid_entries"].add_metric([], len(refused))
    by_name = models.definitions_by_name(records)
    generated: list[dict[str, str]] = []
    comparable = set()
    for name, per_agg in by_name.items():
        try:
            generated.extend(alias.generate({name: per_agg}))
        except alias.AliasConflict:
            continue  # no one alias can express it: check reports that
        comparable.add(name)
    requested = (
        n for f in nova_flavors for n in alias.request_of(f.get("extra_specs"))
    )
    port_only = models.port_only_names(by_name, requested)
    for name in sorted(by_name):
        if name not in conf and name not in port_only:
            g["alias_missing"].add_metric([name], 1)
    for name in alias_lint.alias_drift(generated, conf, comparable & set(conf)):
        g["alias_drift"].add_metric([name], 1)
    for name in sorted(set(conf) - set(by_name)):
        g["alias_without_pci_flavor"].add_metric([name], 1)


def _audit_metrics(
    g: Mapping[str, GaugeMetricFamily],
    records: Sequence[models.PciFlavorRecord],
    inv: Inventory,
) -> None:
    """``audit``'s verdicts per PCI flavor, when the inventory says what
    instances hold: a series for every managed PCI flavor, 0 included, so an
    alert can compare."""
    g["audit_checked"].add_metric([], 0 if inv.allocations is None else 1)
    if inv.allocations is None:
        return
    managed = {r.name for r in records if r.definition is not None}
    found: dict[str, dict[str, set[str]]] = {
        verdict: {name: set() for name in managed}
        for verdict in (audit.NO, audit.UNKNOWN)
    }
    # the verdicts counted, no device row built
    for flavor, _, instance, match in audit.audit(
        inv.allocations, records
    ).device_verdicts():
        if match in found and flavor in managed:
            found[match][flavor].add(instance)
    for name in sorted(managed):
        g["instances_mismatched"].add_metric([name], len(found[audit.NO][name]))
        g["instances_audit_unknown"].add_metric([name], len(found[audit.UNKNOWN][name]))
