"""``exporter``: PCI capacity as Prometheus metrics, served over HTTP or
written once for node_exporter's textfile collector (see docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from cliff import command

from aggregate_pci.admin import errors
from aggregate_pci.admin.exporter import metrics_server
from aggregate_pci.cli import common, sources

DEFAULT_LISTEN = "127.0.0.1:9715"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (all addresses)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            "expected HOST:PORT (e.g. %s), got %r" % (DEFAULT_LISTEN, text)
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError("expected seconds > 0, got %r" % text)
    return value


class RunExporter(common.HandlesErrors, command.Command):
    """Serve PCI capacity as Prometheus metrics (or write them once).

    Reads the same sources as 'capacity' (--config-file nova.conf, or
    --inventory FILE) every --interval seconds; a scrape serves the last good
    values. With --once --textfile PATH, refreshes once and writes PATH
    atomically for node_exporter's textfile collector (exit 1, PATH left as
    it was, if the sources cannot be read).
    """

    _epilog = common.exit_codes(
        zero="success, also when stopped by Ctrl-C while serving"
    )

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        sources.add_source_args(parser)
        parser.add_argument(
            "--nova-conf",
            metavar="FILE",
            help="compare the PCI flavors with this nova.conf's [pci] alias "
            "(the aggregate_pci_alias_* metrics; read at every refresh)",
        )
        parser.add_argument(
            "--audit",
            action="store_true",
            help="with --config-file, also read what instances hold and export "
            "audit's verdicts (aggregate_pci_instances_mismatched; an "
            "inventory with allocations is always judged)",
        )
        sources.add_compute_conf_arg(parser)
        parser.add_argument(
            "--listen",
            metavar="HOST:PORT",
            type=parse_listen,
            default=DEFAULT_LISTEN,
            help="serve /metrics here (default %s; port 0 picks one)" % DEFAULT_LISTEN,
        )
        parser.add_argument(
            "--interval",
            metavar="SECONDS",
            type=_positive,
            default=60.0,
            help="read the sources this often (default 60)",
        )
        parser.add_argument(
            "--per-host",
            action="store_true",
            help="also export per-host series (one per PCI flavor x host "
            "and Nova flavor x host: mind the cardinality)",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="refresh once, write --textfile and exit",
        )
        parser.add_argument(
            "--textfile",
            metavar="PATH",
            help="with --once: the file to write (e.g. in node_exporter's "
            "--collector.textfile.directory, ending in .prom)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        args = parsed_args
        if bool(args.once) != bool(args.textfile):
            raise errors.InvalidInput("--once and --textfile go together")
        if not sources.given(self.app, args):
            raise errors.InvalidInput(
                "give --inventory FILE or --config-file nova.conf (the "
                "sources of 'capacity')"
            )
        exporter = metrics_server.Exporter(
            lambda: sources.load(
                self.app,
                args,
                need_flavors=True,
                need_allocations=args.audit,
                need_names=False,  # the metrics name no server
                progress=False,
            ),
            nova_conf=args.nova_conf,
            per_host=args.per_host,
            log=self._log,
        )
        if args.once:
            with metrics_server.once_lock(args.textfile):
                return self._once(exporter, args.textfile)
        host, port = args.listen
        return self._serve(exporter, host, port, args.interval)

    def _once(self, exporter: metrics_server.Exporter, textfile: str) -> int:
        """Refresh once and write ``textfile`` (cron mode)."""
        if not exporter.refresh():
            raise errors.AdminError(
                "cannot read the sources: %s (%s left as it was)"
                % (exporter.last_error, textfile)
            )
        try:
            metrics_server.write_textfile(textfile, exporter)
        except OSError as exc:
            raise errors.AdminError(
                "cannot write --textfile %r: %s; check that its directory "
                "exists and is writable" % (textfile, exc.strerror)
            ) from None
        return 0

    def _serve(
        self, exporter: metrics_server.Exporter, host: str, port: int, interval: float
    ) -> int:
        # The first refresh before listening: no scrape sees "no data yet"
        # unless the sources cannot be read (then up is 0 and it retries).
        exporter.refresh()
        try:
            server = metrics_server.serve(exporter, host, port)
        except OSError as exc:
            raise errors.AdminError(
                "cannot listen on %s:%d: %s" % (host, port, exc.strerror or exc)
            ) from None
        self._log(
            "serving http://%s/metrics, refreshing every %g s"
            % (metrics_server.bound_address(server), interval)
        )
        stop = threading.Event()
        try:
            exporter.run(interval, stop, delay=interval)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.shutdown()
        return 0

    def _log(self, message: str) -> None:
        stream: Any = self.app.stderr
        stream.write(
            "%s aggregate-pci exporter: %s\n"
            % (time.strftime("%Y-%m-%dT%H:%M:%S"), message)
        )
        stream.flush()
