"""The PCI flavor's value format: match objects and definitions.

A PCI flavor's metadata value (under its key, ``keys``) is compact JSON: one
match object, or a list of match objects that are ORed.  This module parses,
validates and serialises those values, refusing anything Nova would refuse
(the value's length) before any API call is made, and reads every PCI
flavor of one aggregate's metadata.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Iterable, Mapping

from aggregate_pci.codec.keys import (
    MAX_VALUE_LENGTH,
    PciFlavorError,
    is_flavor_key,
    name_from_key,
)

DEVICE_TYPES = ("type-PCI", "type-PF", "type-VF")
NUMA_POLICIES = ("required", "legacy", "preferred", "socket")

# ``\Z`` (not ``$``) everywhere: ``$`` would accept a trailing newline.
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}\Z")
_TAG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
_ADDRESS_GLOB_RE = re.compile(r"[0-9a-fA-F:.*?\[\]!-]{1,64}\Z")

#: Pool attributes that are not string tags: a match object may not name them.
_RESERVED_KEYS = {
    "count": "it is the number of free devices, not a device attribute",
    "numa_node": "NUMA affinity is set with 'numa_policy'",
    "dev_type": "use 'device_type' (one of %s)" % ", ".join(DEVICE_TYPES),
    "devices": "it is Nova's internal device list",
    "rp_uuid": "it is a Placement resource provider id, not a device attribute",
    "resource_class": "Placement resource classes are not part of a PCI flavor",
    "traits": "Placement traits are not part of a PCI flavor",
    "name": "the name is the key suffix 'pci_flavor:NAME', not a field",
}

_FIXED_FIELDS = ("vendor_id", "product_id", "device_type", "numa_policy")


@dataclasses.dataclass(frozen=True)
class DeviceMatch:
    """One match object: every given attribute must match (AND)."""

    vendor_id: str
    product_id: str
    device_type: str | None = None
    numa_policy: str | None = None
    #: Narrowing keys (``physical_network``, ``address`` glob, custom tags),
    #: sorted by key; values compare case-insensitively.
    tags: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, str]:
        """The JSON object for this match, fixed fields and tags together."""
        out = {"vendor_id": self.vendor_id, "product_id": self.product_id}
        if self.device_type is not None:
            out["device_type"] = self.device_type
        if self.numa_policy is not None:
            out["numa_policy"] = self.numa_policy
        out.update(self.tags)
        return out


@dataclasses.dataclass(frozen=True)
class PciFlavorDefinition:
    """A PCI flavor's definition: the OR of one or more ``DeviceMatch``."""

    matches: tuple[DeviceMatch, ...]

    def __post_init__(self) -> None:
        if not self.matches:
            raise PciFlavorError("a definition needs at least one match object")
        object.__setattr__(self, "matches", _dedupe(self.matches))

    def serialize(self) -> str:
        """Canonical compact JSON; a single match is stored as an object."""
        objs = [m.to_dict() for m in self.matches]
        doc: Any = objs[0] if len(objs) == 1 else objs
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def union(self, other: "PciFlavorDefinition") -> "PciFlavorDefinition":
        """OR of two definitions (duplicate match objects dropped)."""
        return PciFlavorDefinition(self.matches + other.matches)


def _dedupe(matches: Iterable[DeviceMatch]) -> tuple[DeviceMatch, ...]:
    """Drop duplicate match objects and sort them, so that definitions that
    differ only in the order of their ORed objects compare (and serialise)
    equal."""
    return tuple(sorted(set(matches), key=_match_sort_key))


def _match_sort_key(match: DeviceMatch) -> str:
    return json.dumps(match.to_dict(), sort_keys=True)


def _reject_constant(token: str) -> Any:
    raise ValueError("%s is not allowed" % token)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError("duplicate field %r" % k)
        out[k] = v
    return out


