"""PCI pools of every compute node, read from Nova's cell databases.

Nova's databases as an ``Inventory`` (``capacity --config-file`` and
``inventory export`` where Nova is installed), and the nova.conf loading
they need (``nova_explain`` asks Nova's code about one request).  It reads
the same ``compute_nodes.pci_stats`` pools the scheduler reads (free
devices, with the tags ``[pci] device_spec`` gave them) through Nova's own
objects, plus the claimed and allocated devices of ``pci_devices`` for the
"used" column.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
from typing import Any, Callable, Iterator, Mapping

from aggregate_pci.admin.errors import AdminError
from aggregate_pci.admin.inventory import Inventory, merge_pools
from aggregate_pci.admin.models import Aggregate, Allocation, Device
from aggregate_pci.admin.nova_io import device_tags
from aggregate_pci.alias import SPEC_KEY
from aggregate_pci.errors import Hint

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
#: The database deadline of this process: (seconds per connection attempt,
#: attempts, seconds after each failed one), set by ``load_config``.
_budget: list[tuple[float, int, int]] = []
#: What to check when Nova's API database does not answer.
API_DB_CHECK = (
    "[api_database] connection in the given nova.conf and that its server answers"
)
#: Drivers whose connect arguments take these timeouts (seconds).
_TIMEOUT_ARGS = ("connect_timeout", "read_timeout", "write_timeout")
#: oslo.db's logger of connection retries (WARNING lines: debug only here).
_RETRY_LOGGER = "oslo_db.sqlalchemy.engines"


def db_budget(timeout: float) -> tuple[float, int, int]:
    """(seconds per attempt, attempts, seconds of pause after each failed
    attempt) so that a database that never answers costs ``timeout`` in all
    (oslo.db's ``max_retries`` is its number of attempts, each failed one
    followed by ``retry_interval``): two attempts from 5 s on."""
    if timeout >= 5:
        return (timeout - 2) / 2.0, 2, 1
    return float(timeout), 1, 0


class _DemoteToDebug(logging.Filter):
    """Show oslo.db's retry warnings only with --debug (as debug lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _set_driver_timeouts(
    dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
) -> None:
    """SQLAlchemy ``do_connect`` hook: MySQL connections (API and cell
    databases alike) get the connect, read and write timeouts of the budget
    unless their URL sets them."""
    if not _budget or getattr(dialect, "name", "") not in ("mysql", "mariadb"):
        return
    seconds = _budget[0][0]
    if getattr(dialect, "driver", "") != "pymysql":
        seconds = math.ceil(seconds)  # mysqlclient takes whole seconds
    for name in _TIMEOUT_ARGS:
        cparams.setdefault(name, seconds)


def set_db_deadline(timeout: float) -> None:
    """Bound every Nova database read of this process by ``timeout``
    seconds: MySQL connect/read/write timeouts on every engine (cells
    included) and oslo.db's connection retries (``max_retries``,
    ``retry_interval`` of [database] and [api_database]) within it."""
    import nova.conf
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    per_attempt, attempts, interval = db_budget(timeout)
    if not _budget:
        event.listen(Engine, "do_connect", _set_driver_timeouts)
        logging.getLogger(_RETRY_LOGGER).addFilter(_DemoteToDebug())
    _budget[:] = [(per_attempt, attempts, interval)]
    for group in ("database", "api_database"):
        nova.conf.CONF.set_override("max_retries", attempts, group)
        nova.conf.CONF.set_override("retry_interval", interval, group)


def db_failure(exc: Exception, what: str, check: str) -> AdminError:
    """One line for a failed database read: ``what`` failed, why in short
    (no answer within the deadline, refused, or the driver's first line),
    and ``check``: what to look at."""
    text = str(exc)
    if _budget and ("timed out" in text or "(2013" in text):
        per_attempt, attempts, _ = _budget[0]
        why = "no answer within %g s (%d attempt(s))" % (per_attempt, attempts)
    elif "(2003" in text or "refused" in text.lower():
        why = "connection refused"
    else:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        why = (lines[0] if lines else type(exc).__name__)[:200]
    return AdminError(
        "cannot read %s: %s; check %s" % (what, why, check),
        hint=Hint("raise {option} if the database is just slow", option="timeout"),
    )


@contextlib.contextmanager
def db_read(what: str, check: str) -> Iterator[None]:
    """Any failure reading ``what`` becomes ``db_failure``'s one line."""
    try:
        yield
    except AdminError:
        raise
    except Exception as exc:  # oslo.db, SQLAlchemy and drivers: many types
        raise db_failure(exc, what, check) from None


def load_config(config_file: str, timeout: float | None = None) -> None:
    """Load a nova.conf the way Nova services do (database access only);
    with ``timeout``, every database read is bounded (``set_db_deadline``).

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
    from nova.db.api import api as api_db_api
    from nova.db.main import api as main_db_api

    objects.register_all()
    try:
        nova_config.parse_args(
            ["aggregate-pci", "--config-file", config_file],
            default_config_files=[],
            init_rpc=False,
            configure_db=False,
        )
    except Exception as exc:  # oslo.config raises many types; name the file
        raise AdminError(
            "cannot load Nova configuration %r: %s" % (config_file, exc)
        ) from None
    if timeout is not None:
        set_db_deadline(timeout)
    main_db_api.configure(nova.conf.CONF)
    api_db_api.configure(nova.conf.CONF)
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
    with db_read(
        "host aggregates from Nova's API database",
        API_DB_CHECK,
    ):
        aggs = objects.AggregateList.get_all(ctxt)
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
    host_tags = {
        host: device_tags.spec_tags(path)
        for host, path in (compute_confs or {}).items()
    }
    nodes_by_cell = []
    for cell in cells:
        check_sqlite_path(
            cell.database_connection, "cell %r database connection" % cell.name
        )
        with (
            nova_context.target_cell(ctxt, cell) as cctxt,
            cell_read(cell, "compute nodes"),
        ):
            nodes_by_cell.append((cell, objects.ComputeNodeList.get_all(cctxt)))
    total = sum(len(nodes) for _, nodes in nodes_by_cell)
    done = 0
    for cell, nodes in nodes_by_cell:
        with (
            nova_context.target_cell(ctxt, cell) as cctxt,
            cell_read(cell, "PCI devices"),
        ):
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


def cell_read(cell: Any, what: str) -> Any:
    """``db_read`` for ``what`` in one cell's database."""
    return db_read(
        "%s from cell %r's database" % (what, cell.name),
        "that cell's database_connection ('nova-manage cell_v2 list_cells') "
        "and that its server answers",
    )


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
