"""What a migration source yields, and the pure checks on each entry.

No I/O: the table and nova.conf readers hand raw entries to these
functions, which turn each into a ``SourceFlavor`` or a ``BadEntry`` (with
the entry's id and the reason), so both sources are judged the same way.
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any, Iterable

from aggregate_pci import codec
from aggregate_pci.admin import analysis


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


@dataclasses.dataclass(frozen=True)
class BadEntry:
    """An entry that cannot be migrated: its id in the source and why."""

    ident: str
    reason: str

    def __str__(self) -> str:
        return "%s: %s" % (self.ident, self.reason)


@dataclasses.dataclass
class SourceData:
    """Everything read from one source."""

    #: Human-readable description of the source (URL without password, files).
    description: str
    flavors: dict[str, SourceFlavor] = dataclasses.field(default_factory=dict)
    bad: list[BadEntry] = dataclasses.field(default_factory=list)
    #: Entries deliberately not read (soft-deleted rows), by id.
    skipped: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def definition_from_text(text: Any) -> codec.PciFlavorDefinition:
    """Parse a spec stored as JSON text (any length or spacing) and check that
    its canonical form fits Nova's value limit; raise ``PciFlavorError``."""
    if not isinstance(text, str):
        raise codec.PciFlavorError("spec must be JSON text, got %s"
                                   % ("NULL" if text is None
                                      else type(text).__name__))
    definition = codec.parse_document(text, what="spec")
    codec.encode(definition)
    return definition


def flavor_from_row(row: dict[str, Any]) -> SourceFlavor | BadEntry:
    """Judge one live ``pci_flavors`` row (id, name, description, spec)."""
    row_id = row.get("id")
    ident = ("pci_flavors row id=%s" % row_id if row_id is not None
             else "pci_flavors row name=%r (no id)" % (row.get("name"),))
    if row_id is None:
        return BadEntry(ident, "the row has no id")
    try:
        name = codec.validate_name(row.get("name"))
        definition = definition_from_text(row.get("spec"))
    except codec.PciFlavorError as exc:
        return BadEntry(ident, str(exc))
    problem = alias_problem(name, definition)
    if problem:
        return BadEntry(ident, problem)
    return SourceFlavor(name, definition, ident, row.get("description"))


def alias_problem(name: str, definition: codec.PciFlavorDefinition) -> str | None:
    """Why this flavor could not become Nova ``[pci] alias`` entries (which
    its ``pci_passthrough:alias`` requests need), or None.

    The rule is ``analysis.alias_entries``'s (what ``alias-config`` uses):
    one device_type and numa_policy per name, device_type on every entry
    when there are several.
    """
    record = types.SimpleNamespace(name=name, aggregate="(this spec)",
                                   definition=definition, hosts=())
    try:
        analysis.alias_entries([record])
    except analysis.AliasConflict as exc:
        return "Nova could not use it as a [pci] alias: %s" % exc
    return None


def drop_name_collisions(
    candidates: Iterable[SourceFlavor],
) -> tuple[dict[str, SourceFlavor], list[BadEntry]]:
    """Keep flavors whose names are unique; Nova compares metadata keys
    case-insensitively, so ``gpu`` and ``GPU`` collide too."""
    by_folded: dict[str, list[SourceFlavor]] = {}
    for flavor in candidates:
        by_folded.setdefault(flavor.name.lower(), []).append(flavor)
    good: dict[str, SourceFlavor] = {}
    bad: list[BadEntry] = []
    for group in by_folded.values():
        if len(group) == 1:
            good[group[0].name] = group[0]
            continue
        for flavor in group:
            others = ", ".join("%s (%r)" % (o.origin, o.name)
                               for o in group if o is not flavor)
            bad.append(BadEntry(
                flavor.origin,
                "name %r collides with %s: Nova compares metadata keys "
                "case-insensitively, so only one of them can be stored"
                % (flavor.name, others)))
    return good, bad


#: Nova's ``[pci] alias`` fields that a PCI flavor cannot express.
_ALIAS_UNSUPPORTED = {
    "resource_class": "PCI in Placement resource classes are not part of a "
                      "PCI flavor (it matches vendor_id/product_id)",
    "traits": "Placement traits are not part of a PCI flavor",
}

_ALIAS_FIELDS = {"name", "capability_type", "vendor_id", "product_id",
                 "device_type", "numa_policy", "resource_class", "traits",
                 "live_migratable"}

_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


