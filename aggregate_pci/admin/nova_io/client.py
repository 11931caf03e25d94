"""PCI flavors on Nova host aggregates, through python-novaclient.

``PciFlavorAdmin`` takes a keystoneauth1 session (so any auth method, and
tests, can hand it one) and offers the read and write operations the CLI
commands are thin wrappers of: PCI flavors and Nova flavors here, host
aggregates, hosts and metadata from ``admin.aggregates.AggregateAdmin``.
Every value goes through ``codec`` before any API call; every write is one
``set_metadata`` call per aggregate, reported as ``MetadataChange`` records,
supports ``dry_run`` and is idempotent.
"""

from __future__ import annotations

from typing import Any

from novaclient import client as nova_client

from aggregate_pci import alias, codec
from aggregate_pci.admin import errors
from aggregate_pci.admin.checks import lint
from aggregate_pci.admin.models import (
    Aggregate,
    MetadataChange,
    NovaFlavor,
    PciFlavorRecord,
    PciFlavorUsers,
    pci_flavor_records,
)
from aggregate_pci.admin.nova_io.aggregates import AggregateAdmin
from aggregate_pci.admin.nova_io.deadline import DeadlineSession
from aggregate_pci.admin.nova_io.translate import CONNECT_RETRIES, translated
from aggregate_pci.errors import Hint

#: Compute API microversion: 2.41 gives aggregate UUIDs, 2.61 gives flavor
#: extra specs in flavor lists (one call for all flavors in ``check``).
API_VERSION = "2.61"


class PciFlavorAdmin(AggregateAdmin):
    """Read and write PCI flavors on a cloud's host aggregates (and, from
    ``AggregateAdmin``, the aggregates themselves); list Nova flavors."""

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
        #: Where Placement is found through the same session (audit's drift).
        self.region_name = region_name
        self.interface = endpoint_type
        if timeout is not None and hasattr(session, "timeout"):
            # keystoneauth1 applies it to every request of the session
            # (novaclient only passes a timeout to sessions it makes).
            session.timeout = float(timeout)
        if nova is None:
            # With a timeout, it bounds each request's total wait, retries
            # included (DeadlineSession retries within it).
            kwargs: dict[str, Any] = {
                "session": session
                if timeout is None
                else DeadlineSession(session, timeout),
                "connect_retries": connect_retries if timeout is None else 0,
            }
            if region_name:
                kwargs["region_name"] = region_name
            if endpoint_type:
                kwargs["endpoint_type"] = endpoint_type
            nova = nova_client.Client(API_VERSION, **kwargs)
        super().__init__(nova)

    # -- PCI flavors ---------------------------------------------------------

    def create_pci_flavor(
        self,
        name: str,
        aggregate: str | int | Aggregate,
        definition: codec.PciFlavorDefinition | str,
        replace: bool = False,
        dry_run: bool = False,
        allow_different: bool = False,
    ) -> MetadataChange:
        """Define PCI flavor ``name`` on one aggregate.

        Validates name and value with the codec before any call.  Refuses to
        replace a different existing definition unless ``replace``, and a
        definition differing from the name's definitions on other aggregates
        unless ``allow_different``; writing the same definition again changes
        nothing.
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
        if not allow_different:
            others = {
                r.aggregate: r.definition
                for r in self.list_pci_flavors()
                if r.name == name and r.aggregate != agg.name and r.definition
            }
            why = lint.incompatible(name, agg.name, definition, others)
            if why is not None:
                raise errors.Conflict(
                    "aggregate %r, key %r: %s" % (agg.name, key, why),
                    hint=Hint(
                        "make the definitions equal, use another name, or pass "
                        "--allow-different (allow_different=True) to define it anyway"
                    ),
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
        yes: bool = False,
        users: PciFlavorUsers | None = None,
    ) -> list[MetadataChange]:
        """Remove only ``pci_flavor:NAME`` from one aggregate or from all.

        Idempotent: where no (given) aggregate defines it, nothing changes
        (an unchanged record for a given aggregate, none otherwise).
        Deleting the last definition of a name Nova flavors request makes it
        unmanaged (placement widens to any host): ``Conflict`` naming them
        (``users``, else read here) unless ``yes``.  A failure after some
        aggregates were changed carries the applied changes.
        """
        key = codec.KEY_PREFIX + name
        defining = [a for a in self.list_aggregates() if key in a.metadata]
        if aggregate is not None:
            agg = (
                aggregate
                if isinstance(aggregate, Aggregate)
                else self.find_aggregate(aggregate)
            )
            targets = [a for a in defining if a.id == agg.id]
            if not targets:
                return [MetadataChange(agg.name, key, None, None, False)]
        else:
            targets = defining
        if not targets:
            return []
        if not yes and len(targets) == len(defining):
            users = users if users is not None else self.pci_flavor_users(name)
            if users.nova_flavors:
                raise errors.Conflict(
                    "key %r: deleting the last definition of PCI flavor %r (on "
                    "%s) un-manages it while %s: the scheduler would then place "
                    "them on any host with a matching device; remove %s from "
                    "those Nova flavors first, or pass --yes (yes=True)"
                    % (
                        key,
                        name,
                        ", ".join(a.name for a in targets),
                        users.describe(),
                        alias.SPEC_KEY,
                    )
                )
        done: list[MetadataChange] = []
        for target in targets:
            try:
                done.extend(self.set_metadata(target, {key: None}, dry_run))
            except errors.AdminError as exc:
                exc.changes = done + exc.changes
                raise
        return done

    def pci_flavor_users(self, name: str) -> PciFlavorUsers:
        """The Nova flavors requesting PCI flavor ``name`` and the instances
        (all projects) of those Nova flavors, which hold its devices."""
        flavors = sorted(
            f.name for f in self.list_nova_flavors() if f.alias_requests().get(name)
        )
        if not flavors:
            return PciFlavorUsers((), ())
        with translated("list servers of all projects"):
            servers = self.nova.servers.list(
                detailed=True, search_opts={"all_tenants": True}, limit=-1
            )
        instances = sorted(
            "%s (%s)" % (srv.name, srv.id)
            for srv in servers
            if alias.request_of(
                (getattr(srv, "flavor", None) or {}).get("extra_specs")
            ).get(name)
        )
        return PciFlavorUsers(tuple(flavors), tuple(instances))

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
