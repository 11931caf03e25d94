"""PCI pools of every compute node, read from Nova's cell databases.

Nova's databases as an ``Inventory`` (``capacity --config-file`` and
``inventory export`` where Nova is installed), and the nova.conf loading
they need (``db_access``; ``nova_explain`` asks Nova's code about one
request).  It reads
the same ``compute_nodes.pci_stats`` pools the scheduler reads (free
devices, with the tags ``[pci] device_spec`` gave them) through Nova's own
objects, plus the claimed and allocated devices of ``pci_devices`` for the
"used" column.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

from aggregate_pci.admin.interned import ByIdentity
from aggregate_pci.admin.inventory import Inventory, merge_pools
from aggregate_pci.admin.models import Allocation, Device
from aggregate_pci.admin.nova_io import (
    allocation_reads,
    api_reads,
    cell_reads,
    device_tags,
    instance_reads,
)
from aggregate_pci.admin.nova_io.db_access import (
    API_DB_CHECK,
    cell_read,
    check_sqlite_path,
    db_read,
)
from aggregate_pci.admin.nova_io.pci_stats_column import PoolsDecoder
from aggregate_pci.alias import SPEC_KEY

USED_STATUSES = ("claimed", "allocated")
#: Which pools a read gives each host: free and used devices, free only
#: (no used device read for them), or none (the hosts' names only).
Pools = Literal["all", "free", "none"]
#: Progress is reported for fleets of at least this many compute nodes,
#: every ``PROGRESS_EVERY`` nodes (one DB query each) and at the end.
PROGRESS_MIN_HOSTS = 500
PROGRESS_EVERY = 100


def inventory(
    ctxt: Any = None,
    progress: Callable[[int, int], None] | None = None,
    with_flavors: bool = False,
    with_allocations: bool = False,
    compute_confs: Mapping[str, str] | None = None,
    by_provider: dict[str, dict[str, int]] | None = None,
    free_by_host: dict[str, tuple[Any, Any, list[dict[str, Any]]]] | None = None,
    with_names: bool = True,
    pools: Pools = "all",
) -> Inventory:
    """Aggregates (API database), host pools (cell databases) and, if asked,
    the Nova flavors that request PCI aliases and the devices instances hold
    (tagged by ``compute_confs``, {host: that compute's nova.conf}), through
    Nova's objects; ``by_provider``, ``free_by_host``, ``with_names`` and
    ``pools`` as in ``host_pools``."""
    from nova import context as nova_context
    from nova import objects

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    with db_read(
        "host aggregates from Nova's API database",
        API_DB_CHECK,
    ):
        aggregates = api_reads.aggregates(ctxt)
    flavors = []
    if with_flavors:
        with db_read(
            "Nova flavors from Nova's API database",
            API_DB_CHECK,
        ):
            nova_flavors = objects.FlavorList.get_all(ctxt)
        for f in nova_flavors:
            spec = (f.extra_specs or {}).get(SPEC_KEY)
            if spec:
                flavors.append(
                    {"name": f.name, "id": f.flavorid, "extra_specs": {SPEC_KEY: spec}}
                )
    held: list[Allocation] | None = [] if with_allocations else None
    hosts = host_pools(
        ctxt,
        progress,
        held,
        compute_confs,
        by_provider,
        free_by_host,
        with_names,
        pools,
    )
    return Inventory(aggregates, hosts, flavors, held)


def host_pools(
    ctxt: Any = None,
    progress: Callable[[int, int], None] | None = None,
    allocations: list[Allocation] | None = None,
    compute_confs: Mapping[str, str] | None = None,
    by_provider: dict[str, dict[str, int]] | None = None,
    free_by_host: dict[str, tuple[Any, Any, list[dict[str, Any]]]] | None = None,
    with_names: bool = True,
    pools: Pools = "all",
) -> dict[str, list[dict[str, Any]]]:
    """{host: inventory pools} over all cells (``count`` free, ``used``;
    ``pools="free"``: no used device counted, ``"none"``: every host with
    no pool, none read: commands that never look at them need not pay for
    them);
    the instances' allocations are appended to ``allocations`` if given
    (their servers' names, projects and Nova flavors only ``with_names``),
    every held device is counted in ``by_provider`` if given ({instance uuid:
    {Placement provider name: devices}}, for the drift check), and each
    compute node's (cell, ``numa_topology`` column, free pools) is kept in
    ``free_by_host`` if given (``explain`` builds Nova's filter input from
    it instead of reading the nodes again)."""
    from nova import context as nova_context
    from nova import objects

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    out: dict[str, list[dict[str, Any]]] = {}
    with db_read(
        "Nova's cell mappings",
        API_DB_CHECK,
    ):
        cells = [c for c in objects.CellMappingList.get_all(ctxt) if not c.is_cell0()]
    spec_tags = device_tags.spec_tags()
    host_tags = device_tags.HostTags(compute_confs or {})
    total = 0
    for cell in cells:
        check_sqlite_path(
            cell.database_connection, "cell %r database connection" % cell.name
        )
        with (
            nova_context.target_cell(ctxt, cell) as cctxt,
            cell_read(cell, "compute nodes"),
        ):
            total += cell_reads.count_nodes(cctxt)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if (
            progress is not None
            and total >= PROGRESS_MIN_HOSTS
            and (done[0] % PROGRESS_EVERY == 0 or done[0] == total)
        ):
            progress(done[0], total)

    shared: dict[Any, dict[str, Any]] = {}
    # one decoder for every cell: a fleet's cells repeat the same pools, and
    # the memos below know a pool by its identity
    free_pools = PoolsDecoder()
    known = ByIdentity()
    used_pool = device_tags.UsedPools()
    held_device = allocation_reads.HeldDevices(host_tags)
    for cell in cells:
        # what instances hold, kept only to report their allocations
        held: dict[str, list[tuple[str, str, Device]]] | None = (
            {} if allocations is not None else None
        )
        with nova_context.target_cell(ctxt, cell) as cctxt:
            extra = ("numa_topology",) if free_by_host is not None else ()
            for nodes in cell_reads.guarded_node_pages(
                cell, cctxt, extra, free_pools, pools != "none"
            ):
                used_by_node = {}
                if pools == "all" or held is not None or by_provider is not None:
                    with cell_read(cell, "PCI devices"):
                        used_by_node = cell_reads.used_devices(
                            cctxt, [n.id for n, _ in nodes], USED_STATUSES
                        )
                for node, free in nodes:
                    if free_by_host is not None:
                        free_by_host[node.host] = (cell, node.numa_topology, free)
                    devices = used_by_node.get(node.id, ())
                    _hold(node, devices, held, by_provider, held_device)
                    mine = out.setdefault(node.host, [])
                    if pools != "none":
                        tags = host_tags.get(node.host, spec_tags)
                        mine.extend(
                            _node_pools(
                                free,
                                devices if pools == "all" else (),
                                tags,
                                (shared, known, used_pool),
                            )
                        )
                    tick()
            if allocations is not None and held is not None:
                with cell_read(cell, "PCI devices"):
                    allocations.extend(
                        allocation_reads.allocations(cctxt, held, with_names)
                    )
    return out


def _node_pools(
    free: list[dict[str, Any]],
    devices: Sequence[Any],
    tags: Callable[[Any], dict[str, str]],
    memos: tuple[dict[Any, dict[str, Any]], ByIdentity, device_tags.UsedPools],
) -> list[dict[str, Any]]:
    """One compute node's inventory pools (``free``, the free pools of its
    ``pci_stats``, and its claimed and allocated ``devices``; ``memos``:
    ``merge_pools``' shared and known and the used pools, for one read)."""
    shared, known, used_pool = memos
    free_at = device_tags.pools_by_address(free) if devices else {}
    used = [used_pool(d, free_at, tags) for d in devices]
    return merge_pools(free, used, shared, known)


def _hold(
    node: Any,
    devices: Sequence[Any],
    held: dict[str, list[tuple[str, str, Device]]] | None,
    by_provider: dict[str, dict[str, int]] | None,
    held_device: Callable[[str, Any], Device],
) -> None:
    """Add the ``devices`` of one compute node that instances hold to
    ``held`` (if given: (host, request id, device without alias)) and count
    them in ``by_provider`` (if given)."""
    for d in devices:
        if d.instance_uuid:
            if held is not None:
                held.setdefault(d.instance_uuid, []).append(
                    (node.host, d.request_id, held_device(node.host, d))
                )
            if by_provider is not None:
                name = provider_name(node.hypervisor_hostname, d)
                mine = by_provider.setdefault(d.instance_uuid, {})
                mine[name] = mine.get(name, 0) + 1


def provider_name(hypervisor_hostname: str, device: Any) -> str:
    """The Placement provider Nova reports ``device`` on (PCI in Placement):
    ``HOST_ADDRESS``, a VF counting on its PF's provider."""
    address = device.parent_addr if device.dev_type == "type-VF" else device.address
    return "%s_%s" % (hypervisor_hostname, (address or "").upper())


def pci_in_placement() -> bool:
    """Whether the loaded nova.conf reports PCI devices to Placement or
    schedules them there."""
    from nova import conf

    cfg = conf.CONF
    return bool(cfg.pci.report_in_placement or cfg.filter_scheduler.pci_in_placement)


def consumers(
    ctxt: Any,
    uuids: Iterable[str],
    nodes: dict[str, str] | None = None,
    deleted: set[str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Of Placement consumer ``uuids``: {instance uuid: server name} and
    {migration uuid: its instance uuid}, over all cells; the compute node
    of each instance (its live, visible copy) is added to ``nodes`` and the
    deleted instances to ``deleted``, if given."""
    from nova import context as nova_context
    from nova import objects

    objects.register_all()
    ctxt = ctxt or nova_context.get_admin_context()
    wanted = sorted(uuids)
    servers: dict[str, str] = {}
    migrations: dict[str, str] = {}
    with db_read("Nova's cell mappings", API_DB_CHECK):
        cells = [c for c in objects.CellMappingList.get_all(ctxt) if not c.is_cell0()]
    for cell in cells:
        with (
            nova_context.target_cell(ctxt, cell) as cctxt,
            cell_read(cell, "instances and migrations"),
        ):
            for batch in cell_reads.chunks(wanted, cell_reads.BATCH_UUIDS):
                found = objects.InstanceList.get_by_filters(
                    cctxt, {"uuid": list(batch)}, expected_attrs=[]
                )
                servers.update({i.uuid: i.display_name or "" for i in found})
                if nodes is not None:
                    # a cross-cell resize's source copy is hidden until confirmed
                    nodes.update(
                        {
                            i.uuid: i.node
                            for i in found
                            if i.node and not i.deleted and not i.hidden
                        }
                    )
                if deleted is not None:
                    deleted.update(i.uuid for i in found if i.deleted)
            unknown = [u for u in wanted if u not in servers and u not in migrations]
            migrations.update(instance_reads.migration_instances(cctxt, unknown))
    return servers, migrations
