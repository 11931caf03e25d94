"""Host aggregates, their hosts and metadata, through python-novaclient.

``AggregateAdmin`` works on a novaclient ``Client`` (``PciFlavorAdmin`` in
``admin.client`` builds one from a keystoneauth1 session and adds the PCI
flavor operations).  Every write supports ``dry_run``, is idempotent and
names the aggregate in its errors; metadata writes are one ``set_metadata``
call per aggregate, reported as ``MetadataChange`` records.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from aggregate_pci.admin import errors
from aggregate_pci.admin.models import Aggregate, MetadataChange, aggregate_from
from aggregate_pci.admin.nova_io.translate import translated


class AggregateAdmin:
    """Read and write host aggregates: hosts, metadata, create, delete."""

    def __init__(self, nova: Any) -> None:
        self.nova = nova

    def list_aggregates(self) -> list[Aggregate]:
        """Every host aggregate (Nova returns them in one unpaged response)."""
        with translated("list host aggregates"):
            return [aggregate_from(a) for a in self.nova.aggregates.list()]

    def list_compute_hosts(self) -> frozenset[str]:
        """The hosts of Nova's ``nova-compute`` services, in one call: the
        only names Nova accepts when a host is added to an aggregate."""
        with translated("list compute services"):
            services = self.nova.services.list(binary="nova-compute")
        # The response body, as in _aggregate_from: no lazy re-fetch.
        return frozenset(
            info["host"]
            for info in (
                s.to_dict() if hasattr(s, "to_dict") else vars(s) for s in services
            )
            if info.get("host")
        )

    def find_aggregate(self, name_or_id: str | int | Aggregate) -> Aggregate:
        """The aggregate with this name, id or UUID; ``NotFound`` names it."""
        if isinstance(name_or_id, Aggregate):
            name_or_id = name_or_id.id
        wanted = str(name_or_id)
        aggregates = self.list_aggregates()
        for attr in ("name", "uuid", "id"):
            found = [a for a in aggregates if str(getattr(a, attr)) == wanted]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise errors.Conflict(
                    "more than one aggregate is named %r (ids %s): "
                    "give the id or UUID instead"
                    % (wanted, ", ".join(str(a.id) for a in found))
                )
        raise errors.NotFound(
            "aggregate %r not found: 'openstack aggregate list' "
            "shows the existing ones, 'openstack aggregate create "
            "NAME' makes one" % wanted
        )

    def _current(self, agg: Aggregate) -> Aggregate:
        """``agg`` as Nova has it now (one list); ``NotFound`` names it."""
        for current in self.list_aggregates():
            if current.id == agg.id:
                return current
        raise errors.NotFound(
            "aggregate %r (id %s) no longer exists: 'openstack "
            "aggregate list' shows the existing ones" % (agg.name, agg.id)
        )

    def _named(self, name: str) -> Aggregate | None:
        found = [a for a in self.list_aggregates() if a.name == name]
        return found[0] if found else None

    def create_aggregate(
        self, name: str, availability_zone: str | None = None, dry_run: bool = False
    ) -> Aggregate | None:
        """Create aggregate ``name``, or return the existing one (idempotent).

        One call: the create itself; Nova's HTTP 409 for an existing name is
        answered by reading that aggregate (a second call only then).  With
        ``dry_run`` nothing is created (one read) and None is returned when
        the aggregate does not exist yet.
        """
        if dry_run:
            existing = self._named(name)
        else:
            try:
                with translated("create aggregate %r" % name, write=True):
                    created = self.nova.aggregates.create(name, availability_zone)
            except errors.Conflict:
                existing = self._named(name)
                if existing is None:
                    raise
            else:
                agg = aggregate_from(created)
                if availability_zone and not agg.metadata:
                    agg = dataclasses.replace(
                        agg, metadata={"availability_zone": availability_zone}
                    )
                return agg
        if (
            existing is not None
            and availability_zone
            and existing.availability_zone != availability_zone
        ):
            raise errors.Conflict(
                "aggregate %r already exists in availability zone %r, not "
                "%r: pick another name or change its zone with 'openstack "
                "aggregate set --zone'"
                % (name, existing.availability_zone, availability_zone)
            )
        return existing

    def delete_aggregate(
        self,
        aggregate: str | int | Aggregate,
        dry_run: bool = False,
        may_drop: Mapping[str, str] | None = None,
    ) -> bool:
        """Delete an aggregate that is empty; return whether anything changed.

        Idempotent: an aggregate that is not there is no change.  Refuses
        (``NotEmpty``, naming the aggregate and what remains) while it has
        hosts, or metadata other than the keys in ``may_drop`` holding exactly
        those values, since Nova would drop that metadata with it.  Given an
        ``Aggregate`` (already read) this is one call.
        """
        if isinstance(aggregate, Aggregate):
            agg = aggregate
        else:
            try:
                agg = self.find_aggregate(aggregate)
            except errors.NotFound:
                return False
        allowed = dict(may_drop or {})
        if agg.hosts:
            raise errors.NotEmpty(
                "aggregate %r still has host(s) %s: remove them first "
                "('openstack aggregate remove host'); nothing was deleted"
                % (agg.name, ", ".join(sorted(agg.hosts)))
            )
        extra = sorted(
            k for k, v in agg.metadata.items() if k not in allowed or allowed[k] != v
        )
        if extra:
            raise errors.NotEmpty(
                "aggregate %r still has metadata %s that deleting it would "
                "drop: unset those keys first ('openstack aggregate unset "
                "--property'); nothing was deleted"
                % (agg.name, ", ".join("%s=%s" % (k, agg.metadata[k]) for k in extra))
            )
        if dry_run:
            return True
        try:
            with translated("delete aggregate %r" % agg.name, write=True):
                self.nova.aggregates.delete(agg.id)
        except errors.NotFound:
            return False
        return True

    def add_host(
        self, aggregate: str | int | Aggregate, host: str, dry_run: bool = False
    ) -> bool:
        """Add ``host`` to the aggregate; return whether anything changed.

        Given an ``Aggregate`` (already read) this is one call; a name or id
        is looked up first.  A host Nova says is already there (HTTP 409, read
        back to tell it from other 409s) is no change.
        """
        agg = (
            aggregate
            if isinstance(aggregate, Aggregate)
            else self.find_aggregate(aggregate)
        )
        if host in agg.hosts:
            return False
        if dry_run:
            return True
        try:
            with translated(
                "add host %r to aggregate %r" % (host, agg.name), write=True
            ):
                self.nova.aggregates.add_host(agg.id, host)
        except errors.Conflict:
            if host in self._current(agg).hosts:
                return False
            raise
        return True

    def remove_host(
        self, aggregate: str | int | Aggregate, host: str, dry_run: bool = False
    ) -> bool:
        """Remove ``host`` from the aggregate; return whether anything changed.

        Given an ``Aggregate`` (already read) this is one call; a name or id
        is looked up first.  A host Nova says is not there (HTTP 404, read
        back to tell it from a missing aggregate) is no change.
        """
        agg = (
            aggregate
            if isinstance(aggregate, Aggregate)
            else self.find_aggregate(aggregate)
        )
        if host not in agg.hosts:
            return False
        if dry_run:
            return True
        try:
            with translated(
                "remove host %r from aggregate %r" % (host, agg.name), write=True
            ):
                self.nova.aggregates.remove_host(agg.id, host)
        except errors.NotFound:
            if host not in self._current(agg).hosts:
                return False
            raise
        return True

    def set_metadata(
        self,
        aggregate: str | int | Aggregate,
        changes: Mapping[str, str | None],
        dry_run: bool = False,
    ) -> list[MetadataChange]:
        """Apply ``changes`` (None deletes) in ONE call; report every key.

        Keys whose value is already the wanted one are reported with
        ``applied=False`` and not sent.
        """
        agg = (
            aggregate
            if isinstance(aggregate, Aggregate)
            else self.find_aggregate(aggregate)
        )
        records = [
            MetadataChange(agg.name, key, agg.metadata.get(key), new, False)
            for key, new in changes.items()
        ]
        todo = {r.key: r.new for r in records if r.changes_anything}
        if dry_run or not todo:
            return records
        with translated(
            "set metadata %s on aggregate %r" % (keys_text(todo), agg.name),
            write=True,
        ):
            result = self.nova.aggregates.set_metadata(agg.id, todo)
        stored = dict(getattr(result, "metadata", None) or {})
        out = []
        for r in records:
            if r.key not in todo:
                out.append(r)
                continue
            if stored.get(r.key) != r.new:
                raise errors.AdminError(
                    "aggregate %r, key %r: Nova stored %r instead of %r; "
                    "inspect the aggregate with 'openstack aggregate show %s'"
                    % (agg.name, r.key, stored.get(r.key), r.new, agg.name),
                    [
                        dataclasses.replace(x, applied=True)
                        for x in records
                        if x.key in todo
                    ],
                )
            out.append(dataclasses.replace(r, applied=True))
        return out


def keys_text(keys: Iterable[str], first: int = 3) -> str:
    """The first ``first`` keys (sorted) and a count of the rest, for one
    readable line however many keys a write holds."""
    ordered = sorted(keys)
    if len(ordered) <= first:
        return ", ".join(ordered)
    return "%s and %d more (%d keys)" % (
        ", ".join(ordered[:first]),
        len(ordered) - first,
        len(ordered),
    )
