"""PCI flavors on Nova host aggregates, through python-novaclient.

``PciFlavorAdmin`` takes a keystoneauth1 session (so any auth method, and
tests, can hand it one) and offers the read and write operations the CLI
commands are thin wrappers of.  Every value goes through ``codec`` before any
API call; every write is one ``set_metadata`` call per aggregate, reported as
``MetadataChange`` records, supports ``dry_run`` and is idempotent.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterator, Mapping

from keystoneauth1 import exceptions as ks_exc
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from aggregate_pci import codec

#: Compute API microversion: 2.41 gives aggregate UUIDs, 2.61 gives flavor
#: extra specs in flavor lists (one call for all flavors in ``check``).
API_VERSION = "2.61"

#: Connection retries for an unreachable endpoint (keystoneauth1 backs off).
CONNECT_RETRIES = 3

FLAVOR_ALIAS_SPEC = "pci_passthrough:alias"


class AdminError(Exception):
    """A failure with an actionable message naming aggregate, key or host.

    ``changes`` lists the metadata changes that were applied before the
    failure, so a caller can always report partial writes.
    """

    def __init__(self, message: str,
                 changes: list["MetadataChange"] | None = None) -> None:
        super().__init__(message)
        self.changes = list(changes or [])


class NotAdmin(AdminError):
    """Nova answered HTTP 403: the token lacks the admin role."""


class NotFound(AdminError):
    """An aggregate, flavor or host that does not exist."""


class Conflict(AdminError):
    """The change would overwrite something that is not ours to overwrite."""


class NotEmpty(Conflict):
    """An aggregate to delete still has hosts or metadata to keep."""


class InvalidInput(AdminError):
    """A name or definition the codec (or Nova's rules) refuses."""


class Unreachable(AdminError):
    """The Compute API endpoint could not be reached or found."""


@dataclasses.dataclass(frozen=True)
class Aggregate:
    """A Nova host aggregate as the admin tools need it."""

    id: int
    name: str
    uuid: str | None
    hosts: tuple[str, ...]
    metadata: dict[str, str]
    availability_zone: str | None = None


@dataclasses.dataclass(frozen=True)
class MetadataChange:
    """One metadata key change on one aggregate (``new`` None deletes)."""

    aggregate: str
    key: str
    old: str | None
    new: str | None
    applied: bool

    @property
    def changes_anything(self) -> bool:
        """False when the key already has the wanted value."""
        return self.old != self.new


@dataclasses.dataclass(frozen=True)
class FlavorRecord:
    """One ``pci_flavor:NAME`` key on one aggregate, parsed or not."""

    name: str
    aggregate: str
    hosts: tuple[str, ...]
    key: str
    value: str
    definition: codec.PciFlavorDefinition | None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class NovaFlavor:
    """A Nova flavor with its extra specs."""

    id: str
    name: str
    extra_specs: dict[str, str]

    def alias_requests(self) -> dict[str, int]:
        """The ``pci_passthrough:alias`` request as {alias name: count}."""
        return parse_alias_spec(self.extra_specs.get(FLAVOR_ALIAS_SPEC))


def parse_alias_spec(spec: str | None) -> dict[str, int]:
    """Parse Nova's ``NAME:COUNT[,NAME:COUNT...]`` extra spec leniently.

    A name without a count counts 1, as in ``nova.pci.request``; malformed
    counts are left to Nova's own validator and count 0 here.
    """
    out: dict[str, int] = {}
    if not spec:
        return out
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, count = item.partition(":")
        name = name.strip()
        try:
            n = int(count) if count.strip() else 1
        except ValueError:
            n = 0
        out[name] = out.get(name, 0) + n
    return out


def _aggregate_from(obj: Any) -> Aggregate:
    # Read the response body, not attributes: a novaclient resource fetches
    # itself again (GET) for an attribute the response lacked, and Nova's
    # create response has no hosts or metadata.
    info = obj.to_dict() if hasattr(obj, "to_dict") else vars(obj)
    return Aggregate(
        id=info["id"], name=info["name"], uuid=info.get("uuid"),
        hosts=tuple(info.get("hosts") or ()),
        metadata=dict(info.get("metadata") or {}),
        availability_zone=info.get("availability_zone"))


class PciFlavorAdmin:
    """Read and write PCI flavors on a cloud's host aggregates."""

    def __init__(self, session: Any, *, region_name: str | None = None,
                 endpoint_type: str | None = None, nova: Any = None,
                 connect_retries: int = CONNECT_RETRIES) -> None:
        self.session = session
        if nova is None:
            kwargs: dict[str, Any] = {"session": session,
                                      "connect_retries": connect_retries}
            if region_name:
                kwargs["region_name"] = region_name
            if endpoint_type:
                kwargs["endpoint_type"] = endpoint_type
            nova = nova_client.Client(API_VERSION, **kwargs)
        self.nova = nova

    # -- error translation -------------------------------------------------

    @contextlib.contextmanager
    def _call(self, action: str,
              done: list[MetadataChange] | None = None) -> Iterator[None]:
        """Turn novaclient/keystoneauth failures into ``AdminError``s."""
        try:
            yield
        except nova_exc.Forbidden as exc:
            raise NotAdmin(
                "admin role required: Nova refused to %s (HTTP 403: %s). Use "
                "credentials with the admin role (e.g. --os-cloud with an "
                "admin user)." % (action, _detail(exc)), done) from None
        except (nova_exc.Unauthorized, ks_exc.Unauthorized) as exc:
            raise AdminError(
                "authentication failed while trying to %s (HTTP 401: %s): "
                "check --os-username/--os-password or the cloud in "
                "clouds.yaml" % (action, _detail(exc)), done) from None
        except nova_exc.NotFound as exc:
            raise NotFound("cannot %s: %s (HTTP 404)"
                           % (action, _detail(exc)), done) from None
        except nova_exc.Conflict as exc:
            raise Conflict("cannot %s: %s (HTTP 409)"
                           % (action, _detail(exc)), done) from None
        except nova_exc.BadRequest as exc:
            raise InvalidInput("Nova refused to %s: %s (HTTP 400)"
                               % (action, _detail(exc)), done) from None
        except nova_exc.ClientException as exc:
            raise AdminError("Nova failed to %s: %s (HTTP %s)"
                             % (action, _detail(exc), exc.code), done) from None
        except ks_exc.EndpointNotFound as exc:
            raise Unreachable(
                "cannot %s: no Compute endpoint found in the service catalog "
                "(%s); check --os-region-name and --os-interface"
                % (action, exc), done) from None
        except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout,
                ks_exc.ConnectionError, ks_exc.RetriableConnectionFailure) as exc:
            raise Unreachable(
                "cannot %s: the Compute API is unreachable after %d retries "
                "(%s); check the endpoint URL, network and --os-auth-url"
                % (action, CONNECT_RETRIES, exc), done) from None
        except ks_exc.ClientException as exc:
            raise AdminError("cannot %s: %s" % (action, exc), done) from None

    # -- aggregates ----------------------------------------------------------

    def list_aggregates(self) -> list[Aggregate]:
        """Every host aggregate (Nova returns them in one unpaged response)."""
        with self._call("list host aggregates"):
            return [_aggregate_from(a) for a in self.nova.aggregates.list()]

    def list_compute_hosts(self) -> frozenset[str]:
        """The hosts of Nova's ``nova-compute`` services, in one call: the
        only names Nova accepts when a host is added to an aggregate."""
        with self._call("list compute services"):
            services = self.nova.services.list(binary="nova-compute")
        # The response body, as in _aggregate_from: no lazy re-fetch.
        return frozenset(
            info["host"] for info in (
                s.to_dict() if hasattr(s, "to_dict") else vars(s)
                for s in services) if info.get("host"))

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
                raise Conflict("more than one aggregate is named %r (ids %s): "
                               "give the id or UUID instead"
                               % (wanted, ", ".join(str(a.id) for a in found)))
        raise NotFound("aggregate %r not found: 'openstack aggregate list' "
                       "shows the existing ones, 'openstack aggregate create "
                       "NAME' makes one" % wanted)

    def _current(self, agg: Aggregate) -> Aggregate:
        """``agg`` as Nova has it now (one list); ``NotFound`` names it."""
        for current in self.list_aggregates():
            if current.id == agg.id:
                return current
        raise NotFound("aggregate %r (id %s) no longer exists: 'openstack "
                       "aggregate list' shows the existing ones"
                       % (agg.name, agg.id))

    def _named(self, name: str) -> Aggregate | None:
        found = [a for a in self.list_aggregates() if a.name == name]
        return found[0] if found else None

    def create_aggregate(self, name: str, availability_zone: str | None = None,
                         dry_run: bool = False) -> Aggregate | None:
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
                with self._call("create aggregate %r" % name):
                    created = self.nova.aggregates.create(name,
                                                          availability_zone)
            except Conflict:
                existing = self._named(name)
                if existing is None:
                    raise
            else:
                agg = _aggregate_from(created)
                if availability_zone and not agg.metadata:
                    agg = dataclasses.replace(agg, metadata={
                        "availability_zone": availability_zone})
                return agg
        if (existing is not None and availability_zone
                and existing.availability_zone != availability_zone):
            raise Conflict(
                "aggregate %r already exists in availability zone %r, not "
                "%r: pick another name or change its zone with 'openstack "
                "aggregate set --zone'" % (name, existing.availability_zone,
                                           availability_zone))
        return existing

    def delete_aggregate(self, aggregate: str | int | Aggregate,
                         dry_run: bool = False,
                         may_drop: Mapping[str, str] | None = None) -> bool:
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
            except NotFound:
                return False
        allowed = dict(may_drop or {})
        if agg.hosts:
            raise NotEmpty(
                "aggregate %r still has host(s) %s: remove them first "
                "('openstack aggregate remove host'); nothing was deleted"
                % (agg.name, ", ".join(sorted(agg.hosts))))
        extra = sorted(k for k, v in agg.metadata.items()
                       if k not in allowed or allowed[k] != v)
        if extra:
            raise NotEmpty(
                "aggregate %r still has metadata %s that deleting it would "
                "drop: unset those keys first ('openstack aggregate unset "
                "--property'); nothing was deleted"
                % (agg.name, ", ".join("%s=%s" % (k, agg.metadata[k])
                                       for k in extra)))
        if dry_run:
            return True
        try:
            with self._call("delete aggregate %r" % agg.name):
                self.nova.aggregates.delete(agg.id)
        except NotFound:
            return False
        return True

    def add_host(self, aggregate: str | int | Aggregate, host: str,
                 dry_run: bool = False) -> bool:
        """Add ``host`` to the aggregate; return whether anything changed.

        Given an ``Aggregate`` (already read) this is one call; a name or id
        is looked up first.  A host Nova says is already there (HTTP 409, read
        back to tell it from other 409s) is no change.
        """
        agg = (aggregate if isinstance(aggregate, Aggregate)
               else self.find_aggregate(aggregate))
        if host in agg.hosts:
            return False
        if dry_run:
            return True
        try:
            with self._call("add host %r to aggregate %r" % (host, agg.name)):
                self.nova.aggregates.add_host(agg.id, host)
        except Conflict:
            if host in self._current(agg).hosts:
                return False
            raise
        return True

    def remove_host(self, aggregate: str | int | Aggregate, host: str,
                    dry_run: bool = False) -> bool:
        """Remove ``host`` from the aggregate; return whether anything changed.

        Given an ``Aggregate`` (already read) this is one call; a name or id
        is looked up first.  A host Nova says is not there (HTTP 404, read
        back to tell it from a missing aggregate) is no change.
        """
        agg = (aggregate if isinstance(aggregate, Aggregate)
               else self.find_aggregate(aggregate))
        if host not in agg.hosts:
            return False
        if dry_run:
            return True
        try:
            with self._call("remove host %r from aggregate %r"
                            % (host, agg.name)):
                self.nova.aggregates.remove_host(agg.id, host)
        except NotFound:
            if host not in self._current(agg).hosts:
                return False
            raise
        return True

    def set_metadata(self, aggregate: str | int | Aggregate,
                     changes: Mapping[str, str | None],
                     dry_run: bool = False) -> list[MetadataChange]:
        """Apply ``changes`` (None deletes) in ONE call; report every key.

        Keys whose value is already the wanted one are reported with
        ``applied=False`` and not sent.
        """
        agg = (aggregate if isinstance(aggregate, Aggregate)
               else self.find_aggregate(aggregate))
        records = [MetadataChange(agg.name, key, agg.metadata.get(key), new,
                                  False) for key, new in changes.items()]
        todo = {r.key: r.new for r in records if r.changes_anything}
        if dry_run or not todo:
            return records
        with self._call("set metadata %s on aggregate %r"
                        % (", ".join(sorted(todo)), agg.name)):
            result = self.nova.aggregates.set_metadata(agg.id, todo)
        stored = dict(getattr(result, "metadata", None) or {})
        out = []
        for r in records:
            if r.key not in todo:
                out.append(r)
                continue
            if stored.get(r.key) != r.new:
                raise AdminError(
                    "aggregate %r, key %r: Nova stored %r instead of %r; "
                    "inspect the aggregate with 'openstack aggregate show %s'"
                    % (agg.name, r.key, stored.get(r.key), r.new, agg.name),
                    [dataclasses.replace(x, applied=True)
                     for x in records if x.key in todo])
            out.append(dataclasses.replace(r, applied=True))
        return out

    # -- PCI flavors ---------------------------------------------------------

    def create_flavor(self, name: str, aggregate: str | int | Aggregate,
                      definition: codec.PciFlavorDefinition | str,
                      replace: bool = False,
                      dry_run: bool = False) -> MetadataChange:
        """Define PCI flavor ``name`` on one aggregate.

        Validates name and value with the codec before any call.  Refuses to
        replace a different existing definition unless ``replace``; writing
        the same definition again changes nothing.
        """
        label = (aggregate.name if isinstance(aggregate, Aggregate)
                 else str(aggregate))
        try:
            key = codec.make_key(name)
            if isinstance(definition, str):
                definition = codec.parse_value(definition, key, label)
            value = codec.encode(definition, key, label)
        except codec.PciFlavorError as exc:
            raise InvalidInput(str(exc.with_context(aggregate=label))) from None
        agg = (aggregate if isinstance(aggregate, Aggregate)
               else self.find_aggregate(aggregate))
        for other in agg.metadata:
            if other != key and other.lower() == key.lower():
                raise Conflict(
                    "aggregate %r, key %r: the aggregate already has key %r "
                    "and Nova compares metadata keys case-insensitively, so "
                    "writing %r would change that flavor; pick another name "
                    "or delete %r first" % (agg.name, key, other, key, other))
        old = agg.metadata.get(key)
        if old is not None and old != value and not replace:
            try:
                same = codec.canonicalize(old, key, agg.name) == value
            except codec.PciFlavorError:
                same = False
            if not same:
                raise Conflict(
                    "aggregate %r, key %r: PCI flavor %r is already defined "
                    "there as %s; pass --replace (replace=True) to overwrite "
                    "it" % (agg.name, key, name, old))
        return self.set_metadata(agg, {key: value}, dry_run=dry_run)[0]

    def delete_flavor(self, name: str,
                      aggregate: str | int | Aggregate | None = None,
                      dry_run: bool = False) -> list[MetadataChange]:
        """Remove only ``pci_flavor:NAME`` from one aggregate or from all.

        ``NotFound`` when no (given) aggregate defines it.  A failure after
        some aggregates were changed carries the applied changes.
        """
        key = codec.KEY_PREFIX + name
        if aggregate is not None:
            targets = [aggregate if isinstance(aggregate, Aggregate)
                       else self.find_aggregate(aggregate)]
        else:
            targets = self.list_aggregates()
        targets = [a for a in targets if key in a.metadata]
        if not targets:
            where = ("aggregate %r" % (aggregate.name if isinstance(
                aggregate, Aggregate) else aggregate)) if aggregate is not None \
                else "any aggregate"
            raise NotFound("key %r: PCI flavor %r is not defined on %s; "
                           "'aggregate-pci flavor list' shows the defined ones"
                           % (key, name, where))
        done: list[MetadataChange] = []
        for agg in targets:
            try:
                done.extend(self.set_metadata(agg, {key: None}, dry_run))
            except AdminError as exc:
                exc.changes = done + exc.changes
                raise
        return done

    def list_flavors(self) -> list[FlavorRecord]:
        """Every ``pci_flavor:`` key on every aggregate, parsed or with the
        codec's error."""
        out = []
        for agg in self.list_aggregates():
            out.extend(flavor_records(agg))
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
            with self._call("list Nova flavors"):
                page = self.nova.flavors.list(detailed=True, is_public=None,
                                              marker=marker)
            new = [f for f in page if str(f.id) not in seen]
            if not new:
                return out
            for flavor in new:
                seen.add(str(flavor.id))
                specs = getattr(flavor, "extra_specs", None)
                if specs is None:
                    with self._call("read extra specs of flavor %r"
                                    % flavor.name):
                        specs = flavor.get_keys()
                out.append(NovaFlavor(str(flavor.id), flavor.name,
                                      dict(specs)))
            marker = new[-1].id

    def find_nova_flavor(self, name_or_id: str) -> NovaFlavor:
        """One Nova flavor by name or id; ``NotFound`` names it."""
        for flavor in self.list_nova_flavors():
            if name_or_id in (flavor.id, flavor.name):
                return flavor
        raise NotFound("Nova flavor %r not found: 'openstack flavor list "
                       "--all' shows the existing ones" % name_or_id)


def flavor_records(agg: Aggregate) -> list[FlavorRecord]:
    """The PCI flavor keys of one aggregate, each parsed by the codec."""
    good, errors = codec.definitions_from_metadata(agg.metadata, agg.name)
    parsed: dict[str, tuple[codec.PciFlavorDefinition | None, str | None]] = {
        codec.KEY_PREFIX + name: (definition, None)
        for name, definition in good.items()}
    parsed.update((e.key, (None, str(e))) for e in errors)
    return [FlavorRecord(key[len(codec.KEY_PREFIX):], agg.name, agg.hosts, key,
                         agg.metadata[key], definition, error)
            for key, (definition, error) in sorted(parsed.items())]


def _detail(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip()
