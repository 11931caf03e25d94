"""Helpers shared by the commands: the admin client, change rendering."""

from __future__ import annotations

import sys
from typing import Any, Iterable

from aggregate_pci.admin import client, errors, models
from aggregate_pci.cli import plugin

CHANGE_COLUMNS = ("Aggregate", "Key", "Old Value", "New Value", "Result")


class _NeedsAuth:
    """Stands for a command that needs auth in osc-lib's set-up."""

    auth_required = True
    cmd_name = "(API access)"


def get_admin(app: Any) -> client.PciFlavorAdmin:
    """The library client for this app: an injected one (tests, the demo),
    else the plugin's ``make_client`` on this run's client manager (osc-lib's
    or OpenStackClient's keystoneauth1 session), made once per manager.

    Not ``client_manager.pci_flavor``: OSC caches that handle on its class,
    so a second shell in one process would get the first one's session.
    """
    factory = getattr(app, "admin_factory", None)
    if factory is not None:
        return factory()
    cm = app.client_manager
    cached = getattr(cm, "_aggregate_pci_admin", None)
    if cached is None:
        if getattr(cm, "_auth_required", True) is False:
            # A command that reads Nova's databases (auth_required = False)
            # and uses the API only for some options: osc-lib skipped
            # loading the auth options; run its set-up now as for a command
            # that needs auth.
            app.prepare_to_run_command(_NeedsAuth())
        cached = plugin.make_client(cm)
        cm._aggregate_pci_admin = cached
    return cached


def change_result(change: models.MetadataChange, dry_run: bool) -> str:
    """One word or two saying what happened to a key."""
    if not change.changes_anything:
        return "unchanged"
    verb = (
        "deleted"
        if change.new is None
        else "created"
        if change.old is None
        else "replaced"
    )
    if change.applied:
        return verb
    return "would be %s (dry run)" % verb if dry_run else "not applied"


def change_row(change: models.MetadataChange, dry_run: bool) -> tuple:
    return (
        change.aggregate,
        change.key,
        change.old or "",
        change.new or "",
        change_result(change, dry_run),
    )


def report_partial(
    changes: Iterable[models.MetadataChange], stream: Any = None
) -> None:
    """Tell the operator which writes were applied before a failure."""
    stream = stream or sys.stderr
    for c in changes:
        if c.applied:
            stream.write(
                "applied before the failure: aggregate %r, key %r: "
                "%s -> %s\n" % (c.aggregate, c.key, c.old, c.new)
            )


class HandlesErrors:
    """Mixin for commands: an ``AdminError`` becomes one clear line on
    stderr (plus the writes applied before it) and exit status 1; with
    ``--debug`` the applied writes are still listed and the error propagates
    so cliff logs the traceback."""

    def run(self, parsed_args: Any) -> int:
        try:
            return super().run(parsed_args)  # type: ignore[misc]
        except errors.AdminError as exc:
            app = self.app  # type: ignore[attr-defined]
            stream = getattr(app, "stderr", None) or sys.stderr
            if getattr(getattr(app, "options", None), "debug", False):
                report_partial(exc.changes, stream)
                raise
            stream.write("error: %s\n" % exc)
            report_partial(exc.changes, stream)
            return 1
