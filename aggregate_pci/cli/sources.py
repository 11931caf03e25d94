"""Where a command's data comes from, chosen in one place for every command:
an inventory file (``--inventory``), Nova's databases through Nova's code
(``--config-file``, or the app's in-process Nova) or Nova's API."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Iterable

from aggregate_pci import alias
from aggregate_pci.admin import errors, inventory, inventory_stream, models
from aggregate_pci.cli import collector, common

if TYPE_CHECKING:
    from aggregate_pci.admin.checks import drift
    from aggregate_pci.admin.nova_io.nova_db import Pools


def add_source_args(parser: argparse.ArgumentParser) -> None:
    """``--inventory FILE`` or ``--config-file NOVA_CONF`` (one of them)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--inventory", metavar="FILE", help="inventory JSON (from 'inventory export')"
    )
    group.add_argument(
        "--config-file",
        metavar="NOVA_CONF",
        help="nova.conf giving [api_database] access: read the "
        "compute nodes' PCI pools through Nova's objects",
    )


def add_compute_conf_arg(parser: argparse.ArgumentParser) -> None:
    """``--compute-conf HOST=NOVA_CONF`` (repeatable)."""
    parser.add_argument(
        "--compute-conf",
        metavar="HOST=NOVA_CONF",
        action="append",
        default=[],
        help="the nova.conf of compute HOST (repeatable): its [pci] "
        "device_spec, matched with Nova's own code, gives the tags of the "
        "devices instances hold there (Nova stores no tags per device); "
        "HOST may be a shell-style pattern ('gpu-a-*=model-a.conf', "
        "quoted) for every compute of one configuration: a host's own name "
        "wins, then the first pattern given that matches it",
    )


def compute_confs(values: list[str] | None) -> dict[str, str]:
    """``--compute-conf HOST=NOVA_CONF`` values as {host: path}, in the
    order given (HOST may be a pattern: ``device_tags.HostTags``)."""
    out: dict[str, str] = {}
    for value in values or ():
        host, sep, path = value.partition("=")
        if not sep or not host or not path:
            raise errors.InvalidInput(
                "--compute-conf %r: expected HOST=NOVA_CONF (the compute "
                "host's name as Nova knows it, and its nova.conf)" % value
            )
        out[host] = path
    return out


def unmatched_compute_confs(
    args: argparse.Namespace, hosts: Iterable[str]
) -> list[str]:
    """The ``--compute-conf`` hosts (or patterns) naming no compute of
    ``hosts``, sorted."""
    from aggregate_pci.admin.nova_io import device_tags

    return device_tags.unmatched(
        compute_confs(getattr(args, "compute_conf", None)), hosts
    )


def given(app: Any, args: argparse.Namespace) -> bool:
    """Whether an inventory file or Nova's databases were given."""
    return bool(
        getattr(args, "inventory", None)
        or getattr(args, "config_file", None)
        or getattr(app, "nova_context", None) is not None
    )


def from_inventory(args: argparse.Namespace) -> bool:
    """Whether the data comes from an inventory file (offline)."""
    return bool(getattr(args, "inventory", None))


def label(args: argparse.Namespace) -> str:
    """Where the data came from, for messages."""
    return "inventory" if from_inventory(args) else "Nova database"


def _nova_db(app: Any, args: argparse.Namespace, command: str, missing: str) -> Any:
    """The Nova database module, configured from --config-file unless the
    app brings an in-process Nova; ``missing`` when neither is given."""
    if getattr(app, "nova_context", None) is None and not args.config_file:
        raise errors.AdminError(missing)
    from aggregate_pci.admin.nova_io import db_access, nova_db

    if getattr(app, "nova_context", None) is None:
        db_access.require_nova(
            "%s --config-file" % command,
            ", or give --inventory FILE written there by 'inventory export'"
            if hasattr(args, "inventory")
            else "",
        )
        db_access.load_config(args.config_file, common.timeout(app))
        collector.freeze_after_loading()
    return nova_db


def _progress(app: Any, what: str) -> Any:
    """A progress callback writing ``what: done/total hosts`` on one stderr
    line (rewritten in place, ended by a newline at the end); None unless
    stderr is a terminal: a log file or a pipe gets no rewritten lines."""
    isatty = getattr(app.stderr, "isatty", None)
    if isatty is None or not isatty():
        return None

    def report(done: int, total: int) -> None:
        app.stderr.write("\r%s: %d/%d hosts" % (what, done, total))
        if done >= total:
            app.stderr.write("\n")
        app.stderr.flush()

    return report


def progress_if_many(app: Any, what: str, hosts: int) -> Any:
    """A progress callback for 1,000 hosts or more (to a terminal), else
    None."""
    return _progress(app, what) if hosts >= 1000 else None


