"""Nova's ``pci_passthrough:alias`` extra spec and ``[pci] alias`` entries:
parsing and merging as ``nova/pci/request.py`` does."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping

from aggregate_pci import codec, matching
from aggregate_pci.errors import AggregatePciError

#: The Nova flavor extra spec that requests aliases.
SPEC_KEY = "pci_passthrough:alias"

#: Fields of Nova's alias schema (nova/pci/request.py ``_ALIAS_SCHEMA``).
FIELDS = frozenset(
    {
        "name",
        "capability_type",
        "vendor_id",
        "product_id",
        "device_type",
        "numa_policy",
        "resource_class",
        "traits",
        "live_migratable",
    }
)

#: (name, vendor_id, product_id, device_type, numa_policy) of one entry.
Signature = tuple[str, str, str, str | None, str | None]

_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


# -- pci_passthrough:alias ----------------------------------------------------


class RequestError(AggregatePciError):
    """A ``NAME:COUNT[,...]`` request Nova's extra-spec validator refuses;
    ``spec`` is the whole value, ``item`` the bad item."""

    def __init__(self, spec: str, item: str) -> None:
        super().__init__(
            "%r: item %r must be NAME:COUNT with COUNT a positive integer, "
            "e.g. a100:1 or a100:2,t4:1" % (spec, item)
        )
        self.spec = spec
        self.item = item


def parse_request(spec: str | None, strict: bool = False) -> dict[str, int]:
    """Parse a ``NAME:COUNT[,NAME:COUNT...]`` extra spec into {name: count}.

    Lenient by default, for reporting: a name without a count counts 1, a
    malformed count counts 0 (Nova's own extra-spec validator refuses it at
    the API).  ``strict``, as that validator, for a request an operator
    types: ``RequestError`` names the first bad item.
    """
    out: dict[str, int] = {}
    for item in (spec or "").split(","):
        name, sep, count = item.strip().partition(":")
        name, count = name.strip(), count.strip()
        if strict:
            # ASCII digits only: str.isdigit accepts "²" and "١" too.
            digits = count.isascii() and count.isdigit()
            if not name or not sep or not digits or int(count) < 1:
                raise RequestError(spec or "", item.strip())
            n = int(count)
        elif not name:
            continue
        else:
            try:
                n = int(count) if count else 1
            except ValueError:
                n = 0
        out[name] = out.get(name, 0) + n
    return out


def request_of(extra_specs: Mapping[str, str] | None) -> dict[str, int]:
    """The alias request of a Nova flavor's extra specs as {name: count}."""
    return parse_request((extra_specs or {}).get(SPEC_KEY))


# -- [pci] alias entries --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One ``[pci] alias`` value and where it came from (e.g. its position)."""

    ident: str
    text: str


@dataclasses.dataclass(frozen=True)
class Refused:
    """An entry (or a name's entries) refused, and why: one Nova would
    refuse as ``[pci] alias``, or a migration source entry that cannot be
    migrated."""

    ident: str
    reason: str

    def __str__(self) -> str:
        return "%s: %s" % (self.ident, self.reason)


@dataclasses.dataclass(frozen=True)
class Alias:
    """The merged entries of one alias name, as Nova keeps them."""

    name: str
    #: The idents of the entries behind it.
    idents: tuple[str, ...]
    #: ``numa_policy`` (Nova's default ``legacy`` when unset).
    numa_policy: str
    #: True when some entry set ``numa_policy`` itself.
    policy_explicit: bool
    #: One dict per entry: the fields other than name and numa_policy, with
    #: ``live_migratable`` normalised to ``"true"``/``"false"``.
    specs: tuple[dict[str, Any], ...]

    def request_specs(self) -> list[dict[str, str]]:
        """The specs as Nova puts them in an ``InstancePCIRequest`` built
        from this alias (``device_type`` becomes ``dev_type``, as Nova's
        ``_get_alias_from_config`` does)."""
        out = []
        for spec in self.specs:
            entry = {k: str(v) for k, v in spec.items() if k != "device_type"}
            if spec.get("device_type"):
                entry["dev_type"] = str(spec["device_type"])
            out.append(entry)
        return out

    def signatures(self) -> set[Signature]:
        """(name, vendor, product, device_type, numa_policy) per entry, to
        compare entries regardless of spelling and order."""
        policy = self.numa_policy if self.policy_explicit else None
        return {
            (
                self.name,
                str(s.get("vendor_id", "")).lower(),
                str(s.get("product_id", "")).lower(),
                s.get("device_type"),
                policy,
            )
            for s in self.specs
        }


