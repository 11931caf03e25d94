"""PCI capacity as Prometheus metrics: the library behind ``exporter``.

``snapshot`` turns one read of the sources ``capacity`` reads (an inventory,
or Nova's databases through ``nova_db``) into metric families, with the same
numbers as ``capacity`` (``report.capacity`` rows) and ``capacity --fit``
(``report.fit``).  ``Exporter`` refreshes that snapshot on an interval (one
refresh in flight; a failed refresh keeps the last good snapshot and says so
through ``aggregate_pci_up``) and is a ``prometheus_client`` collector over
it: a scrape never reads the databases.  ``serve`` exposes it over HTTP and
``write_textfile`` writes it once for node_exporter's textfile collector.

Audit mismatches (Nova's claims vs. the definitions) are not exported here.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from wsgiref import simple_server

from prometheus_client import (
    CollectorRegistry,
    ProcessCollector,
    make_wsgi_app,
    write_to_textfile,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aggregate_pci import alias
from aggregate_pci.admin import lint, models, report
from aggregate_pci.admin.inventory import Inventory

LOG = logging.getLogger(__name__)

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
    records = [r for a in inv.aggregates for r in models.pci_flavor_records(a)]
    g = {name: _gauge(name) for name in DATA_METRICS}
    for row in report.capacity(records, inv.hosts, host_rows=per_host):
        prefix = {"total": "cloud_", "aggregate": "", "host": "host_"}[row.scope]
        labels = [row.flavor] if row.scope == "total" else [row.flavor, row.name]
        g[prefix + "devices_free"].add_metric(labels, row.free)
        g[prefix + "devices_used"].add_metric(labels, row.used)
    _fit_metrics(g, records, inv, per_host)
    for r in records:
        if r.error is not None:
            g["invalid_definitions"].add_metric([r.aggregate, r.key], 1)
    _alias_metrics(g, records, conf_aliases)
    return Snapshot(list(g.values()), len(inv.hosts), len(records))


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
    fits = report.fit_many(records, inv.hosts, requests)
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
) -> None:
    """Drift between the PCI flavors and a nova.conf's ``[pci] alias``, by
    the rules of ``check`` (``lint.alias_drift``)."""
    g["alias_checked"].add_metric([], 0 if conf_aliases is None else 1)
    if conf_aliases is None:
        return
    conf, refused = alias.merge(conf_aliases)
    g["alias_invalid_entries"].add_metric([], len(refused))
    by_name = report.definitions_by_name(records)
    generated: list[dict[str, str]] = []
    comparable = set()
    for name, per_agg in by_name.items():
        try:
            generated.extend(alias.generate({name: per_agg}))
        except alias.AliasConflict:
            continue  # no one alias can express it: check reports that
        comparable.add(name)
    for name in sorted(by_name):
        if name not in conf:
            g["alias_missing"].add_metric([name], 1)
    for name in lint.alias_drift(generated, conf, comparable & set(conf)):
        g["alias_drift"].add_metric([name], 1)
    for name in sorted(set(conf) - set(by_name)):
        g["alias_without_pci_flavor"].add_metric([name], 1)


class Exporter:
    """A ``prometheus_client`` collector over the last good snapshot.

    ``load()`` reads the source (an ``Inventory``); ``nova_conf`` names a
    nova.conf whose ``[pci] alias`` is compared, read at every refresh.
    """

    def __init__(
        self,
        load: Callable[[], Inventory],
        nova_conf: str | None = None,
        per_host: bool = False,
        log: Callable[[str], None] = LOG.warning,
    ) -> None:
        self._load = load
        self._nova_conf = nova_conf
        self._per_host = per_host
        self._log = log
        self._in_flight = threading.Lock()
        self.snapshot: Snapshot | None = None
        self.up = 0
        self.last_success: float | None = None
        self.last_duration: float | None = None
        self.last_error: str | None = None
        self.refreshes = 0
        self.failures = 0

    def refresh(self) -> bool:
        """Read the sources and replace the snapshot; False if it failed
        (the last good snapshot stays) or another refresh is in flight."""
        if not self._in_flight.acquire(blocking=False):
            return False
        start = time.perf_counter()
        try:
            conf_aliases = None
            if self._nova_conf:
                conf_aliases = alias.read_conf([self._nova_conf])[0]
            new = snapshot(self._load(), conf_aliases, self._per_host)
        except Exception as exc:  # any source error: keep serving the last
            self.failures += 1
            self.up = 0
            self.last_error = str(exc) or type(exc).__name__
            self._log(
                "refresh failed, %s: %s"
                % (
                    "serving the last good values"
                    if self.snapshot
                    else "no values yet",
                    self.last_error,
                )
            )
            return False
        else:
            self.snapshot = new
            self.up = 1
            self.last_success = time.time()
            self.last_error = None
            return True
        finally:
            self.last_duration = time.perf_counter() - start
            self.refreshes += 1
            self._in_flight.release()

    def run(self, interval: float, stop: threading.Event, delay: float = 0) -> None:
        """Refresh after ``delay`` seconds and then every ``interval`` seconds
        (from the start of one refresh to the next; a slow refresh delays the
        next, never overlaps it) until ``stop`` is set."""
        stop.wait(delay)
        while not stop.is_set():
            started = time.monotonic()
            self.refresh()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is not None:
            yield from snap.families
        yield from self._status()

    def _status(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            PREFIX + "up",
            "1 if the last refresh read the sources, 0 if it failed (the "
            "data metrics then keep their last good values).",
            value=self.up,
        )
        last = GaugeMetricFamily(
            PREFIX + "last_success_timestamp_seconds",
            "Unix time of the last refresh that read the sources.",
        )
        if self.last_success is not None:
            last.add_metric([], self.last_success)
        yield last
        duration = GaugeMetricFamily(
            PREFIX + "refresh_duration_seconds",
            "Duration of the last refresh (read the sources, compute), "
            "successful or not.",
        )
        if self.last_duration is not None:
            duration.add_metric([], self.last_duration)
        yield duration
        yield CounterMetricFamily(
            PREFIX + "refreshes",
            "Refreshes attempted since the exporter started.",
            value=self.refreshes,
        )
        yield CounterMetricFamily(
            PREFIX + "refresh_failures",
            "Refreshes that failed since the exporter started.",
            value=self.failures,
        )


def registry(exporter: Exporter, process: bool = False) -> CollectorRegistry:
    """A registry holding the exporter (and process_* metrics if asked)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(exporter)
    if process:
        ProcessCollector(registry=reg)
    return reg


def write_textfile(path: str, exporter: Exporter) -> None:
    """The metrics in the text format at ``path``, atomically (a temporary
    file in the same directory renamed over it), for node_exporter."""
    write_to_textfile(path, registry(exporter))


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve(exporter: Exporter, host: str, port: int) -> _Server:
    """An HTTP server for ``/metrics`` on ``host:port`` (0: any free port;
    the bound one is ``bound_address(server)``), serving in a thread."""
    app = make_wsgi_app(registry(exporter, process=True))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (_Server,), {"address_family": family})
    server: _Server = simple_server.make_server(
        host, port, app, server_class=server_class, handler_class=_QuietHandler
    )
    threading.Thread(
        target=server.serve_forever, name="metrics-http", daemon=True
    ).start()
    return server


def bound_address(server: _Server) -> str:
    """``HOST:PORT`` (``[HOST]:PORT`` for IPv6) the server listens on."""
    host, port = str(server.server_address[0]), int(server.server_address[1])
    return "%s:%d" % ("[%s]" % host if ":" in host else host, port)