@dataclasses.dataclass(frozen=True)
class AliasEntry:
    """One ``[pci] alias`` value as oslo.config returned it, with its id."""

    ident: str
    text: str


def _alias_match(spec: dict[str, Any]) -> dict[str, Any]:
    """The match object of one alias spec (name and policy removed)."""
    unknown = sorted(set(spec) - _ALIAS_FIELDS)
    if unknown:
        raise codec.PciFlavorError(
            "unknown alias field(s) %s (Nova would refuse them too)"
            % ", ".join(map(repr, unknown)))
    for field, why in _ALIAS_UNSUPPORTED.items():
        if field in spec:
            raise codec.PciFlavorError("field %r cannot be migrated: %s"
                                       % (field, why))
    if spec.get("capability_type", "pci") != "pci":
        raise codec.PciFlavorError("field 'capability_type' must be 'pci'")
    obj = {k: v for k, v in spec.items()
           if k in ("vendor_id", "product_id", "device_type")}
    if "live_migratable" in spec:
        raw = spec["live_migratable"]
        folded = raw.strip().lower() if isinstance(raw, str) else None
        if folded not in _TRUE | _FALSE:
            raise codec.PciFlavorError(
                "field 'live_migratable' must be a boolean string such as "
                "'true' or 'false', got %r" % (raw,))
        obj["live_migratable"] = "true" if folded in _TRUE else "false"
    return obj


def flavors_from_aliases(
    entries: Iterable[AliasEntry],
) -> tuple[dict[str, SourceFlavor], list[BadEntry]]:
    """Merge ``[pci] alias`` entries as Nova does: entries of one name are
    ORed, and must agree on ``numa_policy`` (default ``legacy``) and
    ``device_type``; an entry Nova would refuse is a ``BadEntry``."""
    groups: dict[str, list[tuple[AliasEntry, dict[str, Any], str, bool]]] = {}
    bad: list[BadEntry] = []
    for entry in entries:
        try:
            spec = codec.loads(entry.text, what="the alias entry")
        except codec.PciFlavorError as exc:
            bad.append(BadEntry(entry.ident, exc.reason))
            continue
        if not isinstance(spec, dict):
            bad.append(BadEntry(entry.ident, "an alias must be one JSON "
                                             "object, got %s"
                                             % json.dumps(spec)[:40]))
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            bad.append(BadEntry(entry.ident, "the alias has no 'name'"))
            continue
        name = name.strip()
        explicit = "numa_policy" in spec and bool(spec["numa_policy"])
        policy = spec.get("numa_policy") or "legacy"
        try:
            codec.validate_name(name)
            match = _alias_match({k: v for k, v in spec.items()
                                  if k not in ("name", "numa_policy")})
        except codec.PciFlavorError as exc:
            bad.append(BadEntry("%s (alias %r)" % (entry.ident, name), str(exc)))
            continue
        groups.setdefault(name, []).append((entry, match, policy, explicit))

    candidates = []
    for name, members in groups.items():
        idents = ", ".join(m[0].ident for m in members)
        origin = "%s (alias %r)" % (idents, name)
        policies = {m[2] for m in members}
        dev_types = {m[1].get("device_type") for m in members}
        if len(policies) > 1:
            bad.append(BadEntry(origin, "NUMA policy mismatch between the "
                                        "entries of one name: %s (Nova refuses "
                                        "this)" % ", ".join(sorted(policies))))
            continue
        if len(dev_types) > 1:
            bad.append(BadEntry(origin, "device_type mismatch between the "
                                        "entries of one name (Nova refuses "
                                        "this)"))
            continue
        if len(members) > 1 and None in dev_types:
            # nova.pci.request.get_alias_from_config compares each further
            # entry's dev_type with the first one's: a missing one fails.
            bad.append(BadEntry(origin, "%d entries share this name but do "
                                        "not set device_type: Nova accepts "
                                        "several entries of one name only if "
                                        "each sets device_type (it refuses "
                                        "this alias): add \"device_type\" to "
                                        "each entry" % len(members)))
            continue
        policy = policies.pop()
        carry = policy != "legacy" or any(m[3] for m in members)
        objs = [dict(m[1], numa_policy=policy) if carry else m[1]
                for m in members]
        try:
            definition = codec.definition_from_json(objs)
            codec.encode(definition)
        except codec.PciFlavorError as exc:
            bad.append(BadEntry(origin, str(exc)))
            continue
        candidates.append(SourceFlavor(name, definition, origin))
    good, collisions = drop_name_collisions(candidates)
    return good, bad + collisions
