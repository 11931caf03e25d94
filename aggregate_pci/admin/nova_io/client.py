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

from aggregate_pci import codec
from aggregate_pci.admin import errors
from aggregate_pci.admin.models import (
    Aggregate,
    MetadataChange,
    NovaFlavor,
    PciFlavorRecord,
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
                "key %r: PCI flavor %r is not defined on %s" % (key, name, where),
                hint=Hint("{command} shows the defined ones", command="flavor list"),
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
