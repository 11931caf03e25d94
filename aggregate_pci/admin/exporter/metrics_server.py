"""Serve the PCI capacity metrics: the refresh loop and the HTTP server
behind ``exporter``.

``Exporter`` refreshes a ``metrics.snapshot`` on an interval (one refresh
in flight; a failed refresh keeps the last good snapshot and says so
through ``aggregate_pci_up``) and is a ``prometheus_client`` collector over
it: a scrape never reads the databases.  ``serve`` exposes it over HTTP and
``write_textfile`` writes it once for node_exporter's textfile collector.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from typing import Any, Callable, Iterable, Iterator
from wsgiref import simple_server

from prometheus_client import (
    CollectorRegistry,
    ProcessCollector,
    make_wsgi_app,
    write_to_textfile,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aggregate_pci import alias
from aggregate_pci.admin.exporter.metrics import PREFIX, Snapshot, snapshot
from aggregate_pci.admin.inventory import Inventory

LOG = logging.getLogger(__name__)


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
