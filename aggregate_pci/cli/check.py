"""``check`` (lint the cloud's PCI flavors) and ``alias-config``."""

from __future__ import annotations

import argparse
from typing import Any

from cliff import command, lister

from aggregate_pci import alias
from aggregate_pci.admin import errors, inventory, models
from aggregate_pci.admin.checks import lint
from aggregate_pci.cli import common


class Check(common.HandlesErrors, lister.Lister):
    """Lint the cloud's PCI flavors; exit status 1 if any error is found."""

    auth_required = False  # --offline reads everything from --inventory

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--nova-conf",
            metavar="FILE",
            help="compare with this nova.conf's [pci] alias",
        )
        parser.add_argument(
            "--inventory",
            metavar="FILE",
            help="inventory file (see 'inventory export'): also "
            "check hosts where the alias matches devices "
            "the host's definition excludes",
        )
        parser.add_argument(
            "--offline",
            action="store_true",
            help="with --inventory: also read the aggregates and Nova "
            "flavors from it instead of from Nova (no credentials needed)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        if parsed_args.offline and not parsed_args.inventory:
            raise errors.AdminError(
                "--offline reads the aggregates and Nova flavors from an "
                "inventory file: give --inventory FILE"
            )
        conf_aliases = None
        if parsed_args.nova_conf:
            try:
                conf_aliases = alias.read_conf([parsed_args.nova_conf])[0]
            except alias.ConfError as exc:
                raise errors.AdminError(str(exc)) from None
        inv = inventory.load(parsed_args.inventory) if parsed_args.inventory else None
        host_pools = inv.hosts if inv is not None else None
        if parsed_args.offline and inv is not None:
            records = inventory_records(inv)
            flavors = [
                (f["name"], alias.request_of(f.get("extra_specs")))
                for f in inv.nova_flavors
            ]
        else:
            admin = common.get_admin(self.app)
            records = admin.list_pci_flavors()
            flavors = [(f.name, f.alias_requests()) for f in admin.list_nova_flavors()]
        issues = lint.lint(records, flavors, conf_aliases, host_pools)
        self.errors = sum(1 for i in issues if i.severity == lint.ERROR)
        self.app.stderr.write(
            "check: %d error(s), %d warning(s), %d PCI flavor "
            "key(s) on %d aggregate(s)\n"
            % (
                self.errors,
                len(issues) - self.errors,
                len(records),
                len({r.aggregate for r in records}),
            )
        )
        return (
            ("Severity", "Subject", "Problem"),
            [
                common.for_output(parsed_args, (i.severity, i.subject, i.message))
                for i in issues
            ],
        )

    def run(self, parsed_args: argparse.Namespace) -> int:
        self.errors = 0
        status = super().run(parsed_args)
        return status or (1 if self.errors else 0)


def inventory_records(inv: inventory.Inventory) -> list:
    """The PCI flavor records of an inventory's aggregates."""
    return [r for a in inv.aggregates for r in models.pci_flavor_records(a)]


class AliasConfig(common.HandlesErrors, command.Command):
    """Print the [pci] alias lines for nova.conf generated from the aggregates."""

    auth_required = False  # --inventory: offline

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--no-section",
            action="store_true",
            help="print only the JSON lines, without the [pci] "
            "header and 'alias = ' prefixes",
        )
        parser.add_argument(
            "--inventory",
            metavar="FILE",
            help="read the aggregates from this inventory file ('inventory "
            "export') instead of from Nova (no credentials needed)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        if parsed_args.inventory:
            records = inventory_records(inventory.load(parsed_args.inventory))
        else:
            records = common.get_admin(self.app).list_pci_flavors()
        try:
            entries = alias.generate(models.definitions_by_name(records))
        except alias.AliasConflict as exc:
            raise errors.Conflict(str(exc)) from None
        out = self.app.stdout
        if not parsed_args.no_section:
            out.write("[pci]\n")
        for entry in entries:
            line = alias.line(entry)
            out.write(line + "\n" if parsed_args.no_section else "alias = %s\n" % line)
        bad = [r for r in records if r.error]
        for r in bad:
            self.app.stderr.write("skipped (invalid): %s\n" % common.printable(r.error))
        return 0
