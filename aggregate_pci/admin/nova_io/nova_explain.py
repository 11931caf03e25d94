"""What Nova's own code says about one PCI request, for ``explain`` online.

Nova's request objects for a ``pci_passthrough:alias``, each host's
``PciDeviceStats`` and what Nova's PciPassthroughFilter and the compute's
claim (replayed as the filter replays it) make of them, and the alias
request of a server (found by name or ID), read through Nova's objects (the databases of a
nova.conf loaded by ``db_access.load_config``).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from aggregate_pci.admin.errors import AdminError, InvalidInput, NotFound
from aggregate_pci.admin.interned import ByIdentity
from aggregate_pci.admin.inventory import pool_key
from aggregate_pci.admin.nova_io import db_access
from aggregate_pci.alias import SPEC_KEY


def pci_requests_of(alias_spec: str) -> list[Any]:
    """The ``InstancePCIRequest``s Nova's API builds for a flavor whose
    ``pci_passthrough:alias`` is ``alias_spec``, from the loaded ``[pci]
    alias`` (``AdminError`` naming an alias Nova does not know)."""
    from nova import exception as nova_exc
    from nova import objects
    from nova.pci import request as pci_request

    objects.register_all()
    flavor = objects.Flavor(extra_specs={SPEC_KEY: alias_spec})
    try:
        return list(pci_request.get_pci_requests_from_flavor(flavor).requests)
    except nova_exc.NovaException as exc:
        raise AdminError(
            "Nova would refuse the request %r: %s (the [pci] alias of the "
            "given nova.conf)" % (alias_spec, exc)
        ) from None


def pci_stats_by_host(
    nodes: Mapping[str, tuple[Any, Any, list[Any]]],
) -> dict[str, Any]:
    """{host: Nova ``PciDeviceStats`` of its free pools}, built from its
    compute node as the scheduler's ``HostState`` builds it, from ``nodes``
    ({host: (cell, ``numa_topology`` column, free pools)}: what
    ``nova_db.inventory`` keeps of its read as ``free_by_host``, so the
    compute nodes are read once).  Equal pools of different hosts are one
    dict (every claim replay works on copies: ``nova_pools``), and the
    hosts share one parse of ``[pci] device_spec`` and of each distinct
    NUMA topology, which each ``PciDeviceStats`` would otherwise make
    alike."""
    import nova.conf
    from nova import objects
    from nova.pci import stats as pci_stats
    from nova.pci import whitelist

    objects.register_all()
    out: dict[str, Any] = {}
    spec_filter = whitelist.Whitelist(nova.conf.CONF.pci.device_spec)
    shared: dict[Any, dict[str, Any]] = {}
    known = ByIdentity()
    topologies: dict[Any, Any] = {None: None}
    for host, (cell, text, pools) in nodes.items():
        text = text or None
        topology = topologies.get(text, topologies)
        if topology is topologies:
            with db_access.cell_read(cell, "compute nodes"):
                topology = topologies[text] = objects.NUMATopology.obj_from_db_obj(text)
        stats = []
        for p in pools:
            one = known.get(p)
            if one is None:
                one = known.put(p, _Pool(shared.setdefault(pool_key(p), p)))
            stats.append(one)
        out[host] = pci_stats.PciDeviceStats(
            topology, stats=stats, dev_filter=spec_filter
        )
    return out


class _Pool:
    """A free pool as ``PciDeviceStats`` takes it (``to_dict``)."""

    __slots__ = ("pool",)

    def __init__(self, pool: dict[str, Any]) -> None:
        self.pool = pool

    def to_dict(self) -> dict[str, Any]:
        return self.pool


def nova_filter_says(stats: Any, requests: Sequence[Any]) -> str:
    """What Nova's PciPassthroughFilter says of a host with these free
    pools (its greedy match of the alias specs, PCI in Placement off;
    ``support_requests`` on a cheaper copy: ``nova_pools.supports``)."""
    from aggregate_pci.scheduler import nova_pools

    if not stats:
        return "rejects: the host reports no PCI devices"
    if nova_pools.supports(stats, list(requests)):
        return "passes"
    return "rejects: its greedy match of the alias specs fails on the free pools"


def port_requests_of(specs: Sequence[dict[str, str]]) -> list[Any]:
    """Nova ``InstancePCIRequest``s for Neutron ports with these specs (one
    device each, as Nova's API builds them for a port)."""
    from nova import objects
    from oslo_utils import uuidutils

    objects.register_all()
    return [
        objects.InstancePCIRequest(
            count=1, spec=[dict(spec)], request_id=uuidutils.generate_uuid()
        )
        for spec in specs
    ]


class ExplainInputs(NamedTuple):
    """What ``explain`` online takes from Nova's code and the nova.conf."""

    requests: list[Any]
    #: {host: replay of the compute's claim}, as the filter replays it.
    claims: dict[str, Any]
    #: Nova's PciPassthroughFilter as ``host -> words``.
    nova_filter: Callable[[str], str]
    reject_unmanaged: bool
    manage_ports: bool
    #: {host: (the pools Nova sees, {id(pool): devices} the claim takes)}
    #: for the weigher's score.
    taken: dict[str, Callable[[], tuple[Sequence[Any], dict[int, int]]]]
    #: ``[aggregate_pci] weight_multiplier``.
    weight_multiplier: float


def explain_inputs(
    nodes: Mapping[str, tuple[Any, Any, list[Any]]],
    alias_spec: str,
    port_requests: Sequence[Any] = (),
) -> ExplainInputs:
    """For ``explain`` online: Nova's request objects for ``alias_spec`` plus
    ``port_requests``, {host: replay of the compute's claim} (Nova's pool
    logic on a copy of the host's free pools, as the filter replays it;
    without the instance's NUMA cells), Nova's PciPassthroughFilter, the
    devices the claim takes as the weigher counts them, and the options
    (``nodes`` as ``pci_stats_by_host`` takes them)."""
    from oslo_config import cfg

    from aggregate_pci import conf
    from aggregate_pci.scheduler import claim, request, weigh

    conf.register_opts(cfg.CONF)
    requests = (pci_requests_of(alias_spec) if alias_spec else []) + list(port_requests)
    stats = pci_stats_by_host(nodes)
    memo = request.RequestMemo()
    claims = {
        host: functools.partial(claim.replay_claim, s, requests, None, memo)
        for host, s in stats.items()
    }

    def nova_filter(host: str) -> str:
        return nova_filter_says(stats.get(host), requests)

    def taken(host: str) -> tuple[Sequence[Any], dict[int, int]]:
        return list(stats[host].pools), weigh.claimed(claims[host]())

    return ExplainInputs(
        requests,
        claims,
        nova_filter,
        bool(cfg.CONF.aggregate_pci.reject_unmanaged_requests),
        bool(cfg.CONF.aggregate_pci.manage_port_requests),
        {host: functools.partial(taken, host) for host in stats},
        float(cfg.CONF.aggregate_pci.weight_multiplier),
    )


def find_server(ctxt: Any, name_or_id: str) -> str:
    """The UUID of the server ``name_or_id`` names, found as OpenStackClient
    finds one: by ID first, else by exact name in every cell (cell0 too, for
    one that got "No valid host"); ``NotFound`` for none, ``InvalidInput``
    naming the IDs when several servers have that name."""
    from nova import context as nova_context
    from nova import exception as nova_exc
    from nova import objects
    from oslo_utils import uuidutils

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    if uuidutils.is_uuid_like(name_or_id):
        try:
            with db_access.db_read("Nova's instance mappings", db_access.API_DB_CHECK):
                objects.InstanceMapping.get_by_instance_uuid(ctxt, name_or_id)
            return name_or_id
        except nova_exc.InstanceMappingNotFound:
            pass
    with db_access.db_read("Nova's cell mappings", db_access.API_DB_CHECK):
        cells = objects.CellMappingList.get_all(ctxt)
    # display_name is a regular-expression filter in Nova's DB API: anchor
    # and escape it, then compare exactly.
    filters = {"display_name": "^%s$" % re.escape(name_or_id), "deleted": False}
    found: list[str] = []
    for cell in cells:
        with (
            nova_context.target_cell(ctxt, cell) as cctxt,
            db_access.cell_read(cell, "servers named %r" % name_or_id),
        ):
            found += [
                inst.uuid
                for inst in objects.InstanceList.get_by_filters(
                    cctxt, filters, expected_attrs=[]
                )
                if inst.display_name == name_or_id
            ]
    if not found:
        raise NotFound(
            "no server with name or ID %r in Nova's databases ('openstack "
            "server list --all-projects' shows them)" % name_or_id
        )
    if len(found) > 1:
        raise InvalidInput(
            "server name %r is ambiguous: %d servers have it (%s); give the "
            "server's ID" % (name_or_id, len(found), ", ".join(sorted(found)))
        )
    return found[0]


def server_request(ctxt: Any, server_id: str) -> tuple[str, list[Any], str]:
    """The ``pci_passthrough:alias`` of a server's Nova flavor (as the
    server holds it, in whichever cell: cell0 for one that got "No valid
    host"), its Neutron-port PCI requests (its ``pci_requests`` without an
    alias name) and one line describing the server's state and fault."""
    from nova import context as nova_context
    from nova import exception as nova_exc
    from nova import objects

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    try:
        mapping = objects.InstanceMapping.get_by_instance_uuid(ctxt, server_id)
    except nova_exc.InstanceMappingNotFound:
        raise AdminError(
            "server %r not found in Nova's API database: give the server's ID "
            "('openstack server list --all-projects' shows them)" % server_id
        ) from None
    if mapping.cell_mapping is None:
        raise AdminError(
            "server %r is still being scheduled (no cell yet): explain it "
            "once it is ACTIVE or in ERROR" % server_id
        )
    with nova_context.target_cell(ctxt, mapping.cell_mapping) as cctxt:
        inst = objects.Instance.get_by_uuid(
            cctxt, server_id, expected_attrs=["flavor", "pci_requests"]
        )
        latest = objects.InstanceFault.get_latest_for_instance(cctxt, server_id)
    spec = (inst.flavor.extra_specs or {}).get(SPEC_KEY) or ""
    held = inst.pci_requests.requests if inst.pci_requests else []
    port_requests = [r for r in held if not r.alias_name]
    fault = latest.message if latest else ""
    where = inst.host or "no host"
    ports = (
        ", %d Neutron-port PCI request(s)" % len(port_requests) if port_requests else ""
    )
    line = "server %s: Nova flavor %r%s, %s, %s%s" % (
        server_id,
        inst.flavor.name,
        ports,
        inst.vm_state,
        where,
        ", fault: %s" % fault if fault else "",
    )
    return spec, port_requests, line
