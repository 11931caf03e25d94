"""Batched reads of the instances of one Nova cell database (issue 21:
fleet scale): the PCI requests, names, projects and Nova flavors of
instances and the instances of migrations, ``cell_reads.BATCH_UUIDS`` uuids
an ``IN`` clause, from Nova's tables as ``cell_reads`` reads compute nodes
(``cell_reads.live``; JSON in the exact shape Nova's current objects write
decoded directly, anything else through Nova's objects).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from aggregate_pci.admin.nova_io import cell_reads


def alias_requests(
    cctxt: Any, uuids: Sequence[str]
) -> dict[str, list[tuple[str, str | None, int]]]:
    """{instance uuid: [(request_id, alias_name, count)]} of these
    instances' ``InstancePCIRequests`` (as ``get_by_instance_uuid`` reads
    them: the first live ``instance_extra`` row), batched."""
    from nova.db.main import api as main_api
    from nova.db.main import models
    from sqlalchemy import select

    table = models.InstanceExtra.__table__
    out: dict[str, list[tuple[str, str | None, int]]] = {}
    with main_api.get_engine(context=cctxt).connect() as conn:
        for batch in cell_reads.chunks(uuids, cell_reads.BATCH_UUIDS):
            query = select(table.c.instance_uuid, table.c.pci_requests).where(
                table.c.instance_uuid.in_(list(batch))
            )
            query = cell_reads.live(cctxt, query, table).order_by(table.c.id)
            for uuid, text in conn.execute(query).fetchall():
                if uuid not in out:
                    out[uuid] = _requests(cctxt, uuid, text)
    return out


def _requests(
    cctxt: Any, uuid: str, text: str | None
) -> list[tuple[str, str | None, int]]:
    """(request_id, alias_name, count) of one ``pci_requests`` column."""
    try:
        reqs = json.loads(text) if text is not None else []
        out = [(r["request_id"], r["alias_name"], r["count"]) for r in reqs]
        if all(type(c) is int for _, _, c in out):
            return out
    except (ValueError, TypeError, KeyError):
        pass
    from nova import objects

    obj = objects.InstancePCIRequests.obj_from_db(cctxt, uuid, text)
    return [(r.request_id, r.alias_name, r.count) for r in obj.requests]


def servers(cctxt: Any, uuids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """{instance uuid: (display name, project, Nova flavor name)} of the
    live instances among ``uuids`` (as ``InstanceList.get_by_filters`` with
    their flavor gives them), batched."""
    from nova.db.main import api as main_api
    from nova.db.main import models
    from sqlalchemy import select

    inst, extra = models.Instance.__table__, models.InstanceExtra.__table__
    out: dict[str, tuple[str, str, str]] = {}
    names: dict[str | None, str] = {}
    with main_api.get_engine(context=cctxt).connect() as conn:
        for batch in cell_reads.chunks(uuids, cell_reads.BATCH_UUIDS):
            query = (
                select(
                    inst.c.uuid, inst.c.display_name, inst.c.project_id, extra.c.flavor
                )
                .select_from(
                    inst.outerjoin(extra, extra.c.instance_uuid == inst.c.uuid)
                )
                .where(inst.c.uuid.in_(list(batch)))
            )
            rows = conn.execute(cell_reads.live(cctxt, query, inst)).fetchall()
            for uuid, name, project, flavor in rows:
                if flavor not in names:  # instances of a flavor share it
                    names[flavor] = _flavor_name(flavor)
                out[uuid] = (name or "", project or "", names[flavor])
    return out


def _flavor_name(text: str | None) -> str:
    """The name of the current flavor in ``instance_extra.flavor``."""
    doc = json.loads(text) if text else None
    if not doc:
        return ""
    data = doc["cur"].get("nova_object.data", {})
    if isinstance(data.get("name"), str):
        return data["name"]
    from nova import objects

    return objects.Flavor.obj_from_primitive(doc["cur"]).name


def migration_instances(cctxt: Any, uuids: Sequence[str]) -> dict[str, str]:
    """{migration uuid: its instance uuid} of the migrations among
    ``uuids``, deleted ones included (as ``Migration.get_by_uuid``), batched."""
    from nova.db.main import api as main_api
    from nova.db.main import models

    model = models.Migration
    out: dict[str, str] = {}
    with cell_reads.reader(cctxt):
        for batch in cell_reads.chunks(uuids, cell_reads.BATCH_UUIDS):
            rows = (
                main_api.model_query(
                    cctxt, model, (model.uuid, model.instance_uuid), read_deleted="yes"
                )
                .filter(model.uuid.in_(list(batch)))
                .order_by(model.id)
                .all()
            )
            for uuid, instance_uuid in rows:
                out.setdefault(uuid, instance_uuid)
    return out
