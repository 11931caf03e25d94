"""``audit``: do the PCI devices instances hold match the current PCI
flavor definitions of their hosts?  From Nova's databases (``--config-file``)
or an inventory file with allocations (``--inventory``)."""

from __future__ import annotations

import argparse
from typing import Any

from cliff import lister

from aggregate_pci.admin import errors, models
from aggregate_pci.admin.checks import audit, drift
from aggregate_pci.cli import common, sources
from aggregate_pci.text import all_printable

DEVICE_COLUMNS = (
    "Instance",
    "Server",
    "Project",
    "Nova Flavor",
    "Host",
    "PCI Flavor",
    "Address",
    "Vendor:Product",
    "Type",
    "Tags",
    "Match",
    "Reason",
    "To Fix",
)
#: The summary's PCI Flavor cell for Placement drift (per host, not per
#: PCI flavor: its devices are the Mismatched ones).
DRIFT_FLAVOR = "(Placement drift)"
SUMMARY_COLUMNS = (
    "PCI Flavor",
    "Scope",
    "Name",
    "Instances",
    "Devices",
    "Mismatched",
    "Unknown",
)


def _tags(args: argparse.Namespace, device: models.Device) -> Any:
    """The device's tags: an object (null if unknown) for JSON/YAML, one
    ``k=v,...`` cell ("?" if unknown) for people."""
    if not common.human(args):
        return None if device.tags is None else dict(sorted(device.tags.items()))
    if device.tags is None:
        return "?"
    return ",".join("%s=%s" % kv for kv in sorted(device.tags.items()))


def _drift_rows(
    found: list[drift.DriftFinding], parsed_args: argparse.Namespace
) -> list[tuple]:
    """One row per device where Placement and the cell DB disagree, in
    ``DEVICE_COLUMNS`` (server names escaped for human formats)."""
    rows = []
    for f in found:
        for name, reason, fix in drift.devices(f):
            fields = {
                "Instance": f.instance,
                "Server": f.server,
                "Host": drift.host_of(name),
                "Address": drift.address_of(name),
                "Match": drift.DRIFT,
                "Reason": reason,
                "To Fix": fix,
            }
            row = tuple(fields.get(column, "") for column in DEVICE_COLUMNS)
            rows.append(common.for_output(parsed_args, row))
    return rows


