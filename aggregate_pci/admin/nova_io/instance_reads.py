"""Batched reads of the instances of one Nova cell database (issue 21:
fleet scale): the PCI requests, names, projects and Nova flavors of
instances and the instances of migrations, ``cell_reads.BATCH_UUIDS`` uuids
an ``IN`` clause, through Nova's models and ``model_query`` as
``cell_reads`` reads compute nodes (JSON in the exact shape Nova's current
objects write decoded directly, anything else through Nova's objects).
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

    model = models.InstanceExtra
    out: dict[str, list[tuple[str, str | None, int]]] = {}
    with cell_reads.reader(cctxt):
        for batch in cell_reads.chunks(uuids, cell_reads.BATCH_UUIDS):
            rows = (
                main_api.model_query(
                    cctxt, model, (model.instance_uuid, model.pci_requests)
                )
                .filter(model.instance_uuid.in_(list(batch)))
                .order_by(model.id)
                .all()
            )
            for row in rows:
                if row.instance_uuid not in out:
                    out[row.instance_uuid] = _requests(cctxt, row)
    return out


def _requests(cctxt: Any, row: Any) -> list[tuple[str, str | None, int]]:
    """(request_id, alias_name, count) of one ``pci_requests`` column."""
    try:
        reqs = json.loads(row.pci_requests) if row.pci_requests is not None else []
        out = [(r["request_id"], r["alias_name"], r["count"]) for r in reqs]
        if all(type(c) is int for _, _, c in out):
            return out
    except (ValueError, TypeError, KeyError):
        pass
    from nova import objects

    obj = objects.InstancePCIRequests.obj_from_db(
        cctxt, row.instance_uuid, row.pci_requests
    )
    return [(r.request_id, r.alias_name, r.count) for r in obj.requests]


def servers(cctxt: Any, uuids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """{instance uuid: (display name, project, Nova flavor name)} of the
    live instances among ``uuids`` (as ``InstanceList.get_by_filters`` with
    their flavor gives them), batched."""
    from nova.db.main import api as main_api
    from nova.db.main import models

    inst, extra = models.Instance, models.InstanceExtra
    out: dict[str, tuple[str, str, str]] = {}
    names: dict[str | None, str] = {}
    with cell_reads.reader(cctxt):
        for batch in cell_reads.chunks(uuids, cell_reads.BATCH_UUIDS):
            rows = (
                main_api.model_query(
                    cctxt,
                    inst,
                    (inst.uuid, inst.display_name, inst.project_id, extra.flavor),
                )
                .outerjoin(extra, extra.instance_uuid == inst.uuid)
                .filter(inst.uuid.in_(list(batch)))
                .all()
            )
            for row in rows:
                if row.flavor not in names:  # instances of a flavor share it
                    names[row.flavor] = _flavor_name(row.flavor)
                out[row.uuid] = (
                    row.display_name or "",
                    row.project_id or "",
                    names[row.flavor],
                )
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
