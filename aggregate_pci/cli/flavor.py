"""``flavor create|list|show|delete``: PCI flavors on host aggregates."""

from __future__ import annotations

import argparse
from typing import Any

from cliff import lister, show

from aggregate_pci import codec
from aggregate_pci.admin import errors, models
from aggregate_pci.cli import common
from aggregate_pci.errors import Hint


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE (e.g. physical_network=physnet2), got %r" % text
        )
    return key, value


def build_definition(args: argparse.Namespace) -> codec.PciFlavorDefinition:
    """The definition from --spec JSON or from the field options, validated
    by the codec; errors name the aggregate and key."""
    key = codec.KEY_PREFIX + args.name
    fields = {
        "vendor_id": args.vendor_id,
        "product_id": args.product_id,
        "device_type": args.device_type,
        "numa_policy": args.numa_policy,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    for k, v in args.match or ():
        if k in given:
            raise errors.InvalidInput(
                "aggregate %r, key %r: field %r given twice" % (args.aggregate, key, k)
            )
        given[k] = v
    try:
        codec.make_key(args.name)
        if args.spec is not None:
            if given:
                raise codec.PciFlavorError(
                    "give either --spec JSON or the field options "
                    "(--vendor-id, --product-id, --match ...), not both"
                )
            return codec.parse_document(args.spec, what="--spec")
        if not given:
            raise codec.PciFlavorError(
                "no definition: give --vendor-id and --product-id (plus "
                "optional --device-type, --numa-policy, --match KEY=VALUE), "
                "or --spec JSON"
            )
        return codec.definition_from_json(given)
    except codec.PciFlavorError as exc:
        raise errors.InvalidInput(
            str(
                exc.with_context(
                    key=key if exc.key is None else None, aggregate=args.aggregate
                )
            )
        ) from None


class CreatePciFlavor(common.HandlesErrors, show.ShowOne):
    """Define a PCI flavor on a host aggregate (validated before any call)."""

    _epilog = common.exit_codes(
        "a refused or invalid definition, or another error (one line on stderr)"
    )
    #: Whether --replace is offered (``flavor set`` always replaces).
    replace_option = True

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "name",
            metavar="NAME",
            help="PCI flavor name (also the alias name Nova flavors request)",
        )
        parser.add_argument(
            "--aggregate",
            required=True,
            metavar="AGG",
            help="aggregate name, id or UUID",
        )
        parser.add_argument("--vendor-id", help="4 hex digits, e.g. 10de")
        parser.add_argument("--product-id", help="4 hex digits, e.g. 20b5")
        parser.add_argument(
            "--device-type",
            choices=codec.DEVICE_TYPES,
            help="match only this kind of device (Nova's dev_type)",
        )
        parser.add_argument(
            "--numa-policy",
            choices=codec.NUMA_POLICIES,
            help="NUMA affinity Nova applies to devices of this flavor",
        )
        parser.add_argument(
            "--match",
            action="append",
            type=_key_value,
            metavar="KEY=VALUE",
            help="extra narrowing field (physical_network, "
            "address glob, device_spec tag); repeatable",
        )
        parser.add_argument(
            "--spec",
            metavar="JSON",
            help="the whole definition as JSON: an object or a list of objects (ORed)",
        )
        if self.replace_option:
            parser.add_argument(
                "--replace",
                action="store_true",
                help="overwrite a different existing definition of NAME on "
                "that aggregate",
            )
        parser.add_argument(
            "--allow-different",
            action="store_true",
            help="define NAME even if its definitions on other aggregates "
            "differ (hosts in several of them get the OR; check reports it)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show the metadata change without making it",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        definition = build_definition(parsed_args)
        change = common.get_admin(self.app).create_pci_flavor(
            parsed_args.name,
            parsed_args.aggregate,
            definition,
            replace=getattr(parsed_args, "replace", True),
            dry_run=parsed_args.dry_run,
            allow_different=parsed_args.allow_different,
        )
        return common.CHANGE_FIELDS, common.for_output(
            parsed_args, common.change_row(change, parsed_args.dry_run)
        )


class ListPciFlavor(common.HandlesErrors, lister.Lister):
    """List every PCI flavor key: flavor, aggregate, hosts, definition."""

    _epilog = common.exit_codes()

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--aggregate", metavar="AGG", help="only this aggregate (name, id or UUID)"
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        admin = common.get_admin(self.app)
        records = admin.list_pci_flavors()
        only = None
        if parsed_args.aggregate is not None:
            only = admin.find_aggregate(parsed_args.aggregate).name
        rows = [
            common.for_output(
                parsed_args,
                (
                    r.name,
                    r.aggregate,
                    common.listed(parsed_args, r.hosts),
                    r.definition.serialize() if r.definition else r.value,
                    r.error or "",
                ),
            )
            for r in records
            if only in (None, r.aggregate)
        ]
        return ("PCI Flavor", "Aggregate", "Hosts", "Definition", "Error"), rows


class ShowPciFlavor(common.HandlesErrors, show.ShowOne):
    """Show one PCI flavor: aggregates, hosts covered, definitions, conflicts."""

    _epilog = common.exit_codes(
        "no aggregate defines NAME, or another error (one line on stderr)"
    )

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME", help="PCI flavor name")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        name = parsed_args.name
        records = [
            r for r in common.get_admin(self.app).list_pci_flavors() if r.name == name
        ]
        if not records:
            raise errors.NotFound(
                "key %r: no aggregate defines PCI flavor %r"
                % (codec.KEY_PREFIX + name, name),
                hint=Hint("{command} shows the defined ones", command="flavor list"),
            )
        good = [r for r in records if r.definition is not None]
        definitions = {
            r.aggregate: r.definition.serialize() for r in good if r.definition
        }
        hosts = sorted({h for r in good for h in r.hosts})
        conflicts = ""
        if len(set(definitions.values())) > 1:
            conflicts = (
                "definitions differ between aggregates; hosts in several get the OR"
            )
        errors_by_agg = {r.aggregate: r.error for r in records if r.error}
        aggregates = common.listed(parsed_args, [r.aggregate for r in records])
        if common.human(parsed_args):
            # One "aggregate: value" line each, not a Python dict repr.
            shown: dict[str, Any] = {
                "name": name,
                "aggregates": aggregates,
                "hosts": common.listed(parsed_args, hosts),
                "definitions": "\n".join(
                    "%s: %s" % (a, d) for a, d in sorted(definitions.items())
                ),
                "errors": "\n".join(
                    "%s: %s" % (a, e) for a, e in sorted(errors_by_agg.items())
                ),
                "conflicts": conflicts,
            }
            return tuple(shown), tuple(
                "\n".join(common.printable(x) for x in v.split("\n"))
                for v in shown.values()
            )
        data: dict[str, Any] = {
            "name": name,
            "aggregates": aggregates,
            "hosts": hosts,
            "definitions": definitions,
            "errors": errors_by_agg,
            "conflicts": conflicts,
        }
        return tuple(data), tuple(data.values())


class DeletePciFlavor(common.HandlesErrors, lister.Lister):
    """Delete a PCI flavor's key from one aggregate or from all (only its key)."""

    _epilog = common.exit_codes(
        "refused (the last definition of a name Nova flavors request, "
        "without --yes) or another error (one line on stderr)",
        zero="success, also when the key is not there (unchanged)",
    )
    #: Whether --aggregate must be given (``flavor unset``).
    aggregate_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME", help="PCI flavor name")
        parser.add_argument(
            "--aggregate",
            metavar="AGG",
            required=self.aggregate_required,
            help="the aggregate (name, id or UUID) to remove NAME from"
            if self.aggregate_required
            else "only this aggregate (default: every aggregate defining NAME)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show the keys that would be deleted without deleting them",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="delete the last definition even while Nova flavors request "
            "NAME (it becomes unmanaged: placement widens to any host)",
        )
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        admin = common.get_admin(self.app)
        name = parsed_args.name
        users = admin.pci_flavor_users(name)
        self.app.stderr.write(
            "PCI flavor %r: %s\n" % (common.printable(name), users.describe())
        )
        changes = admin.delete_pci_flavor(
            name,
            parsed_args.aggregate,
            dry_run=parsed_args.dry_run,
            yes=parsed_args.yes,
            users=users,
        )
        if not changes:
            self.app.stderr.write(
                "PCI flavor %r is defined on no aggregate: nothing to delete "
                "(%s shows the defined ones)\n"
                % (
                    common.printable(name),
                    common.spell_command(self.app, "flavor list"),
                )
            )
            changes = [
                models.MetadataChange("", codec.KEY_PREFIX + name, None, None, False)
            ]
        return common.CHANGE_COLUMNS, [
            common.for_output(parsed_args, common.change_row(c, parsed_args.dry_run))
            for c in changes
        ]
