"""Undo a migration: replay its journal backwards through the admin layer.

A key is restored only while it still holds what the migration wrote, a
host the migration added is removed again, an aggregate is deleted only if
it is the very one the migration created and is empty again.  Anything changed since is reported and left alone; the
aggregates undo touched are read back afterwards.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aggregate_pci.admin import errors, models
from aggregate_pci.admin.nova_io import client
from aggregate_pci.admin.nova_io.aggregates import keys_text
from aggregate_pci.migrate import journal as journal_mod
from aggregate_pci.migrate.apply import Report

#: Keys per metadata write of an undo: Nova sets and deletes each key in a
#: transaction of its own, so one write of 2,000 keys outlasts a timeout.
UNDO_PART_KEYS = 100


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
    metadata = dict(agg.metadata)
    verb = "would " if dry_run else ""

    def restored(keys: Any) -> None:
        for key in sorted(keys):
            old = restore[key]
            if old is None:
                metadata.pop(key, None)
            else:
                metadata[key] = old
            report.add(
                "%srestore %s on aggregate %r to %s"
                % (verb, key, name, "(unset)" if old is None else old)
            )

    items = sorted(restore.items())
    try:
        for start in range(0, len(items), UNDO_PART_KEYS):
            part = dict(items[start : start + UNDO_PART_KEYS])
            try:
                admin.set_metadata(agg, part, dry_run=dry_run)
            except errors.AdminError as exc:
                if dry_run:
                    raise
                raise _part_failed(admin, agg, part, exc, restored) from None
            restored(part)
    finally:
        live[name] = dataclasses.replace(agg, metadata=metadata)


def _part_failed(
    admin: client.PciFlavorAdmin,
    agg: models.Aggregate,
    part: dict[str, str | None],
    exc: errors.AdminError,
    restored: Any,
) -> errors.AdminError:
    """A failed metadata write of undo: read the aggregate back (Nova may
    have applied part of it before timing out), count what it applied as
    done, and say so."""
    try:
        now = admin.find_aggregate(agg.name).metadata
    except errors.AdminError:
        return errors.AdminError(
            "%s; reading aggregate %r back failed too, so how many of those "
            "%d key(s) Nova applied is unknown" % (exc, agg.name, len(part))
        )
    done = [k for k, old in part.items() if now.get(k) == old]
    restored(done)
    return errors.AdminError(
        "%s; read back: Nova applied %d of those %d key(s)%s"
        % (
            exc,
            len(done),
            len(part),
            " (%s)" % keys_text(done) if done else "",
        )
    )


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
