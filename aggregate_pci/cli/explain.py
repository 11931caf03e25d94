"""``explain``: why a Nova flavor or PCI request can or cannot land, per
host, in the words AggregatePciFilter logs (admin/explain.py)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from cliff import lister

from aggregate_pci import alias
from aggregate_pci.admin import errors
from aggregate_pci.admin.checks import explain, explain_weigh
from aggregate_pci.cli import common, sources


class ExplainRequest(common.HandlesErrors, lister.Lister):
    """Per host: would AggregatePciFilter pass this request, and why not.

    The verdicts come from the filter's own decision function on the
    source's aggregates and free pools.  With --config-file (Nova
    installed) the compute's claim is replayed with Nova's pool logic and
    Nova's PciPassthroughFilter is asked too; from --inventory the claim
    check is not replayed (those hosts say so).  For the hosts that pass,
    AggregatePciWeigher's score, their preference order and what the
    placement costs the other PCI request types.  A summary line goes to
    stderr.  Exit status 0 if at least one host can take it, 1 if none.
    """

    _epilog = common.exit_codes("no host can take the request, or an error")

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        sources.add_source_args(parser)
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument(
            "--nova-flavor",
            metavar="NAME",
            help="a Nova flavor (name or ID): its pci_passthrough:alias",
        )
        what.add_argument(
            "--server",
            metavar="SERVER",
            help="a server, by name or ID (e.g. one in ERROR with 'No valid "
            "host'): its Nova "
            "flavor's pci_passthrough:alias, read from Nova's databases "
            "(--config-file)",
        )
        what.add_argument(
            "--request",
            metavar="NAME:COUNT[,...]",
            help="a pci_passthrough:alias value given literally, e.g. a100:2,t4:1",
        )
        what.add_argument(
            "--physnet",
            metavar="PHYSNET",
            help="what if: one Neutron port of this physical network (with "
            "--vnic-type), judged as the filter judges ports with "
            "[aggregate_pci] manage_port_requests on",
        )
        parser.add_argument(
            "--vnic-type",
            choices=explain.SRIOV_VNIC_TYPES,
            help="with --physnet: the port's binding:vnic_type (default direct)",
        )
        parser.add_argument(
            "--nova-conf",
            metavar="FILE",
            help="with --inventory: the [pci] alias of this nova.conf (of "
            "nova-api/nova-compute): where a host's definition is no narrower "
            "than the alias, the claim cannot stray and the verdict is exact",
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--host", metavar="HOST", help="only this compute host")
        where.add_argument(
            "--aggregate", metavar="NAME", help="only the hosts of this aggregate"
        )
        parser.add_argument(
            "--long",
            action="store_true",
            help="also the weigher's raw placement cost (Score) and each "
            "host's multiplier and where it comes from",
        )
        return parser

    def run(self, parsed_args: argparse.Namespace) -> int:
        self._none_fits = False
        rc = super().run(parsed_args)
        return rc or (1 if self._none_fits else 0)

    def take_action(self, parsed_args: argparse.Namespace) -> tuple:
        args = parsed_args
        online = not sources.from_inventory(args)
        # Nova's filter input comes from the same read of the compute nodes
        nodes: dict[str, Any] = {}
        # Every Nova flavor: the weigher's request types.
        inv = sources.load(
            self.app,
            args,
            need_flavors=True,
            command="explain",
            allocations_unused=True,
            free_by_host=nodes if online else None,
            # hosts are judged by their free devices alone
            pools="free",
        )
        if args.vnic_type and not args.physnet:
            raise errors.InvalidInput(
                "--vnic-type describes a port: give --physnet PHYSNET too"
            )
        spec, port_reqs = self._alias_spec(args, inv)
        hosts = self._hosts(args, inv)
        claims = nova_filter = taken = None
        multiplier = explain_weigh.OPTION_DEFAULT
        requests: list[Any]
        if online:
            from aggregate_pci.admin.nova_io import nova_explain

            if args.physnet:
                port_reqs = nova_explain.port_requests_of(
                    [s.spec[0] for s in port_reqs]
                )
            given = nova_explain.explain_inputs(nodes, spec, port_reqs)
            requests, claims, nova_filter = given[:3]
            reject, manage_ports = given.reject_unmanaged, given.manage_ports
            taken, multiplier = given.taken, given.weight_multiplier
        else:
            requests = (
                explain.requests_from(alias.parse_request(spec), _alias_specs(args))
                + port_reqs
            )
            reject, manage_ports = False, True
        if port_reqs and not manage_ports:
            self.app.stderr.write(
                "note: [aggregate_pci] manage_port_requests is off in the given "
                "nova.conf: AggregatePciFilter leaves Neutron ports to Nova\n"
            )
        elif port_reqs and not online:
            self.app.stderr.write(
                "note: Neutron ports judged as with [aggregate_pci] "
                "manage_port_requests = true on the schedulers\n"
            )
        result = explain.explain(
            inv.aggregates,
            hosts,
            requests,
            reject_unmanaged=reject,
            claims=claims,
            nova_filter=nova_filter,
            manage_ports=manage_ports,
        )
        self._none_fits = not any(h.can_take for h in result.hosts)
        for name in result.unmanaged:
            self.app.stderr.write(
                "note: no aggregate defines PCI flavor %r: AggregatePciFilter %s\n"
                % (
                    name,
                    "rejects it ([aggregate_pci] reject_unmanaged_requests)"
                    if reject
                    else "leaves it to Nova's PciPassthroughFilter",
                )
            )
        self.app.stderr.write("%s\n" % result.summary())
        weights = explain_weigh.weigh_explanation(
            result,
            inv.aggregates,
            hosts,
            requests,
            inv.nova_flavors,
            default_multiplier=multiplier,
            taken=taken,
        )
        self.app.stderr.write(_weights_note(weights, multiplier, online) + "\n")
        columns = ["Host", "Verdict", "Reason", "Free", "Aggregates"]
        if online:
            columns.append("PciPassthroughFilter")
        columns += ["Rank", "Weight", "Placement cost"]
        if args.long:
            columns += ["Score", "Multiplier"]
        rows = []
        for h in result.hosts:
            row: list[Any] = [
                h.host,
                _verdict(h, online),
                h.reason or "",
                _free(args, h.free),
                _aggs(args, h.aggregates),
            ]
            if online:
                row.append(h.nova_filter or "")
            w = weights.hosts.get(h.host) if weights else None
            row += _weight_cells(args, w)
            rows.append(common.for_output(args, row))
        return tuple(columns), rows

    def _alias_spec(self, args: argparse.Namespace, inv: Any) -> tuple[str, list[Any]]:
        """The ``pci_passthrough:alias`` asked and the Neutron-port requests."""
        if args.physnet:
            port = explain.port_spec(args.physnet, args.vnic_type or "direct")
            return "", [explain.Request("", 1, None, (port,))]
        if args.server:
            if sources.from_inventory(args):
                raise errors.InvalidInput(
                    "--server reads the server from Nova's databases: give "
                    "--config-file NOVA_CONF, not --inventory"
                )
            from aggregate_pci.admin.nova_io import nova_explain

            ctxt = getattr(self.app, "nova_context", None)
            spec, port_reqs, line = nova_explain.server_request(
                ctxt, nova_explain.find_server(ctxt, args.server)
            )
            self.app.stderr.write("%s\n" % line)
            if not any(alias.parse_request(spec).values()) and not port_reqs:
                raise errors.InvalidInput(
                    "server %r: it requests no PCI device (no pci_passthrough:"
                    "alias extra spec in its Nova flavor, no SR-IOV port)" % args.server
                )
            return spec, port_reqs
        if args.request is not None:
            common.parse_request_option(args.request, "--request")
            return str(args.request), []
        return inv.nova_flavor_request(args.nova_flavor, sources.label(args)), []

    def _hosts(self, args: argparse.Namespace, inv: Any) -> dict[str, Any]:
        if args.host:
            if args.host not in inv.hosts:
                raise errors.NotFound("compute host %r not in the source" % args.host)
            return {args.host: inv.hosts[args.host]}
        if args.aggregate:
            aggs = [a for a in inv.aggregates if args.aggregate in (a.name, str(a.id))]
            if not aggs:
                raise errors.NotFound("aggregate %r not found" % args.aggregate)
            return {h: p for h, p in inv.hosts.items() if h in aggs[0].hosts}
        return dict(inv.hosts)


def _alias_specs(args: argparse.Namespace) -> dict[str, list[dict[str, str]]]:
    """{alias name: its specs} from --nova-conf's [pci] alias (none without it)."""
    if not args.nova_conf:
        return {}
    conf, _ = alias.merge(alias.read_conf([args.nova_conf])[0])
    return {name: entry.request_specs() for name, entry in conf.items()}