def load(
    app: Any,
    args: argparse.Namespace,
    need_flavors: bool = False,
    need_allocations: bool = False,
    progress: bool = True,
    command: str = "capacity",
    by_provider: dict[str, dict[str, int]] | None = None,
    allocations_unused: bool = False,
    free_by_host: dict[str, Any] | None = None,
    need_names: bool = True,
    pools: Pools = "all",
) -> inventory.Inventory:
    """Aggregates, host pools (and Nova flavors, and what instances hold,
    tagged by ``args.compute_conf``) from the inventory file or Nova's
    databases.

    Called again, it reads the source again (the nova.conf is loaded once
    per process); ``progress=False`` for a daemon's repeated reads.
    ``by_provider`` (Nova's databases only) collects the devices each
    instance holds per Placement provider name.  An inventory's allocations
    are read whatever ``need_allocations`` says (the exporter judges them
    when the file has them) unless ``allocations_unused`` (the command never
    reads them): then they are checked, not kept.  ``free_by_host`` (Nova's
    databases only) keeps each compute node's free pools
    (``nova_db.host_pools``); without ``need_names`` the allocations read
    from Nova's databases carry no server name, project or Nova flavor,
    and ``pools`` says which of their pools are read (``nova_db.Pools``:
    "free" for a command counting no used device, "none" for one needing
    only the hosts' names).
    """
    if from_inventory(args):
        return inventory_stream.load(args.inventory, allocations=not allocations_unused)
    nova_db = _nova_db(
        app,
        args,
        command,
        "give %s--config-file NOVA_CONF (read Nova's cell databases; run "
        "where Nova is installed)"
        % ("--inventory FILE (planning) or " if hasattr(args, "inventory") else ""),
    )
    if by_provider is not None and not _drift_wanted(args):
        by_provider = None  # the drift check will not run: count nothing
    return nova_db.inventory(
        getattr(app, "nova_context", None),
        progress=_progress(app, "reading compute nodes") if progress else None,
        with_flavors=need_flavors,
        with_allocations=need_allocations,
        compute_confs=compute_confs(getattr(args, "compute_conf", None)),
        by_provider=by_provider,
        free_by_host=free_by_host,
        with_names=need_names,
        pools=pools,
    )


def host_pools(app: Any, args: argparse.Namespace) -> dict[str, list[dict]]:
    """Host pools for ``migrate --auto-aggregates``, from the same sources:
    an inventory file, or Nova's compute-node records."""
    if from_inventory(args):
        return inventory_stream.load(args.inventory, allocations=False).hosts
    nova_db = _nova_db(
        app,
        args,
        "migrate",
        "--auto-aggregates needs the hosts' PCI pools: give --inventory "
        "FILE (from 'inventory export') or --config-file NOVA_CONF (read "
        "Nova's compute-node records; run where Nova is installed)",
    )
    return nova_db.host_pools(getattr(app, "nova_context", None))


def admin(app: Any, inventory_file: str | None) -> Any:
    """What to read and write aggregates through: Nova's API, or (offline,
    for a dry run) an inventory file's aggregates and compute hosts."""
    if inventory_file:
        return inventory.OfflineAdmin(
            inventory_stream.load(inventory_file, allocations=False)
        )
    return common.get_admin(app)


def pci_flavor_records(
    app: Any, inv: inventory.Inventory | None
) -> list[models.PciFlavorRecord]:
    """The PCI flavor records of ``inv`` if given, else from Nova's API."""
    if inv is not None:
        return inv.pci_flavor_records()
    return common.get_admin(app).list_pci_flavors()


def nova_flavor_requests(
    app: Any, inv: inventory.Inventory | None
) -> list[tuple[str, dict[str, int]]]:
    """(Nova flavor, its alias request) pairs of ``inv`` if given, else
    from Nova's API."""
    if inv is not None:
        return [
            (f["name"], alias.request_of(f.get("extra_specs")))
            for f in inv.nova_flavors
        ]
    return [
        (f.name, f.alias_requests()) for f in common.get_admin(app).list_nova_flavors()
    ]


def _drift_wanted(args: argparse.Namespace) -> bool:
    """Whether ``placement_drift`` checks Placement (``--placement``, and
    with ``auto`` the loaded nova.conf) for a read of Nova's databases."""
    from aggregate_pci.admin.nova_io import nova_db

    placement = getattr(args, "placement", "never")
    return placement == "always" or (placement == "auto" and nova_db.pci_in_placement())


def placement_drift(
    app: Any, args: argparse.Namespace, by_provider: dict[str, dict[str, int]]
) -> tuple[list[drift.DriftFinding], str | None]:
    """Instances whose Placement PCI allocations differ from what the cell
    DB gives them (``by_provider``, from ``load``), and a note when the
    check was not made or found nothing to check."""
    if args.placement == "never":
        return [], None
    if from_inventory(args):
        return [], (
            "Placement drift not checked: it compares Placement with Nova's "
            "cell databases, give --config-file NOVA_CONF instead of --inventory"
        )
    from aggregate_pci.admin.nova_io import placement_pci

    if not _drift_wanted(args):
        return [], (
            "Placement drift not checked: the nova.conf sets neither [pci] "
            "report_in_placement nor [filter_scheduler] pci_in_placement "
            "(give --placement always to check anyway)"
        )
    admin = common.get_admin(app)
    placement = placement_pci.PlacementPci(
        admin.session,
        timeout=common.timeout(app),
        region_name=getattr(admin, "region_name", None),
        interface=getattr(admin, "interface", None),
    )
    found = placement_pci.find_drift(
        placement, getattr(app, "nova_context", None), by_provider
    )
    if found is None:
        return [], (
            "Placement drift not checked: Placement has no PCI resource "
            "providers (no compute reports PCI devices there: [pci] "
            "report_in_placement is off)"
        )
    return found, None
