"""``migrate``: move PCI flavors from a ``pci_flavors`` table or from
nova.conf ``[pci] alias`` onto host-aggregate metadata (and ``--undo``)."""

from __future__ import annotations

import argparse

from cliff import command

from aggregate_pci.admin import errors
from aggregate_pci.cli import common, sources
from aggregate_pci.cli import migrate_inputs as inputs
from aggregate_pci.migrate import apply, plan, undo

DEFAULT_JOURNAL = "aggregate-pci-migrate.journal"


class MigratePciFlavor(common.HandlesErrors, command.Command):
    """Migrate PCI flavors from a pci_flavors table or [pci] alias config.

    Prints the plan (aggregates to create, hosts to add, keys to set) and
    every conflict before writing anything; journals each write with the
    value it replaced; reads every key back.  Re-running is safe.
    """

    _epilog = common.exit_codes(
        "a problem or mismatch remains (see the report), or an error",
        interrupted="interrupted (Ctrl-C): the journal keeps what was done, "
        "run again to finish",
    )

    auth_required = False  # the source and a --dry-run with --inventory

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        src = parser.add_mutually_exclusive_group()
        src.add_argument(
            "--db-url",
            metavar="URL",
            help="SQLAlchemy URL of the database holding table "
            "pci_flavors, e.g. sqlite:////var/lib/f.db or "
            "mysql+pymysql://user@host/db?read_default_file=/etc/my.cnf "
            "(read only; MySQL needs aggregate-pci[mysql]). A password "
            "here is visible in 'ps': prefer --db-url-file or $%s" % inputs.DB_URL_ENV,
        )
        src.add_argument(
            "--db-url-file",
            metavar="FILE",
            help="read the database URL from this file (one line; make it mode 0600)",
        )
        src.add_argument(
            "--nova-conf",
            metavar="FILE",
            action="append",
            help="nova.conf whose [pci] alias (and [DEFAULT] "
            "pci_alias) entries to migrate; repeatable, read "
            "in order as Nova reads --config-file",
        )
        tgt = parser.add_mutually_exclusive_group()
        tgt.add_argument(
            "--mapping",
            metavar="FILE",
            help='JSON {"flavor": ["aggregate", ...]}; every '
            "source flavor must be mapped ([] skips one)",
        )
        tgt.add_argument(
            "--aggregate",
            metavar="NAME",
            help="put every flavor on this existing aggregate",
        )
        tgt.add_argument(
            "--auto-aggregates",
            action="store_true",
            help="one aggregate pci-flavor-NAME per flavor with "
            "the hosts whose PCI pools match it (created "
            "and filled as needed)",
        )
        pools = parser.add_mutually_exclusive_group()
        pools.add_argument(
            "--inventory",
            metavar="FILE",
            help="with --auto-aggregates: host pools from an "
            "inventory file ('inventory export')",
        )
        pools.add_argument(
            "--config-file",
            metavar="NOVA_CONF",
            help="with --auto-aggregates: read host pools from "
            "Nova's compute-node records (needs Nova "
            "installed and DB access)",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="overwrite a different definition already on "
            "a target (recorded in the journal)",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="migrate the valid entries when some are "
            "invalid (they are listed either way)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print the full plan and change nothing",
        )
        parser.add_argument(
            "--offline",
            action="store_true",
            help="with --dry-run and --inventory: plan against the "
            "inventory's aggregates and hosts instead of Nova's (no "
            "credentials needed)",
        )
        parser.add_argument(
            "--journal",
            metavar="FILE",
            default=DEFAULT_JOURNAL,
            help="append every write here (default %(default)s)",
        )
        parser.add_argument(
            "--undo",
            metavar="JOURNAL",
            help="restore what the runs recorded in JOURNAL "
            "changed (since its last undo)",
        )
        return parser

    def _say(self, line: str) -> None:
        self.app.stdout.write(common.printable(line) + "\n")
        self.app.stdout.flush()

    def _write(self, line: str) -> None:
        self.writes += 1
        self._say(line)

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.writes = 0
        try:
            return self._take_action(parsed_args)
        except KeyboardInterrupt:
            where = (
                "--undo %s" % parsed_args.undo
                if parsed_args.undo
                else "--undo %s" % parsed_args.journal
            )
            self.app.stderr.write(
                "interrupted (Ctrl-C) after %d write(s)%s\n"
                % (
                    self.writes,
                    "; nothing was written"
                    if not self.writes
                    else " (listed above); re-run the same command to "
                    "finish, or undo with " + where,
                )
            )
            return 130

    def _take_action(self, parsed_args: argparse.Namespace) -> int:
        args = parsed_args
        if args.undo:
            given = [
                o
                for o, v in (
                    ("--db-url", args.db_url),
                    ("--db-url-file", args.db_url_file),
                    ("--nova-conf", args.nova_conf),
                    ("--mapping", args.mapping),
                    ("--aggregate", args.aggregate),
                    ("--auto-aggregates", args.auto_aggregates),
                    ("--inventory", args.inventory),
                    ("--config-file", args.config_file),
                    ("--replace", args.replace),
                    ("--skip-invalid", args.skip_invalid),
                    ("--offline", args.offline),
                )
                if v
            ]
            if given:
                raise errors.AdminError(
                    "--undo restores what the journal recorded and takes no "
                    "source, target or migration option (got %s)" % ", ".join(given)
                )
        elif args.offline and not (args.dry_run and args.inventory):
            raise errors.AdminError(
                "--offline plans from an inventory file: give --dry-run and "
                "--inventory FILE with it"
            )
        elif (args.inventory or args.config_file) and not (
            args.auto_aggregates or args.offline
        ):
            raise errors.AdminError(
                "--inventory and --config-file only serve --auto-aggregates "
                "(and --inventory --offline --dry-run)"
            )
        if args.undo:
            report = undo.undo(
                common.get_admin(self.app), args.undo, args.dry_run, self._write
            )
            return self._report(report, args.dry_run, "undo")
        url = inputs.db_url(args)
        if not (url or args.nova_conf):
            raise errors.AdminError(
                "give a source: --db-url-file FILE, --db-url URL (or $%s) or "
                "--nova-conf FILE" % inputs.DB_URL_ENV
            )
        if not (args.mapping or args.aggregate or args.auto_aggregates):
            raise errors.AdminError(
                "give a target: --mapping FILE, --aggregate NAME or --auto-aggregates"
            )
        data = inputs.read_source(args, url, common.timeout(self.app))
        self._say(
            "source: %s: %d flavor(s), %d invalid, %d deleted row(s) "
            "skipped"
            % (data.description, len(data.flavors), len(data.bad), len(data.skipped))
        )
        for note in data.notes:
            self._say("note: " + note)
        targets = inputs.targets(self.app, args, data)
        report = apply.migrate(
            sources.admin(self.app, args.inventory if args.offline else None),
            data,
            targets,
            args.journal,
            replace=args.replace,
            skip_invalid=args.skip_invalid,
            dry_run=args.dry_run,
            on_plan=lambda p: self._plan(p, args.dry_run),
            on_write=self._write,
        )
        return self._report(report, args.dry_run, "migrate")

    def _plan(self, p: plan.MigrationPlan, dry_run: bool) -> None:
        """The plan (dry run or blocked) and its problems, before any write."""
        problems = ("CONFLICT", "ERROR", "WARNING")
        for line in p.lines(lambda name: common.spell_command(self.app, name)):
            if line.startswith(problems):
                self._say(line)
            elif dry_run or p.blocked:
                self._say("plan: " + line)

    def _report(self, report: apply.Report, dry_run: bool, what: str) -> int:
        """Problems and a summary (the plan and each write were printed
        as they happened); exit status 0 only when everything is in place,
        130 after Ctrl-C."""
        p = report.plan
        for line in report.problems:
            self._say("PROBLEM " + line)
        for line in report.mismatches:
            self._say("MISMATCH " + line)
        if report.error:
            self._say("ERROR " + report.error)
        if p is not None and p.blocked:
            self._say(
                "nothing written: %d conflict(s), %d error(s)"
                % (len(p.conflicts), len(p.errors))
            )
        elif p is not None and dry_run:
            self._say(
                "dry run: %d change(s) planned, %d key(s) already in "
                "place; nothing written" % (p.change_count, p.unchanged)
            )
        elif p is not None:
            self._say(
                "%s: %d change(s) made, %d key(s) already in place, "
                "read-back %s"
                % (
                    what,
                    len(report.applied),
                    p.unchanged,
                    "FAILED" if report.mismatches else "OK",
                )
            )
        else:
            self._say(
                "%s: %d change(s) %s%s"
                % (
                    what,
                    len(report.applied),
                    "planned" if dry_run else "made",
                    ""
                    if not report.read_back
                    else ", read-back %s" % ("FAILED" if report.mismatches else "OK"),
                )
            )
        if report.interrupted:
            return 130
        return 0 if report.ok else 1
