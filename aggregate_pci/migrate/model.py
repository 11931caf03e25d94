"""What a migration source yields, and the pure checks on each entry.

No I/O: the table and nova.conf readers hand raw entries to these
functions, which turn each into a ``SourceFlavor`` or an ``alias.Refused``
(with the entry's id and the reason), so both sources are judged the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from aggregate_pci import alias, codec


@dataclasses.dataclass(frozen=True)
class SourceFlavor:
    """One PCI flavor read from a source, already in canonical form."""

    name: str
    definition: codec.PciFlavorDefinition
    #: Where it came from, e.g. ``pci_flavors row id=3``.
    origin: str
    description: str | None = None

    @property
    def value(self) -> str:
        """The canonical metadata value (fits Nova's 255 characters)."""
        return codec.encode(self.definition)


@dataclasses.dataclass
class SourceData:
    """Everything read from one source."""

    #: Human-readable description of the source (URL without password, files).
    description: str
    flavors: dict[str, SourceFlavor] = dataclasses.field(default_factory=dict)
    bad: list[alias.Refused] = dataclasses.field(default_factory=list)
    #: Entries deliberately not read (soft-deleted rows), by id.
    skipped: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def definition_from_text(text: Any) -> codec.PciFlavorDefinition:
    """Parse a spec stored as JSON text (any length or spacing) and check that
    its canonical form fits Nova's value limit; raise ``PciFlavorError``."""
    if not isinstance(text, str):
        raise codec.PciFlavorError(
            "spec must be JSON text, got %s"
            % ("NULL" if text is None else type(text).__name__)
        )
    definition = codec.parse_document(text, what="spec")
    codec.encode(definition)
    return definition


def flavor_from_row(row: dict[str, Any]) -> SourceFlavor | alias.Refused:
    """Judge one live ``pci_flavors`` row (id, name, description, spec)."""
    row_id = row.get("id")
    ident = (
        "pci_flavors row id=%s" % row_id
        if row_id is not None
        else "pci_flavors row name=%r (no id)" % (row.get("name"),)
    )
    if row_id is None:
        return alias.Refused(ident, "the row has no id")
    try:
        name = codec.validate_name(row.get("name"))
        definition = definition_from_text(row.get("spec"))
    except codec.PciFlavorError as exc:
        return alias.Refused(ident, str(exc))
    problem = alias.problem(name, definition)
    if problem:
        return alias.Refused(
            ident, "Nova could not use it as a [pci] alias: %s" % problem
        )
    return SourceFlavor(name, definition, ident, row.get("description"))


def drop_name_collisions(
    candidates: Iterable[SourceFlavor],
) -> tuple[dict[str, SourceFlavor], list[alias.Refused]]:
    """Keep flavors whose names are unique; Nova compares metadata keys
    case-insensitively, so ``gpu`` and ``GPU`` collide too."""
    by_folded: dict[str, list[SourceFlavor]] = {}
    for flavor in candidates:
        by_folded.setdefault(flavor.name.lower(), []).append(flavor)
    good: dict[str, SourceFlavor] = {}
    bad: list[alias.Refused] = []
    for group in by_folded.values():
        if len(group) == 1:
            good[group[0].name] = group[0]
            continue
        for flavor in group:
            others = ", ".join(
                "%s (%r)" % (o.origin, o.name) for o in group if o is not flavor
            )
            bad.append(
                alias.Refused(
                    flavor.origin,
                    "name %r collides with %s: Nova compares metadata keys "
                    "case-insensitively, so only one of them can be stored"
                    % (flavor.name, others),
                )
            )
    return good, bad


#: Nova's ``[pci] alias`` fields that a PCI flavor cannot express.
_ALIAS_UNSUPPORTED = {
    "resource_class": "PCI in Placement resource classes are not part of a "
    "PCI flavor (it matches vendor_id/product_id)",
    "traits": "Placement traits are not part of a PCI flavor",
}


def _definition(merged: alias.Alias) -> codec.PciFlavorDefinition:
    """The PCI flavor of one merged alias; ``PciFlavorError`` if it has a
    field a PCI flavor cannot express or does not fit the codec."""
    codec.validate_name(merged.name)
    objs = []
    for spec in merged.specs:
        for field, why in _ALIAS_UNSUPPORTED.items():
            if field in spec:
                raise codec.PciFlavorError(
                    "field %r cannot be migrated: %s" % (field, why)
                )
        obj = {
            k: v
            for k, v in spec.items()
            if k in ("vendor_id", "product_id", "device_type", "live_migratable")
        }
        if merged.numa_policy != "legacy" or merged.policy_explicit:
            obj["numa_policy"] = merged.numa_policy
        objs.append(obj)
    definition = codec.definition_from_json(objs)
    codec.encode(definition)
    return definition


def flavors_from_aliases(
    entries: Iterable[alias.Entry],
) -> tuple[dict[str, SourceFlavor], list[alias.Refused]]:
    """PCI flavors from ``[pci] alias`` values, merged by name as Nova does
    (``alias.merge``); an entry Nova would refuse, or one a PCI flavor cannot
    express, is refused."""
    merged, refused = alias.merge(entries)
    bad = list(refused)
    candidates = []
    for name, group in merged.items():
        origin = "%s (alias %r)" % (", ".join(group.idents), name)
        try:
            candidates.append(SourceFlavor(name, _definition(group), origin))
        except codec.PciFlavorError as exc:
            bad.append(alias.Refused(origin, str(exc)))
    good, collisions = drop_name_collisions(candidates)
    return good, bad + collisions
