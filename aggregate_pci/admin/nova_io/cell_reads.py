"""Batched reads of one Nova cell database (issue 21: fleet scale).

What ``nova_db`` reads, in pages and batches instead of one query per
compute node or instance: compute nodes by id (``PAGE_NODES`` a query, their
free pools as ``PciDevicePool.to_dict`` gives them) and the claimed and
allocated devices of a page of nodes; ``instance_reads`` reads instances
(``BATCH_UUIDS`` uuids or node ids an ``IN`` clause).  Queries
go through Nova's models and DB API (``model_query``, the context's
``read_deleted``); rows become light records, and JSON columns are decoded
directly when they have the exact shape Nova's current objects write, else
through Nova's objects (older formats keep Nova's reading).  Nothing is
written (Nova's objects would give a device without uuid one).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Iterator, Sequence

from aggregate_pci.admin.interned import intern_value
from aggregate_pci.admin.nova_io.db_access import cell_read

#: Compute nodes read per query (keyset by id, as Nova orders them).
PAGE_NODES = 1000
#: Instance uuids (and compute node ids) per ``IN`` clause.
BATCH_UUIDS = 1000
#: Pool fields of ``PciDevicePool`` in its field order, and their types.
_POOL_FIELDS = (
    ("product_id", (str,)),
    ("vendor_id", (str,)),
    ("numa_node", (int, type(None))),
    ("tags", (dict,)),
    ("count", (int,)),
)
_POOL_NAMES = frozenset(name for name, _ in _POOL_FIELDS)
_POOL_ORDER = tuple(name for name, _ in _POOL_FIELDS)
#: The field types of a pool with every field, as tuples.
_FULL_TYPES = frozenset(itertools.product(*(types for _, types in _POOL_FIELDS)))
#: Tag value types taken as they are.
_TAG_TYPES = frozenset((str, type(None)))


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
            address,
            vendor_id,
            product_id,
            dev_type,
            parent_addr,
            self.numa_node,
            status,
            self.instance_uuid,
            self.request_id,
            self._extra_info,
        ) = row[: len(self.__slots__)]
        # one copy of the values a fleet's devices repeat
        self.address = intern_value(address)
        self.vendor_id = intern_value(vendor_id)
        self.product_id = intern_value(product_id)
        self.dev_type = intern_value(dev_type)
        self.parent_addr = intern_value(parent_addr)
        self.status = intern_value(status)

    @property
    def extra_info(self) -> dict[str, Any]:
        """``extra_info`` decoded, as ``PciDevice`` holds it."""
        return json.loads(self._extra_info) if self._extra_info else {}

    @property
    def card_serial_number(self) -> Any:
        """As ``PciDevice.card_serial_number`` (device_spec matching)."""
        caps = json.loads(self.extra_info.get("capabilities", "{}"))
        return caps.get("vpd", {}).get("card_serial_number")


def reader(cctxt: Any) -> Any:
    """Nova's reader transaction on the cell of ``cctxt``."""
    from nova.db.main import api as main_api

    return main_api.get_context_manager(cctxt).reader.using(cctxt)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _nodes_where(cctxt: Any, query: Any) -> Any:
    """``query`` limited to the live compute nodes, as Nova's select does."""
    from nova.db.main import models

    if cctxt.read_deleted == "no":
        query = query.where(models.ComputeNode.__table__.c.deleted == 0)
    return query