def _verdict(h: explain.HostExplanation, online: bool) -> str:
    if h.category == explain.FITS:
        return "yes"
    if h.category == explain.UNVERIFIED:
        return "yes, unless the claim strays (not replayed offline; --nova-conf tells)"
    if h.category == explain.NOT_MANAGED:
        return "yes (not managed: Nova decides)"
    if h.scope:
        return "no: %s (%s)" % (h.category, h.scope)
    return "no: " + h.category


def _free(args: argparse.Namespace, free: dict[str, int | None]) -> Any:
    if not common.human(args):
        return free
    return ", ".join("%s=%s" % (n, "-" if c is None else c) for n, c in free.items())


def _aggs(args: argparse.Namespace, aggs: dict[str, list[str]]) -> Any:
    if not common.human(args):
        return aggs
    return "; ".join("%s: %s" % (n, ", ".join(a) or "-") for n, a in aggs.items())


def _weights_note(
    weights: explain_weigh.Weights | None, multiplier: float, online: bool
) -> str:
    """How the Rank, Weight and Placement cost columns were computed."""
    if weights is None:
        return (
            "weights: none (AggregatePciWeigher gives every host 0: no host "
            "passes, the request asks no managed PCI flavor, or no Nova "
            "flavor requests one)"
        )
    return (
        "weights: AggregatePciWeigher's score over the %d passing host%s shown "
        "(request types: %s); multiplier [aggregate_pci] weight_multiplier = %g "
        "(%s), or the hosts' aggregate_pci_weight_multiplier; devices taken: %s; "
        "Rank orders this weigher alone (Nova adds its other weighers)"
        % (
            len(weights.hosts),
            "" if len(weights.hosts) == 1 else "s",
            common.printable(" ".join(weights.types)),
            multiplier,
            "the given nova.conf" if online else "its default: no nova.conf offline",
            "the compute's claim replayed with Nova's pool logic"
            if online
            else "modelled offline: each request greedily in pool order "
            "within the host's definitions",
        )
    )


def _weight_cells(args: argparse.Namespace, w: explain_weigh.HostWeight | None) -> list:
    """Rank, Weight, Placement cost (and with --long Score, Multiplier)."""
    if w is None:
        return ["" if common.human(args) else None] * (5 if args.long else 3)
    if common.human(args):
        cost: Any = w.cost_text()
    else:
        cost = [dataclasses.asdict(x) for x in w.losses]
    cells: list[Any] = [w.rank, round(w.weight, 4), cost]
    if args.long:
        cells += [round(w.cost, 6), "%g (%s)" % (w.multiplier, w.multiplier_from)]
    return cells
