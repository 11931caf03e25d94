"""PCI flavors on Nova host aggregates, through python-novaclient.

``PciFlavorAdmin`` takes a keystoneauth1 session (so any auth method, and
tests, can hand it one) and offers the read and write operations the CLI
commands are thin wrappers of.  Every value goes through ``codec`` before any
API call; every write is one ``set_metadata`` call per aggregate, reported as
``MetadataChange`` records, supports ``dry_run`` and is idempotent.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from novaclient import client as nova_client

from aggregate_pci import codec
from aggregate_pci.admin import errors
from aggregate_pci.admin.models import (
    Aggregate,
    MetadataChange,
    NovaFlavor,
    PciFlavorRecord,
    aggregate_from,
    pci_flavor_records,
)
from aggregate_pci.admin.translate import CONNECT_RETRIES, translated

#: Compute API microversion: 2.41 gives aggregate UUIDs, 2.61 gives flavor
#: extra specs in flavor lists (one call for all flavors in ``check``).
API_VERSION = "2.61"


class PciFlavorAdmin:
    """Read and write PCI flavors on a cloud's host aggregates."""

    def __init__(
        self,
        session: Any,
        *,
        region_name: str | None = None,
        endpoint_type: str | None = None,
        nova: Any = None,
        connect_retries: int = CONNECT_RETRIES,
        timeout: float | None = None,
    ) -> None:
        self.session = session
        if timeout is not None and hasattr(session, "timeout"):
            # keystoneauth1 applies it to every request of the session
            # (novaclient only passes a timeout to sessions it makes).
            session.timeout = float(timeout)
        if nova is None:
            kwargs: dict[str, Any] = {
                "session": session,
                "connect_retries": connect_retries,
            }
            if region_name:
                kwargs["region_name"] = region_name
            if endpoint_type:
                kwargs["endpoint_type"] = endpoint_type
            nova = nova_client.Client(API_VERSION, **kwargs)
        self.nova = nova

    # -- error translation -------------------------------------------------

    # -- aggregates ----------------------------------------------------------

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
            "set metadata %s on aggregate %r" % (", ".join(sorted(todo)), agg.name),
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

    # -- PCI flavors ---------------------------------------------------------

    def create_pci_flavor(
        self,
        name: str,
        aggregate: str | int | Aggregate,
        definition: codec.PciFlavorDefinition | str,
        replace: bool = False,
        dry_run: bool = False,
    ) -> MetadataChange:
        """Define PCI flavor ``name`` on one aggregate.

        Validates name and value with the codec before any call.  Refuses to
        replace a different existing definition unless ``replace``; writing
        the same definition again changes nothing.
        """
        label = aggregate.name if isinstance(aggregate, Aggregate) else str(aggregate)
        try:
            key = codec.make_key(name)
            if isinstance(definition, str):
                definition = codec.parse_value(definition, key, label)
            value = codec.encode(definition, key, label)
        except codec.PciFlavorError as exc:
            raise errors.InvalidInput(str(exc.with_context(aggregate=label))) from None
        agg = (
            aggregate
            if isinstance(aggregate, Aggregate)
            else self.find_aggregate(aggregate)
        )
        for other in agg.metadata:
            if other != key and other.lower() == key.lower():
                raise errors.Conflict(
                    "aggregate %r, key %r: the aggregate already has key %r "
                    "and Nova compares metadata keys case-insensitively, so "
                    "writing %r would change that flavor; pick another name "
                    "or delete %r first" % (agg.name, key, other, key, other)
                )
        old = agg.metadata.get(key)
        if old is not None and old != value and not replace:
            try:
                same = codec.canonicalize(old, key, agg.name) == value
            except codec.PciFlavorError:
                same = False
            if not same:
                raise errors.Conflict(
                    "aggregate %r, key %r: PCI flavor %r is already defined "
                    "there as %s; pass --replace (replace=True) to overwrite "
                    "it" % (agg.name, key, name, old)
                )
        change = self.set_metadata(agg, {key: value}, dry_run=dry_run)[0]
        if change.applied:
            self._check_kept(agg, key, value, change)
        return change

    def _check_kept(
        self, agg: Aggregate, key: str, value: str, change: MetadataChange
    ) -> None:
        """Read ``key`` back after writing it: Nova has no compare-and-swap,
        so another client writing the same key at the same time is seen
        here (a lost race), not reported as success."""
        now = self._current(agg).metadata.get(key)
        if now == value:
            return
        raise errors.Conflict(
            "aggregate %r, key %r: lost a race: another client changed it "
            "right after our write, it now holds %s; see 'openstack "
            "aggregate show %s', agree on one definition, then run again"
            % (agg.name, key, "nothing" if now is None else now, agg.name),
            [change],
        )

    def delete_pci_flavor(
        self,
        name: str,
        aggregate: str | int | Aggregate | None = None,
        dry_run: bool = False,
    ) -> list[MetadataChange]:
        """Remove only ``pci_flavor:NAME`` from one aggregate or from all.

        ``NotFound`` when no (given) aggregate defines it.  A failure after
        some aggregates were changed carries the applied changes.
        """
        key = codec.KEY_PREFIX + name
        if aggregate is not None:
            targets = [
                aggregate
                if isinstance(aggregate, Aggregate)
                else self.find_aggregate(aggregate)
            ]
        else:
            targets = self.list_aggregates()
        targets = [a for a in targets if key in a.metadata]
        if not targets:
            where = (
                (
                    "aggregate %r"
                    % (
                        aggregate.name
                        if isinstance(aggregate, Aggregate)
                        else aggregate
                    )
                )
                if aggregate is not None
                else "any aggregate"
            )
            raise errors.NotFound(
                "key %r: PCI flavor %r is not defined on %s; "
                "'aggregate-pci flavor list' (or 'openstack pci flavor "
                "list') shows the defined ones" % (key, name, where)
            )
        done: list[MetadataChange] = []
        for agg in targets:
            try:
                done.extend(self.set_metadata(agg, {key: None}, dry_run))
            except errors.AdminError as exc:
                exc.changes = done + exc.changes
                raise
        return done

    def list_pci_flavors(self) -> list[PciFlavorRecord]:
        """Every ``pci_flavor:`` key on every aggregate, parsed or with the
        codec's error."""
        out = []
        for agg in self.list_aggregates():
            out.extend(pci_flavor_records(agg))
        return out

    # -- Nova flavors --------------------------------------------------------

    def list_nova_flavors(self) -> list[NovaFlavor]:
        """All Nova flavors (public and private) with their extra specs.

        Follows Nova's marker pagination; with microversion 2.61 the extra
        specs come in the same responses, so this is one call per page.
        """
        out: list[NovaFlavor] = []
        marker = None
        seen: set[str] = set()
        while True:
            with translated("list Nova flavors"):
                page = self.nova.flavors.list(
                    detailed=True, is_public=None, marker=marker
                )
            new = [f for f in page if str(f.id) not in seen]
            if not new:
                return out
            for flavor in new:
                seen.add(str(flavor.id))
                specs = getattr(flavor, "extra_specs", None)
                if specs is None:
                    with translated("read extra specs of flavor %r" % flavor.name):
                        specs = flavor.get_keys()
                out.append(NovaFlavor(str(flavor.id), flavor.name, dict(specs)))
            marker = new[-1].id
