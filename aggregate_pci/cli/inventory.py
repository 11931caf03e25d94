"""``inventory export``: write an inventory file from Nova's databases,
for the offline commands (``--inventory``)."""

from __future__ import annotations

import argparse
import sys

from cliff import command

from aggregate_pci.admin import errors, inventory, inventory_write
from aggregate_pci.cli import common, sources


class ExportInventory(common.HandlesErrors, command.Command):
    """Write an inventory file from Nova's databases.

    Aggregates, every host's PCI pools, the Nova flavors requesting
    aliases and the PCI devices instances hold (with their device_spec tags
    for the hosts given by --compute-conf), for 'capacity --inventory',
    'check --inventory' and 'audit --inventory'.
    """

    _epilog = common.exit_codes()

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
        sources.add_compute_conf_arg(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        inv = sources.load(
            self.app,
            parsed_args,
            need_flavors=True,
            need_allocations=True,
            command="inventory export",
        )
        doc = inventory.to_json(inv, lazy=True)
        if parsed_args.output:
            try:
                inventory_write.write_file(doc, parsed_args.output)
            except OSError as exc:
                raise errors.AdminError(
                    "cannot write --output %r: %s; check that its directory "
                    "exists and is writable" % (parsed_args.output, exc.strerror)
                ) from None
            self.app.stderr.write(
                "wrote %s: %d aggregate(s), %d host(s)\n"
                % (parsed_args.output, len(inv.aggregates), len(inv.hosts))
            )
        else:
            out = self.app.stdout or sys.stdout
            inventory_write.dump(doc, out)
            out.write("\n")
        return 0
