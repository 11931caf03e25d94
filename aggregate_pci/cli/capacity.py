"""``capacity``: devices per PCI flavor (and how many more instances of a
Nova flavor fit), from Nova's cell databases (``--config-file``) or an
inventory file (``--inventory``)."""

from __future__ import annotations

import argparse

from cliff import lister

from aggregate_pci import alias
from aggregate_pci.admin import errors, inventory
from aggregate_pci.admin.capacity import headroom, report
from aggregate_pci.cli import common, sources
from aggregate_pci.errors import Hint


class ListCapacity(common.HandlesErrors, lister.Lister):
    """Devices matching/used/free per PCI flavor, aggregate and host.

    With --fit, how many more instances of a Nova flavor fit, per host and
    in total (exact where one device matches several flavors).
    """

    _epilog = common.exit_codes()

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        sources.add_source_args(parser)
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
        parser.add_argument(
            "--stranded",
            action="store_true",
            help="only devices matching a PCI flavor on hosts in no aggregate "
            "defining it (the filter never places the flavor there)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        fitting = parsed_args.fit or parsed_args.fit_spec
        inv = sources.load(
            self.app,
            parsed_args,
            need_flavors=bool(parsed_args.fit),
            allocations_unused=True,
            # what fits is counted in free devices alone
            pools="free" if fitting else "all",
        )
        records = inv.pci_flavor_records()
        common.warn_invalid(self.app, records)
        wanted = parsed_args.pci_flavor
        if wanted is not None and not any(r.name == wanted for r in records):
            raise errors.NotFound(
                "PCI flavor %r: no aggregate in the %s defines it"
                % (wanted, sources.label(parsed_args)),
                hint=Hint(
                    "{command} without --pci-flavor lists the defined ones",
                    command="capacity",
                ),
            )
        if fitting:
            return self._fit(parsed_args, records, inv)
        if parsed_args.stranded:
            rows = report.stranded(records, inv.hosts)
        else:
            progress = sources.progress_if_many(self.app, "capacity", len(inv.hosts))
            rows = report.capacity(
                records,
                inv.hosts,
                progress=progress,
                host_rows=not parsed_args.no_hosts,
            )
        if parsed_args.pci_flavor is not None or parsed_args.no_hosts:
            rows = [
                r
                for r in rows
                if parsed_args.pci_flavor in (None, r.flavor)
                and not (parsed_args.no_hosts and r.scope == "host")
            ]
        # a row is (flavor, scope, name, counts): its strings are the names
        # of flavors, aggregates and hosts, and the (printable) scopes
        names = {r.name for r in records} | {r.aggregate for r in records}
        return (
            ("PCI Flavor", "Scope", "Name", "Matching", "Used", "Free"),
            common.escaped_rows(parsed_args, rows, names.union(inv.hosts)),
        )

    def _fit(
        self,
        args: argparse.Namespace,
        records: list,
        inv: inventory.Inventory,
    ) -> tuple:
        if args.fit:
            request = alias.parse_request(
                inv.nova_flavor_request(args.fit, sources.label(args))
            )
            label = args.fit
        else:
            request = common.parse_request_option(args.fit_spec, "--fit-spec")
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
        return ("Scope", "Name", "Instances"), common.escaped_rows(
            args, rows, inv.hosts
        )
