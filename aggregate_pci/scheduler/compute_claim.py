"""What the compute will claim for one scheduling request (issue 17).

The scheduler judges the RequestSpec's PCI requests, but the compute claims
from elsewhere, in two ways that matter:

- **Which requests.**  Move claims (``ResourceTracker._move_claim``: cold
  migration, resize, evacuation) rebuild the requests from the Nova flavor;
  boot, unshelve and live migration claim the instance's own requests,
  which follow its Nova flavor.  After a reverted resize Nova restores the
  RequestSpec's flavor but not its ``pci_requests`` (docs/nova-defects.md,
  defect 2), so the two can disagree: the flavor's requests are what the
  compute claims.
- **Whether the claim follows Placement.**  With PCI in Placement, boot,
  unshelve and live migration take the devices Placement allocated; move
  claims ignore the allocation and take greedily in pool order
  (docs/nova-defects.md, defect 1), and so does any claim whose requests
  are not the ones Placement was asked for.

Nova is imported here (lazily), never in the pure core.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from aggregate_pci.alias import rules
from aggregate_pci.scheduler.nova_pools import field

LOG = logging.getLogger(__name__)

#: Instance task states of the operations whose compute claim is a move
#: claim (``resize_prep``: cold migration and resize; ``rebuilding``:
#: evacuation, rebuilds are not filtered).
MOVE_CLAIM_TASK_STATES = frozenset(("resize_prep", "rebuilding"))


@dataclasses.dataclass(frozen=True)
class ComputeClaim:
    """The PCI requests the compute will claim, in its order."""

    requests: tuple[Any, ...]
    #: False where the RequestSpec's flavor-alias requests disagree with
    #: the Nova flavor (then ``requests`` are the flavor's).
    agree: bool
    #: Request ids of the RequestSpec's flavor-alias requests: the prefixes
    #: of Placement's request groups for PCI devices.
    placement_ids: tuple[str, ...]


def _alias_requests(requests: Any) -> list[Any]:
    """The flavor-alias requests among Nova PCI requests."""
    return [r for r in requests if getattr(r, "alias_name", None)]


def _summary(requests: Any) -> str:
    """``t4:1,v100:1`` for a log line."""
    return ",".join("%s:%s" % (r.alias_name, r.count) for r in requests) or "none"


def compute_claim(spec_obj: Any) -> ComputeClaim:
    """What the compute will claim for ``spec_obj``; never raises (on an
    unexpected error: the RequestSpec's requests)."""
    spec_requests = tuple(spec_obj.pci_requests.requests)
    spec_aliases = _alias_requests(spec_requests)
    placement_ids = tuple(
        r.request_id for r in spec_aliases if getattr(r, "request_id", None)
    )
    requests = spec_requests
    agree = True
    claimed = None
    uuid = field(spec_obj, "instance_uuid")
    flavor = field(spec_obj, "flavor")
    try:
        wanted = rules.request_of(getattr(flavor, "extra_specs", None) or {})
    except Exception:  # an extra spec Nova would have refused
        wanted = _counts(spec_aliases)
    if flavor is not None and wanted != _counts(spec_aliases):
        agree = False
        try:
            claimed = claimed_requests(spec_obj, wanted)
        except Exception:
            LOG.exception(
                "aggregate-pci: cannot read the PCI requests instance %s's "
                "compute will claim; judging its RequestSpec's",
                uuid,
            )
            claimed = None
        if claimed is not None:
            ports = [r for r in spec_requests if not getattr(r, "alias_name", None)]
            requests = tuple(claimed) + tuple(ports)
        LOG.info(
            "aggregate-pci: instance %s: the RequestSpec's PCI requests (%s) "
            "disagree with its Nova flavor %r (%s), from which the compute "
            "claims (a reverted resize leaves them so): judging %s",
            uuid,
            _summary(spec_aliases),
            getattr(flavor, "name", "?"),
            _summary(claimed or ()),
            "the flavor's" if claimed is not None else "the RequestSpec's",
        )
    return ComputeClaim(requests, agree, placement_ids)


def move_claim_ids(spec_obj: Any, claim: ComputeClaim) -> tuple[str, ...] | None:
    """With PCI in Placement: None where the compute's claim takes the
    devices Placement allocates (boot, unshelve, live migration), else the
    request ids Placement's PCI request groups are named after (a move
    claim, or requests other than those Placement was asked for)."""
    if claim.agree and not _move_claim(spec_obj):
        return None
    return claim.placement_ids


def claimed_requests(spec_obj: Any, wanted: dict[str, int]) -> list[Any] | None:
    """The flavor-alias PCI requests the compute claims for the Nova flavor
    that asks for ``wanted`` ({alias name: count}): the instance's own
    requests (cell DB) where they agree with it, else Nova's requests for
    the flavor (``get_pci_requests_from_flavor``, as ``_move_claim``; needs
    ``[pci] alias`` on the scheduler); None if neither does.  Specs are
    copied without Placement ``rp_uuids``: a move claim has none."""
    own = _alias_requests(instance_pci_requests(spec_obj) or ())
    if own and _counts(own) == wanted:
        return [_without_rp_uuids(r) for r in own]
    from nova import exception
    from nova.pci import request as pci_request

    try:
        built = pci_request.get_pci_requests_from_flavor(spec_obj.flavor).requests
    except exception.PciRequestAliasNotDefined:
        return None
    return list(built)


def _without_rp_uuids(request: Any) -> Any:
    """A copy of a Nova PCI request whose specs name no Placement providers."""
    copy = request.obj_clone()
    copy.spec = [
        {k: v for k, v in dict(entry).items() if k != "rp_uuids"}
        for entry in request.spec
    ]
    return copy


def _counts(requests: Any) -> dict[str, int]:
    """{alias name: devices} of flavor-alias requests."""
    out: dict[str, int] = {}
    for r in requests:
        out[str(r.alias_name)] = out.get(str(r.alias_name), 0) + int(r.count)
    return out


def _move_claim(spec_obj: Any) -> bool:
    """True if the instance's compute claim will be a move claim (its task
    state says cold migration, resize or evacuation); True as well when
    that cannot be read (the stricter reading)."""
    uuid = field(spec_obj, "instance_uuid")
    try:
        state = instance_task_state(getattr(spec_obj, "_context", None), uuid)
    except Exception:
        LOG.exception(
            "aggregate-pci: cannot read the task state of instance %s; "
            "judging its PCI claim as a move claim",
            uuid,
        )
        return True
    return state in MOVE_CLAIM_TASK_STATES


def instance_task_state(context: Any, uuid: str | None) -> str | None:
    """The instance's task state from its cell, None for an instance not
    yet in a cell (being built) or without a uuid."""
    instance = _in_cell(
        context,
        uuid,
        lambda ctx, objects: objects.Instance.get_by_uuid(ctx, uuid, expected_attrs=[]),
    )
    return None if instance is None else instance.task_state


def instance_pci_requests(spec_obj: Any) -> list[Any] | None:
    """The instance's own PCI requests from its cell, None before it is in
    a cell."""
    uuid = field(spec_obj, "instance_uuid")
    found = _in_cell(
        getattr(spec_obj, "_context", None),
        uuid,
        lambda ctx, objects: objects.InstancePCIRequests.get_by_instance_uuid(
            ctx, uuid
        ),
    )
    return None if found is None else list(found.requests)


def _in_cell(context: Any, uuid: str | None, read: Any) -> Any:
    """``read(cell_context, nova.objects)`` in the instance's cell, None for
    an instance not yet in a cell or without a uuid."""
    if not uuid:
        return None
    from nova import context as nova_context
    from nova import exception, objects

    ctx = context or nova_context.get_admin_context()
    try:
        mapping = objects.InstanceMapping.get_by_instance_uuid(ctx, uuid)
    except exception.InstanceMappingNotFound:
        return None
    if mapping.cell_mapping is None:
        return None
    with nova_context.target_cell(ctx, mapping.cell_mapping) as cctxt:
        return read(cctxt, objects)
