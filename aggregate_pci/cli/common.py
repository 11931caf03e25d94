"""Helpers shared by the commands: the admin client, the front end's
spelling of hints, rendering, and the one error handler."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Iterable

from aggregate_pci import alias, text
from aggregate_pci.admin import errors, models
from aggregate_pci.cli import batched_table, collector
from aggregate_pci.errors import AggregatePciError

if TYPE_CHECKING:
    # imported when a command talks to Nova: not by the offline ones
    from aggregate_pci.admin.nova_io import client

#: A list's columns for metadata changes (title case, as OSC's lists)...
CHANGE_COLUMNS = ("Aggregate", "Key", "Old Value", "New Value", "Result")
#: ...and a show command's fields for one change (lower case, as OSC's shows).
CHANGE_FIELDS = ("aggregate", "key", "old_value", "new_value", "result")
#: Seconds to wait for Nova (each request) and for a MySQL source (to
#: connect, to answer) unless --timeout (--os-pci-flavor-timeout) says.
DEFAULT_TIMEOUT = 30.0


def exit_codes(
    one: str = "an error (one line on stderr)",
    zero: str = "success",
    interrupted: str = "interrupted (Ctrl-C)",
) -> str:
    """A command's ``--help`` epilog stating its exit statuses, so scripts
    can rely on them (cliff gives 2 for bad options and 130 for Ctrl-C)."""
    return "Exit status: 0 %s; 1 %s; 2 bad options (usage); 130 %s." % (
        zero,
        one,
        interrupted,
    )


def timeout(app: Any) -> float:
    """The --timeout of this run (standalone ``aggregate-pci``) or
    --os-pci-flavor-timeout (``openstack``), else ``DEFAULT_TIMEOUT``."""
    options = getattr(app, "options", None)
    for name in ("timeout", "os_pci_flavor_timeout"):
        value = getattr(options, name, None)
        if value is not None:
            return float(value)
    return DEFAULT_TIMEOUT


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
        from aggregate_pci.cli import plugin

        _late_auth(app)
        cached = plugin.make_client(cm, timeout=timeout(app))
        cm._aggregate_pci_admin = cached
    return cached


def _late_auth(app: Any) -> None:
    """Authenticate now, as osc-lib's ``prepare_to_run_command`` does for
    commands with ``auth_required``: commands that can run offline
    (``auth_required = False``) authenticate only when they need Nova."""
    cm = app.client_manager
    if getattr(cm, "_auth_required", True) or not hasattr(app, "cloud_config"):
        return
    app.cloud = app.cloud_config.get_one(
        cloud=app.options.cloud,
        argparse=app.options,
        validate=True,
        app_name=getattr(cm, "_app_name", None),
        app_version=getattr(cm, "_app_version", None),
    )
    cm._cli_options = app.cloud
    cm._auth_required = True
    cm.setup_auth()
    from aggregate_pci.admin.nova_io import translate

    with translate.translated("authenticate"):
        cm.session.auth.auth_ref = cm.auth_ref


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


#: Output formats that escape text themselves (no terminal control there).
MACHINE_FORMATS = ("json", "yaml")
#: The standalone command's name (``AggregatePciApp.program``).
STANDALONE = "aggregate-pci"
#: How OpenStackClient names these commands (``flavor list`` is ``openstack
#: pci flavor list``; ``openstack flavor list`` is Nova's own flavors).
OSC_PREFIX = "openstack pci flavor"


#: The one escaping of control characters (rows, messages, metric labels).
printable = text.printable


def standalone(app: Any) -> bool:
    """Whether this run is ``aggregate-pci`` (else ``openstack``)."""
    return getattr(app, "program", None) == STANDALONE


def spell_command(app: Any, name: str) -> str:
    """Command ``name`` (as ``aggregate-pci`` names it, e.g. ``flavor
    list``) as this front end runs it, quoted."""
    if standalone(app):
        return "'%s %s'" % (STANDALONE, name)
    return "'%s %s'" % (OSC_PREFIX, name.removeprefix("flavor "))


def spell_option(app: Any, name: str) -> str:
    """Global option ``name`` (e.g. ``timeout``) in this front end's syntax."""
    return "--%s" % name if standalone(app) else "--os-pci-flavor-%s" % name


def error_text(app: Any, exc: AggregatePciError) -> str:
    """The error's message and hint, in this front end's syntax."""
    return exc.render(
        lambda name: spell_command(app, name), lambda name: spell_option(app, name)
    )


#: The widest problem text a table shows without ``--long``.
SHORT_WIDTH = 120


