"""Apply a migration plan through the admin library layer, and undo it.

Every write is journaled (``journal.Journal``) with the value it replaces
before it is made.  A run that fails part-way leaves a consistent prefix:
re-running plans again from the live state and finishes the job, and
``undo`` replays the journal backwards.  After writing, every planned key
and host is read back and mismatches are reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aggregate_pci.admin import client, errors, models
from aggregate_pci.migrate import journal as journal_mod
from aggregate_pci.migrate import plan as plan_mod
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


def state_of(aggregates: list[models.Aggregate]) -> list[plan_mod.AggregateState]:
    """The plan's view of the aggregates the admin layer returned."""
    return [
        plan_mod.AggregateState(a.name, frozenset(a.hosts), dict(a.metadata), a.id)
        for a in aggregates
    ]


def migrate(
    admin: client.PciFlavorAdmin,
    source: SourceData,
    targets: plan_mod.Targets,
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
    targets: plan_mod.Targets,
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
        state_of(aggregates),
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
    targets: plan_mod.Targets,
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


# -- undo ----------------------------------------------------------------


def _undo_metadata(
    admin: client.PciFlavorAdmin,
    intent: dict[str, Any],
    agg: models.Aggregate | None,
    live: dict[str, models.Aggregate],
    report: Report,
    dry_run: bool,
) -> None:
    """Restore the keys of one ``set_metadata`` intent still holding what
    the migration wrote; report the ones changed since."""
    name = intent["aggregate"]
    restore = {}
    for key, change in sorted(intent["keys"].items()):
        have = agg.metadata.get(key) if agg else None
        if have == change["old"]:
            continue
        if have == change["new"]:
            restore[key] = change["old"]
        else:
            report.problems.append(
                "aggregate %r, key %r: now holds %s but the "
                "migration wrote %s: changed since, left alone"
                % (name, key, have, change["new"])
            )
    if not restore or agg is None:
        return
    admin.set_metadata(agg, restore, dry_run=dry_run)
    metadata = dict(agg.metadata)
    verb = "would " if dry_run else ""
    for key, old in restore.items():
        if old is None:
            metadata.pop(key, None)
        else:
            metadata[key] = old
        report.add(
            "%srestore %s on aggregate %r to %s"
            % (verb, key, name, "(unset)" if old is None else old)
        )
    live[name] = dataclasses.replace(agg, metadata=metadata)


def _undo_add_host(
    admin: client.PciFlavorAdmin,
    intent: dict[str, Any],
    agg: models.Aggregate,
    live: dict[str, models.Aggregate],
    report: Report,
    dry_run: bool,
) -> None:
    """Remove the host one ``add_host`` intent added."""
    name, host = intent["aggregate"], intent["host"]
    if admin.remove_host(agg, host, dry_run=dry_run):
        live[name] = dataclasses.replace(
            agg, hosts=tuple(h for h in agg.hosts if h != host)
        )
        report.add(
            "%sremove host %r from aggregate %r"
            % ("would " if dry_run else "", host, name)
        )


def _undo_create(
    admin: client.PciFlavorAdmin,
    intent: dict[str, Any],
    agg: models.Aggregate,
    live: dict[str, models.Aggregate],
    gone: dict[str, Any],
    report: Report,
    dry_run: bool,
) -> None:
    """Delete the very aggregate one ``create_aggregate`` intent made, if
    it is empty again; anything else is reported and left in place."""
    name = intent["aggregate"]
    created_id = intent.get("done", {}).get("id")
    if created_id is not None and agg.id != created_id:
        report.problems.append(
            "aggregate %r has id %s, but the migration created id "
            "%s: it is another aggregate of the same name, left "
            "in place" % (name, agg.id, created_id)
        )
        return
    try:
        deleted = admin.delete_aggregate(agg, dry_run=dry_run)
    except errors.NotEmpty as exc:
        report.problems.append(
            "%s (the migration created it; it now holds what the "
            "migration did not add, so it is left in place)" % exc
        )
        return
    del live[name]
    gone[name] = agg.id
    if deleted:
        report.add("%sdelete aggregate %r" % ("would " if dry_run else "", name))


def undo(
    admin: client.PciFlavorAdmin,
    journal_path: str,
    dry_run: bool = False,
    on_write: Any = None,
) -> Report:
    """Restore what the journal's runs (since its last undo) replaced.

    A key is restored only while it still holds what the migration wrote;
    anything changed since is reported and left alone.  Created aggregates
    are deleted once empty again, and only the very one created (its id in
    the journal, when the create's response arrived).  The aggregates it
    touched are read back afterwards; differences are ``mismatches``.
    Unless ``dry_run``, holds the journal's lock throughout.
    """
    if dry_run:
        return _undo(admin, journal_path, True, on_write)
    with journal_mod.locked(journal_path):
        return _undo(admin, journal_path, False, on_write)


def _undo(
    admin: client.PciFlavorAdmin, journal_path: str, dry_run: bool, on_write: Any
) -> Report:
    report = Report(on_write=on_write)
    intents = journal_mod.pending_intents(journal_path)
    if not intents:
        return report
    live = {a.name: a for a in admin.list_aggregates()}
    gone: dict[str, Any] = {}
    journal = journal_mod.Journal(journal_path)
    try:
        for intent in reversed(intents):
            agg = live.get(intent["aggregate"])
            if intent["op"] == "set_metadata":
                _undo_metadata(admin, intent, agg, live, report, dry_run)
            elif intent["op"] == "add_host" and agg is not None:
                _undo_add_host(admin, intent, agg, live, report, dry_run)
            elif intent["op"] == "create_aggregate" and agg is not None:
                _undo_create(admin, intent, agg, live, gone, report, dry_run)
    except errors.AdminError as exc:
        report.error = (
            "%s. Undo stopped after %d write(s); run the same "
            "undo again to finish" % (exc, len(report.applied))
        )
        return report
    except KeyboardInterrupt:
        report.interrupted = True
        report.error = (
            "interrupted (Ctrl-C): undo stopped after %d write(s); run the "
            "same undo again to finish" % len(report.applied)
        )
        return report
    if not dry_run:
        touched = {i["aggregate"] for i in intents}
        report.mismatches = verify_undo(
            admin, {n: a for n, a in live.items() if n in touched}, gone
        )
        report.read_back = True
    if not dry_run and not report.problems and not report.mismatches:
        try:
            journal.mark_undone(restored=report.applied)
        except journal_mod.JournalError as exc:
            report.error = (
                "%s: the state is restored, but the journal does "
                "not say so (a later undo finds nothing to change)" % exc
            )
    return report


def verify_undo(
    admin: client.PciFlavorAdmin,
    expected: dict[str, models.Aggregate],
    gone: dict[str, Any],
) -> list[str]:
    """Read the aggregates undo touched back: hosts and metadata as undo
    left them, deleted ones absent."""
    try:
        now = {a.name: a for a in admin.list_aggregates()}
    except errors.AdminError as exc:
        return ["read-back failed: %s" % exc]
    out = []
    for name, agg_id in sorted(gone.items()):
        if name in now and now[name].id == agg_id:
            out.append("aggregate %r (id %s) still exists" % (name, agg_id))
    for name, want in sorted(expected.items()):
        have = now.get(name)
        if have is None:
            out.append("aggregate %r is missing" % name)
            continue
        for host in sorted(set(have.hosts) ^ set(want.hosts)):
            out.append(
                "aggregate %r: host %r is %s"
                % (name, host, "still there" if host in have.hosts else "missing")
            )
        for key in sorted(set(have.metadata) | set(want.metadata)):
            if have.metadata.get(key) != want.metadata.get(key):
                out.append(
                    "aggregate %r, key %r: holds %s, expected %s"
                    % (
                        name,
                        key,
                        have.metadata.get(key),
                        want.metadata.get(key, "(unset)"),
                    )
                )
    return out