def _parse_entry(entry: Entry) -> tuple[str, dict[str, Any], str | None]:
    """(name, spec, numa_policy) of one value; ``PciFlavorError`` if Nova
    would refuse it."""
    spec = codec.loads(entry.text, what="the alias entry")
    if not isinstance(spec, dict):
        raise codec.PciFlavorError(
            "an alias must be one JSON object (Nova refuses lists), got %s; "
            "write one alias line per entry" % json.dumps(spec)[:40]
        )
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise codec.PciFlavorError("the alias has no 'name'")
    unknown = sorted(set(spec) - FIELDS)
    if unknown:
        raise codec.PciFlavorError(
            "unknown alias field(s) %s (Nova refuses them)"
            % ", ".join(map(repr, unknown))
        )
    if spec.get("capability_type", "pci") != "pci":
        raise codec.PciFlavorError("field 'capability_type' must be 'pci'")
    out = {k: v for k, v in spec.items() if k not in ("name", "numa_policy")}
    if "live_migratable" in spec:
        raw = spec["live_migratable"]
        folded = raw.strip().lower() if isinstance(raw, str) else None
        if folded not in _TRUE | _FALSE:
            raise codec.PciFlavorError(
                "field 'live_migratable' must be a boolean string such as "
                "'true' or 'false', got %r" % (raw,)
            )
        out["live_migratable"] = "true" if folded in _TRUE else "false"
    return name.strip(), out, spec.get("numa_policy") or None


def merge(entries: Iterable[Entry]) -> tuple[dict[str, Alias], list[Refused]]:
    """Judge and merge ``[pci] alias`` values by name as Nova does.

    Where Nova refuses the whole configuration, this keeps the good names
    and returns one ``Refused`` per bad entry or bad name, so a tool can
    report every problem at once.
    """
    groups: dict[str, list[tuple[Entry, dict[str, Any], str | None]]] = {}
    refused: list[Refused] = []
    for entry in entries:
        try:
            name, spec, policy = _parse_entry(entry)
        except codec.PciFlavorError as exc:
            refused.append(Refused(entry.ident, exc.reason))
            continue
        groups.setdefault(name, []).append((entry, spec, policy))
    merged: dict[str, Alias] = {}
    for name, members in groups.items():
        idents = tuple(m[0].ident for m in members)
        where = "%s (alias %r)" % (", ".join(idents), name)
        policies = {m[2] or "legacy" for m in members}
        dev_types = {m[1].get("device_type") for m in members}
        if len(policies) > 1:
            refused.append(
                Refused(
                    where,
                    "NUMA policy mismatch between the "
                    "entries of one name: %s (Nova "
                    "refuses this)" % ", ".join(sorted(policies)),
                )
            )
        elif len(dev_types) > 1:
            refused.append(
                Refused(
                    where,
                    "device_type mismatch between the "
                    "entries of one name (Nova refuses "
                    "this)",
                )
            )
        elif len(members) > 1 and None in dev_types:
            # get_alias_from_config compares each further entry's dev_type
            # with the first one's: a missing one fails.
            refused.append(
                Refused(
                    where,
                    "%d entries share this name but do "
                    "not set device_type: Nova accepts "
                    "several entries of one name only "
                    "if each sets device_type (it "
                    "refuses this alias): add "
                    '"device_type" to each entry' % len(members),
                )
            )
        else:
            merged[name] = Alias(
                name,
                idents,
                policies.pop(),
                any(m[2] for m in members),
                tuple(m[1] for m in members),
            )
    return merged, refused


def predicates(
    specs: Iterable[tuple[str, Mapping[str, Any]]],
) -> dict[str, matching.Predicate]:
    """{alias name: predicate} of what Nova's compute claim accepts for each
    name (vendor, product and device_type of any of its entries), from
    (name, entry) pairs: ``Alias.specs`` or generated entries."""
    by_name: dict[str, list[codec.DeviceMatch]] = {}
    for name, spec in specs:
        try:
            by_name.setdefault(name, []).append(
                codec.parse_match(
                    {
                        k: spec[k]
                        for k in ("vendor_id", "product_id", "device_type")
                        if k in spec
                    }
                )
            )
        except codec.PciFlavorError:
            continue
    return {
        name: matching.compile_definition(codec.PciFlavorDefinition(tuple(ms)))
        for name, ms in by_name.items()
    }
