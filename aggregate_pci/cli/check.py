"""``check``: lint the cloud's PCI flavors, Nova flavors and ``[pci] alias``."""

from __future__ import annotations

import argparse

from cliff import lister

from aggregate_pci import alias, text
from aggregate_pci.admin import errors, inventory_stream
from aggregate_pci.admin.checks import lint
from aggregate_pci.cli import common, sources


class CheckPciFlavor(common.HandlesErrors, lister.Lister):
    """Lint the cloud's PCI flavors; exit status 1 if any error is found."""

    _epilog = common.exit_codes("an ERROR found (warnings alone give 0) or an error")

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
            "--long",
            action="store_true",
            help="the whole problem text in table output (by default a "
            "table shows its first clause, at most %d characters), lists of "
            "names still cut to the first %d 'and N more'; the machine "
            "formats -f json/yaml always carry every name"
            % (common.SHORT_WIDTH, text.LIST_LIMIT),
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
            conf_aliases = alias.read_conf([parsed_args.nova_conf])[0]
        inv = (
            inventory_stream.load(parsed_args.inventory, allocations=False)
            if parsed_args.inventory
            else None
        )
        host_pools = inv.hosts if inv is not None else None
        offline = inv if parsed_args.offline else None
        records = sources.pci_flavor_records(self.app, offline)
        flavors = sources.nova_flavor_requests(self.app, offline)
        replay = None
        if host_pools is not None:
            from aggregate_pci.admin.nova_io import claim_replay

            replay = claim_replay.inventory_replay()
        issues = lint.lint(records, flavors, conf_aliases, host_pools, replay)
        self.errors = sum(1 for i in issues if i.severity == lint.ERROR)
        human = common.human(parsed_args)
        rows = []
        cut = 0
        for i in issues:
            text = i.render(
                lambda name: common.spell_command(self.app, name), capped=human
            )
            shown = text if parsed_args.long or not human else common.short(text)
            cut += shown != text
            rows.append(common.for_output(parsed_args, (i.severity, i.subject, shown)))
        self.app.stderr.write(
            "check: %d error(s), %d warning(s), %d PCI flavor "
            "key(s) on %d aggregate(s)%s\n"
            % (
                self.errors,
                len(issues) - self.errors,
                len(records),
                len({r.aggregate for r in records}),
                "; %d problem(s) shortened: --long shows them whole, with how "
                "to fix them" % cut
                if cut
                else "",
            )
        )
        return ("Severity", "Subject", "Problem"), rows

    def run(self, parsed_args: argparse.Namespace) -> int:
        self.errors = 0
        status = super().run(parsed_args)
        return status or (1 if self.errors else 0)
