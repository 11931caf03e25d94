"""``alias-config``: the ``[pci] alias`` lines for nova.conf, generated from
the aggregates' PCI flavors."""

from __future__ import annotations

import argparse

from cliff import command

from aggregate_pci import alias
from aggregate_pci.admin import inventory_stream, models
from aggregate_pci.cli import common, sources


class ShowAliasConfig(common.HandlesErrors, command.Command):
    """Print the [pci] alias lines for nova.conf generated from the aggregates."""

    _epilog = common.exit_codes()

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

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        inv = (
            inventory_stream.load(parsed_args.inventory)
            if parsed_args.inventory
            else None
        )
        records = sources.pci_flavor_records(self.app, inv)
        entries = alias.generate(models.definitions_by_name(records))
        out = self.app.stdout
        if not parsed_args.no_section:
            out.write("[pci]\n")
        for entry in entries:
            line = alias.line(entry)
            out.write(line + "\n" if parsed_args.no_section else "alias = %s\n" % line)
        common.warn_invalid(self.app, records)
        return 0
