"""Batched reads of one Nova cell database (issue 21: fleet scale).

What ``nova_db`` reads, in pages and batches instead of one query per
compute node or instance: compute nodes by id (``PAGE_NODES`` a query,
their free pools as ``PciDevicePool.to_dict`` gives them:
``pci_stats_column``) and the claimed and allocated devices of a page of
nodes; ``instance_reads`` reads instances (``BATCH_UUIDS`` uuids or node
ids an ``IN`` clause).  Queries select from Nova's tables (its models'
``__table__``), limited by the context's ``read_deleted`` as Nova's
``model_query`` limits them (``live``); rows become light records.
Nothing is written (Nova's objects would give a device without uuid one).
"""

from __future__ import annotations

import json
import operator
from typing import Any, Iterator, Sequence

from aggregate_pci.admin.nova_io.db_access import cell_read
from aggregate_pci.admin.nova_io.pci_stats_column import PoolsDecoder

#: Compute nodes read per query (keyset by id, as Nova orders them).
PAGE_NODES = 1000
#: Instance uuids (and compute node ids) per ``IN`` clause.
BATCH_UUIDS = 1000


class UsedDevice:
    """A claimed or allocated ``pci_devices`` row, with the attributes of
    Nova's ``PciDevice`` that the reports and Nova's device_spec matching
    read."""

    __slots__ = (
        "compute_node_id",
        "address",
        "vendor_id",
        "product_id",
        "dev_type",
        "parent_addr",
        "numa_node",
        "status",
        "instance_uuid",
        "request_id",
        "_extra_info",
    )

    def __init__(self, row: Any) -> None:
        (
            self.compute_node_id,
            self.address,
            self.vendor_id,
            self.product_id,
            self.dev_type,
            self.parent_addr,
            self.numa_node,
            self.status,
            self.instance_uuid,
            self.request_id,
            self._extra_info,
        ) = row[: len(self.__slots__)]

    def spec_key(self) -> tuple[Any, ...]:
        """Every attribute Nova's device_spec matching can read here (all
        but the node, instance and request)."""
        return _SPEC_KEY(self)

    @property
    def extra_info(self) -> dict[str, Any]:
        """``extra_info`` decoded, as ``PciDevice`` holds it."""
        return json.loads(self._extra_info) if self._extra_info else {}

    @property
    def card_serial_number(self) -> Any:
        """As ``PciDevice.card_serial_number`` (device_spec matching)."""
        caps = json.loads(self.extra_info.get("capabilities", "{}"))
        return caps.get("vpd", {}).get("card_serial_number")


_SPEC_KEY = operator.attrgetter(
    *(
        name
        for name in UsedDevice.__slots__
        if name not in ("compute_node_id", "instance_uuid", "request_id")
    )
)


def reader(cctxt: Any) -> Any:
    """Nova's reader transaction on the cell of ``cctxt``."""
    from nova.db.main import api as main_api

    return main_api.get_context_manager(cctxt).reader.using(cctxt)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def live(cctxt: Any, query: Any, table: Any) -> Any:
    """``query`` of a soft-deleting ``table`` limited as Nova's
    ``model_query`` limits it by the context's ``read_deleted``."""
    if cctxt.read_deleted == "no":
        return query.where(table.c.deleted == 0)
    if cctxt.read_deleted == "only":
        return query.where(table.c.deleted != 0)
    return query


def count_nodes(cctxt: Any) -> int:
    """How many compute nodes ``node_pages`` will give."""
    from nova.db.main import api as main_api
    from nova.db.main import models
    from sqlalchemy import func, select

    table = models.ComputeNode.__table__
    query = live(cctxt, select(func.count()).select_from(table), table)
    with main_api.get_engine(context=cctxt).connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def node_pages(
    cctxt: Any, extra: Sequence[str] = (), pools: bool = True
) -> Iterator[list[Any]]:
    """Pages of compute nodes (id, host, hypervisor_hostname, pci_stats
    unless not ``pools``, and the ``extra`` columns) in id order, as
    ``ComputeNodeList.get_all`` selects them."""
    from nova.db.main import api as main_api
    from nova.db.main import models
    from sqlalchemy import select

    table = models.ComputeNode.__table__
    marker = None
    while True:
        query = select(
            table.c.id,
            table.c.host,
            table.c.hypervisor_hostname,
            *((table.c.pci_stats,) if pools else ()),
            *(table.c[name] for name in extra),
        )
        query = live(cctxt, query, table)
        if marker is not None:
            query = query.where(table.c.id > marker)
        query = query.order_by(table.c.id).limit(PAGE_NODES)
        with main_api.get_engine(context=cctxt).connect() as conn:
            page = conn.execute(query).fetchall()
        if not page:
            return
        yield page
        marker = page[-1].id


def guarded_node_pages(
    cell: Any,
    cctxt: Any,
    extra: Sequence[str] = (),
    free_pools: PoolsDecoder | None = None,
    pools: bool = True,
) -> Iterator[list[tuple[Any, list[dict[str, Any]]]]]:
    """``node_pages`` of one cell as (node, its free pools) pairs (decoded
    by ``free_pools``, one ``PoolsDecoder`` for every cell of a read: equal
    pools are one dict, not to be changed, whichever cell reports them;
    not read, and empty, unless ``pools``); a failure to read or decode a
    page is one line naming the cell (``db_access.cell_read``), the
    caller's work on it is not."""
    pages = node_pages(cctxt, extra, pools)
    if free_pools is None:
        free_pools = PoolsDecoder()
    while True:
        with cell_read(cell, "compute nodes"):
            page = next(pages, None)
            if page is None:
                return
            pairs = [
                (node, free_pools(node.pci_stats) if pools else []) for node in page
            ]
        yield pairs


def used_devices(cctxt: Any, node_ids: Sequence[int], statuses: Sequence[str]) -> Any:
    """{compute node id: its devices in ``statuses``, in id order} of these
    nodes (``BATCH_UUIDS`` nodes a query)."""
    from nova.db.main import api as main_api
    from nova.db.main import models
    from sqlalchemy import select

    table = models.PciDevice.__table__
    cols = [table.c[name] for name in UsedDevice.__slots__[:-1]]
    out: dict[int, list[UsedDevice]] = {}
    with main_api.get_engine(context=cctxt).connect() as conn:
        for ids in chunks(node_ids, BATCH_UUIDS):
            query = select(*cols, table.c.extra_info, table.c.id).where(
                table.c.compute_node_id.in_(list(ids)),
                table.c.status.in_(list(statuses)),
            )
            query = live(cctxt, query, table).order_by(
                table.c.compute_node_id, table.c.id
            )
            for row in conn.execute(query).fetchall():
                out.setdefault(row[0], []).append(UsedDevice(row))
    return out