def _check_str(field: str, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PciFlavorError(
            "%sfield %r must be a string, got %s" % (where, field, json.dumps(value))
        )
    return value


def parse_match(obj: Any, where: str = "") -> DeviceMatch:
    """Validate one match object (a dict from JSON) and return it normalised.

    Hex ids are lower-cased; every other value keeps its spelling.
    """
    if not isinstance(obj, dict):
        raise PciFlavorError(
            "%sexpected a JSON object, got %s" % (where, json.dumps(obj)[:40])
        )
    for field in ("vendor_id", "product_id"):
        if field not in obj:
            raise PciFlavorError(
                "%smissing required field %r (4 hex digits, as Nova's "
                "[pci] alias requires)" % (where, field)
            )
    ids = {}
    for field in ("vendor_id", "product_id"):
        value = _check_str(field, obj[field], where)
        if not _HEX4_RE.match(value):
            raise PciFlavorError(
                "%sfield %r must be exactly 4 hex digits "
                "(e.g. '10de'), got %r" % (where, field, value)
            )
        ids[field] = value.lower()
    device_type = _choice(obj, "device_type", DEVICE_TYPES, where)
    numa_policy = _choice(obj, "numa_policy", NUMA_POLICIES, where)
    tags = [
        (field, _tag(field, obj[field], where))
        for field in sorted(obj)
        if field not in _FIXED_FIELDS
    ]
    return DeviceMatch(
        ids["vendor_id"], ids["product_id"], device_type, numa_policy, tuple(tags)
    )


def _choice(
    obj: dict[str, Any], field: str, allowed: tuple[str, ...], where: str
) -> str | None:
    """The value of an optional field that takes one of Nova's spellings."""
    if field not in obj:
        return None
    value = _check_str(field, obj[field], where)
    if value not in allowed:
        raise PciFlavorError(
            "%sfield %r must be one of %s, got %r"
            % (where, field, ", ".join(allowed), value)
        )
    return value


def _tag(field: str, raw: Any, where: str) -> str:
    """The value of one narrowing key (a device_spec tag or ``address``)."""
    if field in _RESERVED_KEYS:
        raise PciFlavorError(
            "%sfield %r is not allowed: %s" % (where, field, _RESERVED_KEYS[field])
        )
    if not _TAG_RE.match(field):
        raise PciFlavorError(
            "%sfield name %r is not a valid tag name: use letters, digits, "
            "'_' and '-', starting with a letter or '_'" % (where, field)
        )
    value = _check_str(field, raw, where)
    if not value:
        raise PciFlavorError("%sfield %r must not be empty" % (where, field))
    if field == "address" and not _ADDRESS_GLOB_RE.match(value):
        raise PciFlavorError(
            "%sfield 'address' must be a PCI address or glob such as "
            "'0000:81:*' (hex digits, ':', '.', '*', '?', '[...]'), got %r"
            % (where, value)
        )
    return value


def definition_from_json(doc: Any) -> PciFlavorDefinition:
    """Validate a decoded JSON document (object or non-empty list of objects)."""
    if isinstance(doc, dict):
        return PciFlavorDefinition((parse_match(doc),))
    if isinstance(doc, list):
        if not doc:
            raise PciFlavorError(
                "the list of match objects is empty: give at least one object"
            )
        matches = [parse_match(o, "item %d: " % i) for i, o in enumerate(doc)]
        return PciFlavorDefinition(tuple(matches))
    raise PciFlavorError(
        "the value must be a JSON object or a list of "
        "objects, got %s" % json.dumps(doc)[:40]
    )


def loads(text: str, what: str = "the value") -> Any:
    """Strict JSON: duplicate fields and NaN/Infinity are refused.

    Raises ``PciFlavorError`` ("WHAT is not valid JSON ...") like every
    codec check; ``what`` names the input for the operator.
    """
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise PciFlavorError(
            "%s is not valid JSON (%s); expected e.g. "
            '{"vendor_id":"10de","product_id":"20b5"}' % (what, exc)
        ) from None


def parse_document(text: str, what: str = "the value") -> PciFlavorDefinition:
    """Parse JSON text of any length into a definition (``parse_value``
    without Nova's stored-value limit, for inputs such as a database column
    or a command-line option; ``encode`` enforces the limit on writes)."""
    return definition_from_json(loads(text, what))


def parse_value(
    value: Any, key: str | None = None, aggregate: str | None = None
) -> PciFlavorDefinition:
    """Parse a metadata value into a definition; raise ``PciFlavorError``.

    The value is valid or invalid as a whole: one bad object in a list makes
    the whole value invalid.
    """
    try:
        if not isinstance(value, str):
            raise PciFlavorError(
                "the value must be a string of JSON, got %s" % type(value).__name__
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise PciFlavorError(
                "the value is %d characters; Nova stores at most %d: split the "
                "flavor's match objects or shorten tag values"
                % (len(value), MAX_VALUE_LENGTH)
            )
        return parse_document(value)
    except PciFlavorError as exc:
        raise exc.with_context(key=key, aggregate=aggregate) from None


def encode(
    definition: PciFlavorDefinition,
    key: str | None = None,
    aggregate: str | None = None,
) -> str:
    """Serialise ``definition`` canonically, refusing values Nova would refuse."""
    value = definition.serialize()
    if len(value) > MAX_VALUE_LENGTH:
        raise PciFlavorError(
            "the canonical value is %d characters; Nova stores at most %d: "
            "split the flavor's match objects over fewer fields or shorten tag "
            "values" % (len(value), MAX_VALUE_LENGTH),
            key=key,
            aggregate=aggregate,
        )
    return value


def canonicalize(
    value: str, key: str | None = None, aggregate: str | None = None
) -> str:
    """Parse then re-serialise: the one stored spelling of ``value``."""
    return encode(parse_value(value, key, aggregate), key, aggregate)


def definitions_from_metadata(
    metadata: Mapping[str, Any],
    aggregate: str | None = None,
) -> tuple[dict[str, PciFlavorDefinition], list[PciFlavorError]]:
    """All PCI flavors in one aggregate's metadata, and the errors met.

    Keys outside the ``pci_flavor:`` namespace are ignored.  A bad key or
    value is reported in the error list and left out of the result.
    """
    good: dict[str, PciFlavorDefinition] = {}
    errors: list[PciFlavorError] = []
    for key, value in metadata.items():
        if not is_flavor_key(key):
            continue
        try:
            name = name_from_key(key, aggregate)
            good[name] = parse_value(value, key, aggregate)
        except PciFlavorError as exc:
            errors.append(exc)
    return good, errors