def short(text: str, width: int = SHORT_WIDTH) -> str:
    """``text`` up to the end of its first clause (``: ``, ``; ``, ``. ``
    after at least a third of ``width``), at most ``width`` characters, with
    "..." where it was cut: a table row that fits a terminal."""
    for mark in (": ", "; ", ". "):
        at = text.find(mark, width // 3)
        if 0 <= at < width:
            return text[:at] + " ..."
    return text if len(text) <= width else text[: width - 4].rstrip() + " ..."


def human(parsed_args: Any) -> bool:
    """Whether the output goes to people (table, value, shell, csv)."""
    return getattr(parsed_args, "formatter", "table") not in MACHINE_FORMATS


def listed(parsed_args: Any, items: Iterable[str]) -> Any:
    """A list-valued field: a JSON/YAML list for machine formats, one
    comma-separated cell for people."""
    if not human(parsed_args):
        return list(items)
    return ",".join(items)


def for_output(parsed_args: Any, row: Iterable[Any]) -> tuple:
    """A row with control characters escaped for human formats."""
    row = tuple(row)
    if not human(parsed_args) or text.all_printable(row):
        return row
    return tuple(printable(v) for v in row)


class Escaped(list):
    """A list's rows already escaped for human formats (``produce_output``
    passes them on as they are)."""


def escaped_rows(
    parsed_args: Any, rows: Iterable[Any], texts: Iterable[str]
) -> Escaped:
    """``rows`` escaped for human formats, as ``produce_output`` escapes
    them one by one; ``texts`` (every string the rows can hold, each once)
    are searched once, so a fleet's millions of rows with printable names
    are not searched row by row."""
    if human(parsed_args) and not text.all_printable(list(texts)):
        return Escaped(for_output(parsed_args, row) for row in rows)
    return Escaped(rows)


def warn_invalid(app: Any, records: Iterable[models.PciFlavorRecord]) -> None:
    """Invalid definitions count for nothing: say so on stderr."""
    for r in records:
        if r.error:
            app.stderr.write("skipped (invalid): %s\n" % printable(r.error))


def parse_request_option(text: str, option: str) -> dict[str, int]:
    """A ``NAME:COUNT[,...]`` option value, strictly (as Nova's extra-spec
    validator); ``InvalidInput`` names ``option`` and the bad item."""
    try:
        return alias.parse_request(text, strict=True)
    except alias.RequestError as exc:
        raise errors.InvalidInput("%s %s" % (option, exc)) from None


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
                "%s -> %s\n" % (c.aggregate, c.key, printable(c.old), printable(c.new))
            )


#: Options naming a command's input or output files, named (with their
#: values) by the line of an unexpected error.
FILE_OPTIONS = (
    "inventory",
    "config_file",
    "nova_conf",
    "output",
    "textfile",
    "db_url_file",
    "mapping",
    "journal",
    "undo",
)


def unexpected_text(
    app: Any, command: str, parsed_args: Any, exc: BaseException
) -> str:
    """The one line for an unexpected exception: the command, the files it
    was given, the exception's type (never its raw text: it can carry a
    value from the input), and how to see the details."""
    given = [
        "--%s %s" % (name.replace("_", "-"), printable(str(value)))
        for name in FILE_OPTIONS
        for value in [getattr(parsed_args, name, None)]
        if value and isinstance(value, str)
    ]
    return "%s failed unexpectedly (%s)%s; run again with --debug for the details" % (
        spell_command(app, command),
        type(exc).__name__,
        " on " + ", ".join(given) if given else "",
    )


class HandlesErrors:
    """Mixin for commands: any ``AggregatePciError`` becomes one clear line on
    stderr (plus the writes applied before it) and exit status 1, any other
    exception one line naming the command and its files; with ``--debug``
    the applied writes are still listed and the error propagates so cliff
    logs the traceback."""

    def produce_output(self, parsed_args: Any, column_names: Any, data: Any) -> Any:
        """A list's rows with control characters escaped for human formats
        (every command's rows, through one escaping), then batched for a
        plain table (``batched_table``: the same bytes, faster)."""
        if human(parsed_args) and not isinstance(data, (tuple, Escaped)):
            data = (for_output(parsed_args, row) for row in data)
        data = batched_table.table_rows(self, parsed_args, data)
        return super().produce_output(  # type: ignore[misc]
            parsed_args, column_names, data
        )

    def run(self, parsed_args: Any) -> int:
        collector.freeze_at_exit()
        app = self.app  # type: ignore[attr-defined]
        stream = getattr(app, "stderr", None) or sys.stderr
        debug = getattr(getattr(app, "options", None), "debug", False)
        try:
            return super().run(parsed_args)  # type: ignore[misc]
        except AggregatePciError as exc:
            changes = getattr(exc, "changes", ())
            if debug:
                report_partial(changes, stream)
                raise
            stream.write("error: %s\n" % printable(error_text(app, exc)))
            report_partial(changes, stream)
            return 1
        except Exception as exc:  # the one error path for the unexpected
            if debug:
                raise
            # OpenStackClient names it "pci flavor capacity": spell_command
            # wants the standalone name.
            name = (
                getattr(self, "cmd_name", None) or type(self).__name__
            ).removeprefix("pci ")
            stream.write("error: %s\n" % unexpected_text(app, name, parsed_args, exc))
            return 1