def count_nodes(cctxt: Any) -> int:
    """How many compute nodes ``node_pages`` will give."""
    from nova.db.main import api as main_api
    from nova.db.main import models
    from sqlalchemy import func, select

    query = _nodes_where(
        cctxt, select(func.count()).select_from(models.ComputeNode.__table__)
    )
    with main_api.get_engine(context=cctxt).connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def node_pages(cctxt: Any, extra: Sequence[str] = ()) -> Iterator[list[Any]]:
    """Pages of compute nodes (id, host, hypervisor_hostname, pci_stats and
    the ``extra`` columns) in id order, as ``ComputeNodeList.get_all``
    selects them."""
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
            table.c.pci_stats,
            *(table.c[name] for name in extra),
        )
        query = _nodes_where(cctxt, query)
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
    cell: Any, cctxt: Any, extra: Sequence[str] = ()
) -> Iterator[list[tuple[Any, list[dict[str, Any]]]]]:
    """``node_pages`` of one cell as (node, its ``free_pools``) pairs; a
    failure to read or decode a page is one line naming the cell
    (``db_access.cell_read``), the caller's work on it is not."""
    pages = node_pages(cctxt, extra)
    while True:
        with cell_read(cell, "compute nodes"):
            page = next(pages, None)
            if page is None:
                return
            pairs = [(node, free_pools(node.pci_stats)) for node in page]
        yield pairs


def free_pools(pci_stats: str | None) -> list[dict[str, Any]]:
    """``[p.to_dict() for p in node.pci_device_pools]`` of a compute node's
    ``pci_stats`` column: decoded here when it is the current serialized
    ``PciDevicePoolList`` with fields of the exact types, else by Nova."""
    if pci_stats is None:
        return []
    fast = _fast_pools(pci_stats)
    if fast is not None:
        return fast
    from nova.objects import pci_device_pool

    return [p.to_dict() for p in pci_device_pool.from_pci_stats(pci_stats)]


def _fast_pools(text: str) -> list[dict[str, Any]] | None:
    """The pools of a current ``PciDevicePoolList`` primitive, or None when
    anything differs from what Nova's objects would take unchanged."""
    from nova import objects

    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if (
        not isinstance(doc, dict)
        or doc.get("nova_object.name") != "PciDevicePoolList"
        or doc.get("nova_object.version") != objects.PciDevicePoolList.VERSION
    ):
        return None
    items = (doc.get("nova_object.data") or {}).get("objects")
    if not isinstance(items, list):
        return None
    version = objects.PciDevicePool.VERSION
    out = []
    for item in items:
        if (
            type(item) is not dict
            or item.get("nova_object.name") != "PciDevicePool"
            or item.get("nova_object.version") != version
        ):
            return None
        data = item.get("nova_object.data")
        if type(data) is not dict:
            return None
        if tuple(data) == _POOL_ORDER:  # all fields, as Nova writes them
            if tuple(map(type, data.values())) not in _FULL_TYPES:
                return None
            pool = dict(data)
        else:
            if not _POOL_NAMES.issuperset(data):
                return None
            pool = {}
            for name, types in _POOL_FIELDS:
                if name in data:
                    value = data[name]
                    if type(value) not in types:
                        return None
                    pool[name] = value
        tags = pool.pop("tags", {})
        if not _TAG_TYPES.issuperset(map(type, tags.values())):
            return None
        pool.update(tags)
        out.append(pool)
    return out


def used_devices(cctxt: Any, node_ids: Sequence[int], statuses: Sequence[str]) -> Any:
    """{compute node id: its devices in ``statuses``, in id order} of these
    nodes (``BATCH_UUIDS`` nodes a query)."""
    from nova.db.main import api as main_api
    from nova.db.main import models

    model = models.PciDevice
    cols = [getattr(model, name) for name in UsedDevice.__slots__[:-1]]
    out: dict[int, list[UsedDevice]] = {}
    with reader(cctxt):
        for ids in chunks(node_ids, BATCH_UUIDS):
            rows = (
                main_api.model_query(cctxt, model, (*cols, model.extra_info, model.id))
                .filter(model.compute_node_id.in_(list(ids)))
                .filter(model.status.in_(list(statuses)))
                .order_by(model.compute_node_id, model.id)
                .all()
            )
            for row in rows:
                out.setdefault(row.compute_node_id, []).append(UsedDevice(row))
    return out
