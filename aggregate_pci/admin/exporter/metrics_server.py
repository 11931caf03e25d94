"""Serve the PCI capacity metrics: the refresh loop and the HTTP server
behind ``exporter``.

``Exporter`` refreshes a ``metrics.snapshot`` on an interval (one refresh
in flight; a failed refresh keeps the last good snapshot and says so
through ``aggregate_pci_up``) and is a ``prometheus_client`` collector over
it: a scrape never reads the databases.  ``serve`` exposes it over HTTP and
``write_textfile`` writes it once for node_exporter's textfile collector.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import socketserver
import threading
import time
from typing import Any, Callable, Iterable, Iterator
from wsgiref import simple_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
    write_to_textfile,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aggregate_pci import alias
from aggregate_pci.admin.errors import AdminError
from aggregate_pci.admin.exporter.metrics import PREFIX, Snapshot, snapshot
from aggregate_pci.admin.inventory import Inventory

LOG = logging.getLogger(__name__)
#: HTTP connections served at once (a thread each); more are closed at once.
MAX_CONNECTIONS = 32
#: Seconds a connection may stay silent before the server closes it.
READ_TIMEOUT = 10.0


class _Families:
    """A collector of fixed metric families (one snapshot's), rendered
    once per refresh."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _render(collector: Any) -> bytes:
    """The text format of one collector's metrics."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return generate_latest(reg)


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
        #: The refresh interval when ``run`` refreshes (a refresh running
        #: longer than it makes ``up`` 0).
        self.interval: float | None = None
        self._started: float | None = None
        #: The data metrics in the text format, rendered once per refresh.
        self.data_text = b""

    def refresh(self) -> bool:
        """Read the sources and replace the snapshot; False if it failed
        (the last good snapshot stays) or another refresh is in flight."""
        if not self._in_flight.acquire(blocking=False):
            return False
        start = time.perf_counter()
        self._started = time.monotonic()
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
            self.data_text = _render(_Families(new.families))
            self.up = 1
            self.last_success = time.time()
            self.last_error = None
            return True
        finally:
            self.last_duration = time.perf_counter() - start
            self.refreshes += 1
            self._started = None
            self._in_flight.release()

    def run(self, interval: float, stop: threading.Event, delay: float = 0) -> None:
        """Refresh after ``delay`` seconds and then every ``interval`` seconds
        (from the start of one refresh to the next; a slow refresh delays the
        next, never overlaps it) until ``stop`` is set."""
        self.interval = interval
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

    def running_seconds(self) -> float:
        """How long the refresh in flight has run (0 when none runs)."""
        started = self._started
        return 0.0 if started is None else max(0.0, time.monotonic() - started)

    def stuck(self) -> bool:
        """Whether the refresh in flight has overrun its interval (a hung
        database): ``up`` is then 0, the last good values stay."""
        return self.interval is not None and self.running_seconds() > self.interval

    def _status(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            PREFIX + "up",
            "1 if the last refresh read the sources, 0 if it failed or the "
            "running one has overrun the interval (the data metrics then "
            "keep their last good values).",
            value=0 if self.stuck() else self.up,
        )
        yield GaugeMetricFamily(
            PREFIX + "refresh_running_seconds",
            "How long the refresh in flight has run (0: none runs).",
            value=self.running_seconds(),
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


@contextlib.contextmanager
def once_lock(textfile: str) -> Iterator[None]:
    """Hold ``TEXTFILE.lock`` (non-blocking ``flock``) while a cron run of
    ``exporter --once`` works: a second run while one hangs exits at once
    (``AdminError``) instead of piling up."""
    path = textfile + ".lock"
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise AdminError(
            "cannot open lock file %r: %s; check that the --textfile "
            "directory exists and is writable" % (path, exc.strerror)
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AdminError(
                "another 'exporter --once' for %r is still running (it holds "
                "%r); this run did nothing" % (textfile, path)
            ) from None
        yield
    finally:
        os.close(fd)


class _StatusOnly:
    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        return iter(list(self._exporter._status()))


def metrics_app(exporter: Exporter, process: bool = True) -> Callable[..., Any]:
    """The WSGI app of ``/metrics``: the data metrics as rendered by the
    last refresh (cached bytes: a scrape costs no rendering of them), then
    the few status (and ``process_*``) metrics, rendered per scrape."""
    status = CollectorRegistry(auto_describe=False)
    status.register(_StatusOnly(exporter))
    if process:
        ProcessCollector(registry=status)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list:
        body = exporter.data_text + generate_latest(status)
        start_response(
            "200 OK",
            [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
        )
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    return app


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    """A thread per connection, at most ``max_connections`` at once (more
    are closed at once); errors of single connections are logged at debug
    level only."""

    daemon_threads = True
    max_connections = MAX_CONNECTIONS
    _slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("metrics connection from %s failed", client_address, exc_info=True)


class _QuietHandler(simple_server.WSGIRequestHandler):
    #: Seconds a silent connection is kept (StreamRequestHandler applies it).
    timeout = READ_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve(exporter: Exporter, host: str, port: int) -> _Server:
    """An HTTP server for ``/metrics`` on ``host:port`` (0: any free port;
    the bound one is ``bound_address(server)``), serving in a thread."""
    app = metrics_app(exporter)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (_Server,), {"address_family": family})
    server: _Server = simple_server.make_server(
        host, port, app, server_class=server_class, handler_class=_QuietHandler
    )
    server._slots = threading.BoundedSemaphore(server.max_connections)
    threading.Thread(
        target=server.serve_forever, name="metrics-http", daemon=True
    ).start()
    return server


def bound_address(server: _Server) -> str:
    """``HOST:PORT`` (``[HOST]:PORT`` for IPv6) the server listens on."""
    host, port = str(server.server_address[0]), int(server.server_address[1])
    return "%s:%d" % ("[%s]" % host if ":" in host else host, port)
