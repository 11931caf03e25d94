"""PCI pools of every compute node, read from Nova's cell databases.

The one admin module that imports Nova (``capacity --config-file`` and
``inventory export`` where Nova is installed): it reads the same
``compute_nodes.pci_stats`` pools the scheduler reads (free devices, with the
tags ``[pci] device_spec`` gave them) through Nova's own objects, plus the
claimed and allocated devices of ``pci_devices`` for the "used" column.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Callable, Mapping, Sequence

from aggregate_pci.admin import device_tags
from aggregate_pci.admin.errors import AdminError
from aggregate_pci.admin.inventory import Inventory, merge_pools
from aggregate_pci.admin.models import Aggregate, Allocation, Device
from aggregate_pci.alias import SPEC_KEY

USED_STATUSES = ("claimed", "allocated")
#: Progress is reported for fleets of at least this many compute nodes,
#: every ``PROGRESS_EVERY`` nodes (one DB query each) and at the end.
PROGRESS_MIN_HOSTS = 500
PROGRESS_EVERY = 100


def require_nova(what: str, instead: str = "") -> None:
    """``AdminError`` with what to do when Nova is not importable here."""
    if importlib.util.find_spec("nova") is None:  # imports nothing
        raise AdminError(
            "%s needs Nova's own code, which is not installed here: run it "
            "where Nova is installed (the nova-api or nova-conductor "
            "virtualenv or container)%s" % (what, instead)
        )


def check_sqlite_path(url: str | None, where: str) -> None:
    """A sqlite database file that does not exist is a mistyped path:
    refuse it (opening it would create an empty database file)."""
    if not url or not url.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url

    try:
        path = make_url(url).database
    except Exception:  # SQLAlchemy reports a bad URL when it is used
        return
    if path and path != ":memory:" and not path.startswith("file:"):
        if not os.path.isfile(path):
            raise AdminError(
                "%s: sqlite database file %r does not exist (nothing was "
                "created); check the path" % (where, path)
            )


_loaded_config: list[str] = []


def load_config(config_file: str) -> None:
    """Load a nova.conf the way Nova services do (database access only).

    Once per process: oslo.config refuses to register Nova's command-line
    options again after parsing, so a second call with the same file (a
    daemon reading the databases on an interval) does nothing.
    """
    if _loaded_config == [config_file]:
        return
    import nova.conf
    import oslo_messaging
    from nova import config as nova_config
    from nova import objects

    objects.register_all()
    try:
        nova_config.parse_args(
            ["aggregate-pci", "--config-file", config_file],
            default_config_files=[],
            init_rpc=False,
        )
    except Exception as exc:  # oslo.config raises many types; name the file
        raise AdminError(
            "cannot load Nova configuration %r: %s" % (config_file, exc)
        ) from None
    for group in ("api_database", "database"):
        url = getattr(getattr(nova.conf.CONF, group), "connection", None)
        check_sqlite_path(url, "[%s] connection in %s" % (group, config_file))
    # Loading a CellMapping reads [DEFAULT] transport_url, an option that
    # oslo.messaging registers only when a transport is made (services do in
    # rpc.init); register it without making a transport: we need no RPC.
    oslo_messaging.TransportURL(nova.conf.CONF)
    _loaded_config[:] = [config_file]


def inventory(
    ctxt: Any = None,
    progress: Callable[[int, int], None] | None = None,
    with_flavors: bool = False,
    with_allocations: bool = False,
    compute_confs: Mapping[str, str] | None = None,
) -> Inventory:
    """Aggregates (API database), host pools (cell databases) and, if asked,
    the Nova flavors that request PCI aliases and the devices instances hold
    (tagged by ``compute_confs``, {host: that compute's nova.conf}), through
    Nova's objects."""
    from nova import context as nova_context
    from nova import objects

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    try:
        aggs = objects.AggregateList.get_all(ctxt)
    except Exception as exc:
        raise AdminError(
            "cannot read host aggregates from Nova's API database "
            "(check [api_database] connection): %s" % exc
        ) from None
    aggregates = [
        Aggregate(
            a.id,
            a.name,
            a.uuid,
            tuple(a.hosts or ()),
            dict(a.metadata or {}),
            a.availability_zone,
        )
        for a in aggs
    ]
    flavors = []
    if with_flavors:
        for f in objects.FlavorList.get_all(ctxt):
            spec = (f.extra_specs or {}).get(SPEC_KEY)
            if spec:
                flavors.append(
                    {"name": f.name, "id": f.flavorid, "extra_specs": {SPEC_KEY: spec}}
                )
    held: list[Allocation] | None = [] if with_allocations else None
    pools = host_pools(ctxt, progress, held, compute_confs)
    return Inventory(aggregates, pools, flavors, held)


def host_pools(
    ctxt: Any = None,
    progress: Callable[[int, int], None] | None = None,
    allocations: list[Allocation] | None = None,
    compute_confs: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """{host: inventory pools} over all cells (``count`` free, ``used``);
    the instances' allocations are appended to ``allocations`` if given."""
    from nova import context as nova_context
    from nova import exception as nova_exc
    from nova import objects

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        cells = [c for c in objects.CellMappingList.get_all(ctxt) if not c.is_cell0()]
    except Exception as exc:
        raise AdminError(
            "cannot read Nova's cell mappings (check [api_database] "
            "connection in the given nova.conf): %s" % exc
        ) from None
    spec_tags = device_tags.spec_tags()
    host_tags = {
        host: device_tags.spec_tags(path)
        for host, path in (compute_confs or {}).items()
    }
    nodes_by_cell = []
    for cell in cells:
        check_sqlite_path(
            cell.database_connection, "cell %r database connection" % cell.name
        )
        with nova_context.target_cell(ctxt, cell) as cctxt:
            try:
                nodes_by_cell.append((cell, objects.ComputeNodeList.get_all(cctxt)))
            except nova_exc.NovaException as exc:
                raise AdminError(
                    "cell %r: cannot read compute nodes (check that "
                    "cell's database connection): %s" % (cell.name, exc)
                ) from None
    total = sum(len(nodes) for _, nodes in nodes_by_cell)
    done = 0
    for cell, nodes in nodes_by_cell:
        with nova_context.target_cell(ctxt, cell) as cctxt:
            held: dict[str, list[tuple[str, Any]]] = {}
            for node in nodes:
                free = [p.to_dict() for p in (node.pci_device_pools or [])]
                devices = objects.PciDeviceList.get_by_compute_node(cctxt, node.id)
                used = [
                    device_tags.used_pool(d, free, host_tags.get(node.host, spec_tags))
                    for d in devices
                    if d.status in USED_STATUSES
                ]
                for d in devices:
                    if d.status in USED_STATUSES and d.instance_uuid:
                        held.setdefault(d.instance_uuid, []).append((node.host, d))
                out.setdefault(node.host, []).extend(merge_pools(free, used))
                done += 1
                if (
                    progress is not None
                    and total >= PROGRESS_MIN_HOSTS
                    and (done % PROGRESS_EVERY == 0 or done == total)
                ):
                    progress(done, total)
            if allocations is not None:
                allocations.extend(_allocations(cctxt, held, host_tags))
    return out


def _allocations(
    cctxt: Any,
    held: Mapping[str, list[tuple[str, Any]]],
    host_tags: Mapping[str, Callable[[Any], dict[str, str]]],
) -> list[Allocation]:
    """The flavor-alias PCI requests of each instance holding devices in one
    cell (``InstancePCIRequests``) and the devices serving them (by
    ``request_id``); devices of Neutron port requests are left out."""
    from nova import objects

    out = []
    for uuid, devices in sorted(held.items()):
        reqs = objects.InstancePCIRequests.get_by_instance_uuid(cctxt, uuid)
        by_id = {
            r.request_id: r
            for r in (reqs.requests if reqs else [])
            if getattr(r, "alias_name", None)
        }
        mine = [(h, d) for h, d in devices if d.request_id in by_id]
        if not mine:
            continue
        host = mine[0][0]
        tags = host_tags.get(host)
        out.append(
            Allocation(
                uuid,
                host,
                tuple((r.alias_name, r.count) for r in by_id.values()),
                tuple(
                    Device(
                        d.address,
                        d.vendor_id,
                        d.product_id,
                        d.dev_type,
                        parent_addr=d.parent_addr,
                        tags=None if tags is None else tags(d),
                        alias=by_id[d.request_id].alias_name,
                        numa_node=d.numa_node,
                    )
                    for _, d in mine
                ),
            )
        )
    return out


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


def pci_stats_by_host(ctxt: Any = None) -> dict[str, Any]:
    """{host: Nova ``PciDeviceStats`` of its free pools}, built from its
    compute node as the scheduler's ``HostState`` builds it."""
    from nova import context as nova_context
    from nova import objects
    from nova.pci import stats as pci_stats

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    out: dict[str, Any] = {}
    for cell in objects.CellMappingList.get_all(ctxt):
        if cell.is_cell0():
            continue
        with nova_context.target_cell(ctxt, cell) as cctxt:
            for node in objects.ComputeNodeList.get_all(cctxt):
                topology = (
                    objects.NUMATopology.obj_from_db_obj(node.numa_topology)
                    if node.numa_topology
                    else None
                )
                out[node.host] = pci_stats.PciDeviceStats(
                    topology, stats=node.pci_device_pools
                )
    return out


def nova_filter_says(stats: Any, requests: Sequence[Any]) -> str:
    """What Nova's PciPassthroughFilter says of a host with these free
    pools (its greedy match of the alias specs, PCI in Placement off)."""
    if not stats:
        return "rejects: the host reports no PCI devices"
    if stats.support_requests(requests, provider_mapping=None):
        return "passes"
    return "rejects: its greedy match of the alias specs fails on the free pools"


def explain_inputs(ctxt: Any, alias_spec: str) -> tuple[list[Any], dict, Any, bool]:
    """For ``explain`` online: Nova's request objects for ``alias_spec``,
    {host: replay of the compute's claim} (Nova's pool logic on a copy of
    the host's free pools, as the filter replays it; without the
    instance's NUMA cells), Nova's PciPassthroughFilter as ``host ->
    words``, and ``[aggregate_pci] reject_unmanaged_requests``."""
    from oslo_config import cfg

    from aggregate_pci import conf
    from aggregate_pci.scheduler import claim, request

    conf.register_opts(cfg.CONF)
    requests = pci_requests_of(alias_spec)
    stats = pci_stats_by_host(ctxt)
    memo = request.RequestMemo()
    claims = {
        host: functools.partial(claim.replay_claim, s, requests, None, memo)
        for host, s in stats.items()
    }

    def nova_filter(host: str) -> str:
        return nova_filter_says(stats.get(host), requests)

    return (
        requests,
        claims,
        nova_filter,
        bool(cfg.CONF.aggregate_pci.reject_unmanaged_requests),
    )


def server_request(ctxt: Any, server_id: str) -> tuple[str, str]:
    """The ``pci_passthrough:alias`` of a server's Nova flavor (as the
    server holds it, in whichever cell: cell0 for one that got "No valid
    host") and one line describing the server's state and fault."""
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
        inst = objects.Instance.get_by_uuid(cctxt, server_id, expected_attrs=["flavor"])
        latest = objects.InstanceFault.get_latest_for_instance(cctxt, server_id)
    spec = (inst.flavor.extra_specs or {}).get(SPEC_KEY) or ""
    fault = latest.message if latest else ""
    where = inst.host or "no host"
    line = "server %s: Nova flavor %r, %s, %s%s" % (
        server_id,
        inst.flavor.name,
        inst.vm_state,
        where,
        ", fault: %s" % fault if fault else "",
    )
    return spec, line
