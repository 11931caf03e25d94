"""Apply a migration plan through the admin library layer, and undo it.

Every write is journaled (``journal.Journal``) with the value it replaces
before it is made.  A run that fails part-way leaves a consistent prefix:
re-running plans again from the live state and finishes the job, and
``migrate.undo`` replays the journal backwards.  After writing, every planned key
and host is read back and mismatches are reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aggregate_pci.admin import errors, models
from aggregate_pci.admin.nova_io import client
from aggregate_pci.migrate import journal as journal_mod
from aggregate_pci.migrate import plan as plan_mod
from aggregate_pci.migrate import target_choice
from aggregate_pci.migrate.model import SourceData


@dataclasses.dataclass
class Report:
    """What a migration or undo did: one line per write, plus problems."""

    plan: plan_mod.MigrationPlan | None = None
    applied: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    mismatches: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    #: Whether the result was read back from Nova (``mismatches`` apply).
    read_back: bool = False
    #: Stopped by Ctrl-C (KeyboardInterrupt) part-way.
    interrupted: bool = False
    #: Called with each ``applied`` line as the write happens.
    on_write: Any = dataclasses.field(default=None, repr=False, compare=False)

    def add(self, line: str) -> None:
        self.applied.append(line)
        if self.on_write is not None:
            self.on_write(line)

    @property
    def ok(self) -> bool:
        blocked = self.plan is not None and self.plan.blocked
        return not (blocked or self.error or self.mismatches or self.problems)


def migrate(
    admin: client.PciFlavorAdmin,
    source: SourceData,
    targets: target_choice.Targets,
    journal_path: str | None,
    replace: bool = False,
    skip_invalid: bool = False,
    dry_run: bool = False,
    on_plan: Any = None,
    on_write: Any = None,
) -> Report:
    """Plan from the live state (hosts to add must be Nova compute hosts);
    unless ``dry_run`` or blocked, apply the plan and read it back.  Safe
    to re-run: a finished migration plans zero changes.

    Unless ``dry_run``, the journal's lock is held from before the first
    API call to the end (``journal.JournalLocked`` if another run or undo
    holds it).  ``on_plan(plan)`` is called once the plan is made and
    ``on_write(line)`` as each write is made.
    """
    if dry_run:
        return _migrate(
            admin, source, targets, None, replace, skip_invalid, True, on_plan, on_write
        )
    if journal_path is None:
        raise ValueError("a journal path is required to apply a plan")
    with journal_mod.locked(journal_path):
        return _migrate(
            admin,
            source,
            targets,
            journal_path,
            replace,
            skip_invalid,
            False,
            on_plan,
            on_write,
        )


def _migrate(
    admin: client.PciFlavorAdmin,
    source: SourceData,
    targets: target_choice.Targets,
    journal_path: str | None,
    replace: bool,
    skip_invalid: bool,
    dry_run: bool,
    on_plan: Any,
    on_write: Any,
) -> Report:
    aggregates = admin.list_aggregates()
    plan = plan_mod.build_migration_plan(
        source.flavors,
        targets,
        aggregates,
        replace=replace,
        bad=source.bad,
        skip_invalid=skip_invalid,
    )
    if plan.hosts_to_add():
        # One more call, only when hosts are to be added: an unknown host
        # (a stale inventory) blocks the plan before anything is written.
        plan.refuse_unknown_hosts(admin.list_compute_hosts())
    report = Report(plan, on_write=on_write)
    if on_plan is not None:
        on_plan(plan)
    if dry_run or plan.blocked or not plan.steps:
        if not dry_run and not plan.blocked:
            report.mismatches = verify(admin, plan, targets, source)
        return report
    assert journal_path is not None
    journal = journal_mod.Journal(journal_path, {"source": source.description})
    apply_steps(admin, plan, {a.name: a for a in aggregates}, journal, report)
    if not report.interrupted:
        report.mismatches = verify(admin, plan, targets, source)
    return report


def apply_steps(
    admin: client.PciFlavorAdmin,
    plan: plan_mod.MigrationPlan,
    aggregates: dict[str, models.Aggregate],
    journal: journal_mod.Journal,
    report: Report,
) -> None:
    """Write the plan's steps in order; stop at the first failure or at
    Ctrl-C, saying how many writes were made and how to go on."""
    try:
        for step in plan.steps:
            _apply_step(admin, step, aggregates, journal, report)
    except (errors.AdminError, journal_mod.JournalError) as exc:
        # A journal failure stops the run too: every write made so far
        # has its intent (with the replaced value) on disk already.
        report.error = (
            "%s. Stopped after %d write(s); re-run the same command to "
            "finish, or undo with --undo %s" % (exc, len(report.applied), journal.path)
        )
    except KeyboardInterrupt:
        report.interrupted = True
        report.error = (
            "interrupted (Ctrl-C) after %d write(s) (a write in progress may "
            "or may not have been made; its intent is journaled); re-run the "
            "same command to finish, or undo with --undo %s"
            % (len(report.applied), journal.path)
        )


def _apply_step(
    admin: client.PciFlavorAdmin,
    step: plan_mod.AggregateStep,
    aggregates: dict[str, models.Aggregate],
    journal: journal_mod.Journal,
    report: Report,
) -> None:
    name = step.aggregate
    if step.create:
        seq = journal.intent("create_aggregate", aggregate=name)
        agg = _journaled(journal, seq, admin.create_aggregate, name)
        aggregates[name] = agg
        report.add("created aggregate %r" % name)
        journal.done(seq, id=agg.id)
    agg = aggregates[name]
    for host in step.add_hosts:
        seq = journal.intent("add_host", aggregate=name, host=host)
        _journaled(journal, seq, admin.add_host, agg, host)
        report.add("added host %r to aggregate %r" % (host, name))
        journal.done(seq)
    # One call per part: a part's request body fits Nova's size limit.
    for part in step.metadata_parts():
        keys = {c.key: {"old": c.old, "new": c.new} for c in part}
        seq = journal.intent("set_metadata", aggregate=name, keys=keys)
        _journaled(journal, seq, admin.set_metadata, agg, {c.key: c.new for c in part})
        for change in part:
            report.add(
                "set %s=%s on aggregate %r%s"
                % (
                    change.key,
                    change.new,
                    name,
                    "" if change.old is None else " (replaced %s)" % change.old,
                )
            )
        journal.done(seq)


def _journaled(journal: journal_mod.Journal, seq: int, call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except errors.AdminError as exc:
        try:
            journal.failed(seq, str(exc))
        except journal_mod.JournalError:
            pass  # the intent is on disk; Nova's error is the one to report
        raise


def verify(
    admin: client.PciFlavorAdmin,
    plan: plan_mod.MigrationPlan,
    targets: target_choice.Targets,
    source: SourceData,
) -> list[str]:
    """Read every target back: each wanted key and host must be there."""
    try:
        live = {a.name: a for a in admin.list_aggregates()}
    except errors.AdminError as exc:
        return ["read-back failed: %s" % exc]
    wanted = plan_mod.wanted_state(source.flavors, targets)
    out = []
    for name, (hosts, keys) in sorted(wanted.items()):
        agg = live.get(name)
        if agg is None:
            out.append("aggregate %r is missing" % name)
            continue
        for host in sorted(hosts - set(agg.hosts)):
            out.append("aggregate %r: host %r is missing" % (name, host))
        for key, value in sorted(keys.items()):
            have = agg.metadata.get(key)
            if have != value and not plan_mod.same_definition(have, value):
                out.append(
                    "aggregate %r, key %r: holds %s, expected %s"
                    % (name, key, have, value)
                )
    return out
