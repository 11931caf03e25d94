"""``capacity`` and ``inventory export``: devices per flavor, from Nova's
cell databases (``--config-file``) or an inventory file (``--inventory``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cliff import command, lister

from aggregate_pci import alias
from aggregate_pci.admin import errors, inventory, models
from aggregate_pci.admin.capacity import headroom, report
from aggregate_pci.cli import common


def _progress(app: Any, what: str) -> Any:
    """A progress callback writing ``what: done/total hosts`` on one stderr
    line (rewritten in place, ended by a newline at the end)."""

    def report(done: int, total: int) -> None:
        app.stderr.write("\r%s: %d/%d hosts" % (what, done, total))
        if done >= total:
            app.stderr.write("\n")
        app.stderr.flush()

    return report


def load_source(
    app: Any,
    args: argparse.Namespace,
    need_flavors: bool = False,
    need_allocations: bool = False,
    progress: bool = True,
    command: str = "capacity",
) -> inventory.Inventory:
    """Aggregates, host pools (and Nova flavors, and what instances hold,
    tagged by ``args.compute_conf``) from the chosen source.

    Called again, it reads the source again (the nova.conf is loaded once
    per process); ``progress=False`` for a daemon's repeated reads.
    """
    if getattr(args, "inventory", None):
        return inventory.load(args.inventory)
    ctxt = getattr(app, "nova_context", None)
    has_inventory = hasattr(args, "inventory")
    if ctxt is None and not args.config_file:
        raise errors.AdminError(
            "give %s--config-file NOVA_CONF (read Nova's cell databases; run "
            "where Nova is installed)"
            % ("--inventory FILE (planning) or " if has_inventory else "")
        )
    from aggregate_pci.admin.nova_io import nova_db

    if ctxt is None:
        nova_db.require_nova(
            "%s --config-file" % command,
            ", or give --inventory FILE written there by 'inventory export'"
            if has_inventory
            else "",
        )
        nova_db.load_config(args.config_file)
    return nova_db.inventory(
        ctxt,
        progress=_progress(app, "reading compute nodes") if progress else None,
        with_flavors=need_flavors,
        with_allocations=need_allocations,
        compute_confs=compute_confs(getattr(args, "compute_conf", None)),
    )


def compute_confs(values: list[str] | None) -> dict[str, str]:
    """``--compute-conf HOST=NOVA_CONF`` values as {host: path}."""
    out: dict[str, str] = {}
    for value in values or ():
        host, sep, path = value.partition("=")
        if not sep or not host or not path:
            raise errors.InvalidInput(
                "--compute-conf %r: expected HOST=NOVA_CONF (the compute "
                "host's name as Nova knows it, and its nova.conf)" % value
            )
        out[host] = path
    return out


def compute_conf_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compute-conf",
        metavar="HOST=NOVA_CONF",
        action="append",
        default=[],
        help="the nova.conf of compute HOST (repeatable): its [pci] "
        "device_spec, matched with Nova's own code, gives the tags of the "
        "devices instances hold there (Nova stores no tags per device)",
    )


def parse_fit_spec(text: str) -> dict[str, int]:
    """``NAME:COUNT[,NAME:COUNT...]`` strictly (as Nova's extra-spec
    validator): ``InvalidInput`` names the bad item."""
    out: dict[str, int] = {}
    for item in text.split(","):
        name, sep, count = item.strip().partition(":")
        name, count = name.strip(), count.strip()
        if not name or not sep or not count.isdigit() or int(count) < 1:
            raise errors.InvalidInput(
                "--fit-spec %r: item %r must be NAME:COUNT with COUNT a "
                "positive integer, e.g. a100:1 or a100:2,t4:1" % (text, item.strip())
            )
        out[name] = out.get(name, 0) + int(count)
    return out


def _warn_invalid(app: Any, records: list) -> None:
    """Invalid definitions count for nothing: say so, as alias-config does."""
    for r in records:
        if r.error:
            app.stderr.write("skipped (invalid): %s\n" % common.printable(r.error))


def _source_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--inventory", metavar="FILE", help="inventory JSON (from 'inventory export')"
    )
    group.add_argument(
        "--config-file",
        metavar="NOVA_CONF",
        help="nova.conf giving [api_database] access: read the "
        "compute nodes' PCI pools through Nova's objects",
    )


class Capacity(common.HandlesErrors, lister.Lister):
    """Devices matching/used/free per PCI flavor, aggregate and host.

    With --fit, how many more instances of a Nova flavor fit, per host and
    in total (exact where one device matches several flavors).
    """

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        _source_args(parser)
        fit = parser.add_mutually_exclusive_group()
        fit.add_argument(
            "--fit",
            metavar="NOVA_FLAVOR",
            help="how many more instances of this Nova flavor "
            "(its pci_passthrough:alias) fit",
        )
        fit.add_argument(
            "--fit-spec",
            metavar="NAME:COUNT[,...]",
            help="as --fit, for a request given literally",
        )
        parser.add_argument("--pci-flavor", metavar="NAME", help="only this PCI flavor")
        parser.add_argument(
            "--no-hosts", action="store_true", help="totals and aggregates only"
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        fitting = parsed_args.fit or parsed_args.fit_spec
        inv = load_source(self.app, parsed_args, need_flavors=bool(parsed_args.fit))
        records = [r for a in inv.aggregates for r in models.pci_flavor_records(a)]
        _warn_invalid(self.app, records)
        wanted = parsed_args.pci_flavor
        if wanted is not None and not any(r.name == wanted for r in records):
            raise errors.NotFound(
                "PCI flavor %r: no aggregate in the %s defines it; 'aggregate-pci "
                "capacity' without --pci-flavor lists the defined ones"
                % (wanted, "inventory" if parsed_args.inventory else "Nova database")
            )
        if fitting:
            return self._fit(parsed_args, records, inv)
        progress = _progress(self.app, "capacity") if len(inv.hosts) >= 1000 else None
        rows = report.capacity(records, inv.hosts, progress=progress)
        return (
            ("PCI Flavor", "Scope", "Name", "Matching", "Used", "Free"),
            [
                common.for_output(
                    parsed_args,
                    (r.flavor, r.scope, r.name, r.matching, r.used, r.free),
                )
                for r in rows
                if parsed_args.pci_flavor in (None, r.flavor)
                and not (parsed_args.no_hosts and r.scope == "host")
            ],
        )

    def _fit(
        self,
        args: argparse.Namespace,
        records: list,
        inv: inventory.Inventory,
    ) -> tuple:
        if args.fit:
            request = alias.parse_request(
                inv.nova_flavor_request(
                    args.fit, "inventory" if args.inventory else "Nova database"
                )
            )
            label = args.fit
        else:
            request = parse_fit_spec(args.fit_spec)
            label = args.fit_spec
        if not any(request.values()):
            raise errors.InvalidInput(
                "Nova flavor %r requests no PCI device "
                "(no pci_passthrough:alias extra spec)" % label
            )
        defined = {r.name for r in records if r.definition is not None}
        invalid = {r.name for r in records if r.definition is None}
        unmanaged = sorted(n for n in request if n not in defined)
        if unmanaged:
            raise errors.NotFound(
                "%r requests %s, which no aggregate defines%s: "
                "capacity cannot tell where it fits"
                % (
                    label,
                    ", ".join(unmanaged),
                    " validly (see 'skipped (invalid)' above)"
                    if invalid.intersection(unmanaged)
                    else "",
                )
            )
        per_host, total = headroom.fit(records, inv.hosts, request)
        rows = [
            ("host", h, n) for h, n in sorted(per_host.items()) if not args.no_hosts
        ]
        rows.insert(0, ("total", "*", total))
        return ("Scope", "Name", "Instances"), rows


class InventoryExport(common.HandlesErrors, command.Command):
    """Write an inventory file from Nova's databases.

    Aggregates, every host's PCI pools, the Nova flavors requesting
    aliases and the PCI devices instances hold (with their device_spec tags
    for the hosts given by --compute-conf), for 'capacity --inventory',
    'check --inventory' and 'audit --inventory'.
    """

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--config-file",
            metavar="NOVA_CONF",
            help="nova.conf with [api_database] access",
        )
        parser.add_argument(
            "--output", "-o", metavar="FILE", help="write here instead of stdout"
        )
        compute_conf_arg(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        inv = load_source(
            self.app,
            parsed_args,
            need_flavors=True,
            need_allocations=True,
            command="inventory export",
        )
        doc = inventory.to_json(inv)
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        if parsed_args.output:
            with open(parsed_args.output, "w", encoding="utf-8") as f:
                f.write(text)
            self.app.stderr.write(
                "wrote %s: %d aggregate(s), %d host(s)\n"
                % (parsed_args.output, len(inv.aggregates), len(inv.hosts))
            )
        else:
            (self.app.stdout or sys.stdout).write(text)
        return 0
