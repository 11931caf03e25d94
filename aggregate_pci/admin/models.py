"""What the admin tools read and write: aggregates, PCI flavor records,
Nova flavors and metadata changes (plain data, no I/O), and the PCI flavor
definitions records give per flavor and per host."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from aggregate_pci import alias, codec


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
class PciFlavorRecord:
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
        return alias.request_of(self.extra_specs)


@dataclasses.dataclass(frozen=True)
class PciFlavorUsers:
    """Who uses a PCI flavor: the Nova flavors requesting it and the
    instances of those Nova flavors ("NAME (ID)")."""

    nova_flavors: tuple[str, ...]
    instances: tuple[str, ...]

    def describe(self) -> str:
        """One clause for messages, e.g. "Nova flavor(s) gpu.a100 request it
        and 2 instance(s) hold it (vm1 (ID), vm2 (ID))"."""
        if not self.nova_flavors:
            return "no Nova flavor requests it"
        text = "Nova flavor(s) %s request it" % ", ".join(self.nova_flavors)
        if self.instances:
            text += " and %d instance(s) hold it (%s)" % (
                len(self.instances),
                ", ".join(self.instances),
            )
        else:
            text += " (no instance of them exists)"
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class Device:
    """One PCI device an instance holds."""

    address: str
    vendor_id: str
    product_id: str
    dev_type: str
    #: The parent PF's address for a VF (Nova's pools use it as ``address``).
    parent_addr: str | None = None
    #: The ``[pci] device_spec`` tags of the device on its compute; None if
    #: unknown (no compute nova.conf was given for the host).
    tags: Mapping[str, str] | None = None
    #: The alias of the request Nova recorded the device against.
    alias: str | None = None
    numa_node: int | None = None

    def pool(self, tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The device as a one-device pool, as ``matching`` reads pools."""
        out: dict[str, Any] = dict(tags if tags is not None else self.tags or {})
        out.update(
            vendor_id=self.vendor_id,
            product_id=self.product_id,
            dev_type=self.dev_type,
            address=self.parent_addr or self.address,
            count=1,
        )
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Allocation:
    """The PCI devices one instance holds through its flavor's aliases."""

    instance: str
    host: str
    #: The instance's alias requests, in request order: (alias, count).
    requests: tuple[tuple[str, int], ...]
    devices: tuple[Device, ...]
    #: The server's name, project ID and Nova flavor name ("" if unknown:
    #: an inventory written before they were exported).
    name: str = ""
    project: str = ""
    nova_flavor: str = ""


def aggregate_from(obj: Any) -> Aggregate:
    """An ``Aggregate`` from a novaclient resource or a response dict."""
    # Read the response body, not attributes: a novaclient resource fetches
    # itself again (GET) for an attribute the response lacked, and Nova's
    # create response has no hosts or metadata.
    info = obj.to_dict() if hasattr(obj, "to_dict") else vars(obj)
    return Aggregate(
        id=info["id"],
        name=info["name"],
        uuid=info.get("uuid"),
        hosts=tuple(info.get("hosts") or ()),
        metadata=dict(info.get("metadata") or {}),
        availability_zone=info.get("availability_zone"),
    )


def pci_flavor_records(agg: Aggregate) -> list[PciFlavorRecord]:
    """The PCI flavor keys of one aggregate, each parsed by the codec."""
    good, errors = codec.definitions_from_metadata(agg.metadata, agg.name)
    parsed: dict[str, tuple[codec.PciFlavorDefinition | None, str | None]] = {
        codec.KEY_PREFIX + name: (definition, None) for name, definition in good.items()
    }
    parsed.update((e.key or "", (None, str(e))) for e in errors)
    return [
        PciFlavorRecord(
            key[len(codec.KEY_PREFIX) :],
            agg.name,
            agg.hosts,
            key,
            agg.metadata[key],
            definition,
            error,
        )
        for key, (definition, error) in sorted(parsed.items())
    ]


def definitions_by_name(
    records: Iterable[Any],
) -> dict[str, dict[str, codec.PciFlavorDefinition]]:
    """{flavor name: {aggregate: definition}} over the valid records."""
    out: dict[str, dict[str, codec.PciFlavorDefinition]] = {}
    for r in records:
        if r.definition is not None:
            out.setdefault(r.name, {})[r.aggregate] = r.definition
    return out


def effective_definitions(
    per_aggregate: Iterable[Mapping[str, codec.PciFlavorDefinition]],
) -> dict[str, codec.PciFlavorDefinition]:
    """A host's definition of each flavor: the OR over its aggregates."""
    out: dict[str, codec.PciFlavorDefinition] = {}
    for definitions in per_aggregate:
        for name, definition in definitions.items():
            known = out.get(name)
            out[name] = definition if known is None else known.union(definition)
    return out


def host_definitions(
    records: Iterable[Any],
) -> dict[str, dict[str, codec.PciFlavorDefinition]]:
    """{host: {flavor: definition}}: the OR of the host's aggregates' ones
    (hosts in the same aggregates share one dict: read it, do not change it)."""
    valid = [r for r in records if r.definition is not None]
    per_host: dict[str, list[int]] = {}
    for i, r in enumerate(valid):
        for host in r.hosts:
            per_host.setdefault(host, []).append(i)
    shared: dict[tuple[int, ...], dict[str, codec.PciFlavorDefinition]] = {}
    out = {}
    for host, idxs in per_host.items():
        key = tuple(idxs)
        defs = shared.get(key)
        if defs is None:
            defs = shared[key] = effective_definitions(
                {valid[i].name: valid[i].definition} for i in idxs
            )
        out[host] = defs
    return out


#: The ``[pci] device_spec`` tag naming a Neutron physical network.
PHYSNET_TAG = "physical_network"


def port_only_names(
    by_name: Mapping[str, Mapping[str, codec.PciFlavorDefinition]],
    requested: Iterable[str],
) -> set[str]:
    """PCI flavors served only through Neutron ports, so they need no
    ``[pci] alias``: every match object of every definition fixes
    ``physical_network`` and no Nova flavor requests the name."""
    wanted = set(requested)
    return {
        name
        for name, per_agg in by_name.items()
        if name not in wanted
        and all(
            any(key == PHYSNET_TAG for key, _ in m.tags)
            for d in per_agg.values()
            for m in d.matches
        )
    }