class AuditPciDevice(common.HandlesErrors, lister.Lister):
    """PCI devices held through PCI flavors, checked against the hosts'
    current definitions; exit status 1 if an instance holds a device its
    flavor excludes or, with PCI in Placement, if an instance's Placement
    allocations differ from the devices the cell DB gives it (rows 'drift').

    An instance is judged as a whole: its devices must be assignable one to
    one to what its flavor requests, each to a PCI flavor whose current
    definition on the host (the OR of the host's aggregates' ones) matches
    it.  Tags come from each compute's [pci] device_spec (--compute-conf);
    where they are unknown and a definition uses tags, the verdict is
    'unknown' and a warning names the host.  Each row names the server, its
    project and Nova flavor; "To Fix" says what to do about a 'no' (a cold
    migration) or an 'unknown'.  Instances of every project are audited
    (--all-projects, as OpenStackClient spells it); --project narrows.
    """

    _epilog = common.exit_codes(
        "an instance holds a device its PCI flavor excludes, or an error"
    )

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        sources.add_source_args(parser)
        sources.add_compute_conf_arg(parser)
        parser.add_argument(
            "--live-definitions",
            action="store_true",
            help="judge against the aggregates as Nova's API has them now "
            "(needs admin credentials), not those of the source (e.g. an "
            "older inventory file)",
        )
        parser.add_argument(
            "--summary",
            action="store_true",
            help="instances, devices, mismatched and unknown devices per PCI "
            "flavor, aggregate and host (and Placement drift, in total and "
            "per host), instead of one row per device",
        )
        projects = parser.add_mutually_exclusive_group()
        projects.add_argument(
            "--all-projects",
            action="store_true",
            help="the servers of every project (the default: audit reads "
            "Nova's databases, not one project's view)",
        )
        projects.add_argument(
            "--project",
            metavar="PROJECT_ID",
            help="only the servers of this project (its ID, as Nova stores it)",
        )
        parser.add_argument(
            "--placement",
            choices=("auto", "always", "never"),
            default="auto",
            help="compare each instance's PCI allocations in Placement with the "
            "devices the cell DB gives it (rows 'drift'; needs credentials): "
            "'auto' when the nova.conf sets [pci] report_in_placement or "
            "[filter_scheduler] pci_in_placement (default)",
        )
        parser.add_argument(
            "--mismatched",
            action="store_true",
            help="only the devices judged 'no' or 'unknown'",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        if parsed_args.inventory and parsed_args.compute_conf:
            sources.compute_confs(parsed_args.compute_conf)  # still report bad values
            raise errors.InvalidInput(
                "--compute-conf applies to Nova's databases (--config-file); "
                "for an inventory, give it to 'inventory export'"
            )
        by_provider: dict[str, dict[str, int]] = {}
        inv = sources.load(
            self.app,
            parsed_args,
            need_allocations=True,
            by_provider=by_provider,
            # the summary shows no server: names only to filter by project
            need_names=not parsed_args.summary or parsed_args.project is not None,
            # judged by the PCI flavor definitions, not by what is free
            pools="none",
        )
        if inv.allocations is None:
            raise errors.AdminError(
                "inventory %r has no 'allocations' section: write it again "
                "with this version's 'inventory export'" % parsed_args.inventory
            )
        records = sources.pci_flavor_records(
            self.app, None if parsed_args.live_definitions else inv
        )
        allocations = [
            a for a in inv.allocations if parsed_args.project in (None, a.project)
        ]
        result = audit.audit(allocations, records)
        stderr = self.app.stderr
        for host in sources.unmatched_compute_confs(parsed_args, inv.hosts):
            stderr.write(
                "warning: --compute-conf %s: Nova has no such compute\n"
                % common.printable(host)
            )
        for line in result.warnings:
            stderr.write("warning: %s\n" % common.printable(line))
        found, note = sources.placement_drift(self.app, parsed_args, by_provider)
        if note:
            stderr.write("audit: %s\n" % common.printable(note))
        self.mismatched = result.mismatched_instances + len(found)
        stderr.write(
            "audit: %d instance(s), %d device(s) through PCI flavors: "
            "%d instance(s) hold devices their flavor excludes, "
            "%d device(s) unknown\n"
            % (
                result.instances,
                result.devices,
                result.mismatched_instances,
                result.count(audit.UNKNOWN),
            )
        )
        if found or not note:
            stderr.write(
                "audit: %d instance(s) whose Placement PCI allocations differ "
                "from the devices the cell DB gives them\n" % len(found)
            )
        if parsed_args.summary:
            return SUMMARY_COLUMNS, [
                (
                    s.flavor,
                    s.scope,
                    s.name,
                    s.instances,
                    s.devices,
                    s.mismatched,
                    s.unknown,
                )
                for s in result.summary
            ] + [
                common.for_output(
                    parsed_args,
                    (DRIFT_FLAVOR, scope, name, instances, devices, devices, 0),
                )
                for scope, name, instances, devices in drift.summary(found)
            ]
        servers = {a.instance: a for a in allocations}
        # devices equal in value are often one object: their cells once
        cells: dict[int, tuple[Any, ...]] = {}
        rows = []
        # the strings the rows hold, searched for control characters once
        # (escaped_rows) instead of row by row: each device's and verdict's
        # once, an instance's only if they are not printable (a fleet's
        # million instances are not held twice)
        texts: set[Any] = set()
        human = common.human(parsed_args)
        last = None
        for alloc, dev, flavor, match, reason, fix in result.device_rows():
            if parsed_args.mismatched and match not in (audit.NO, audit.UNKNOWN):
                continue
            server = servers[alloc.instance]
            device = cells.get(id(dev))
            if device is None:
                device = cells[id(dev)] = (
                    dev.address,
                    "%s:%s" % (dev.vendor_id, dev.product_id),
                    dev.dev_type,
                    _tags(parsed_args, dev),
                )
                if human:
                    texts.update(device)
            head = (
                alloc.instance,
                server.name,
                server.project,
                server.nova_flavor,
                alloc.host,
                flavor,
            )
            if human:
                if alloc is not last:
                    last = alloc
                    if not all_printable(head[:5]):
                        texts.update(head[:5])
                texts.update((flavor, match, reason, fix))
            rows.append(head + device + (match, reason, fix))
        return DEVICE_COLUMNS, common.Escaped(
            common.escaped_rows(parsed_args, rows, texts)
            + _drift_rows(found, parsed_args)
        )

    def run(self, parsed_args: argparse.Namespace) -> int:
        self.mismatched = 0
        status = super().run(parsed_args)
        return status or (1 if self.mismatched else 0)
