"""Nova's ``[pci] alias`` and ``pci_passthrough:alias``: the one owner of
their rules here, as ``nova/pci/request.py`` is in Nova.

- ``parse_request``: the ``NAME:COUNT[,...]`` extra spec of a Nova flavor.
- ``merge``: ``[pci] alias`` values judged and merged by name as Nova's
  ``get_alias_from_config`` does (one JSON object each; entries of one name
  ORed, agreeing on ``numa_policy`` and ``device_type``, each setting
  ``device_type`` when there are several), one ``Refused`` per bad entry.
- ``generate``: the entries PCI flavors need, and why a flavor cannot be one.
- ``read_conf``: the values of a nova.conf, with Nova's own option definition
  (``[DEFAULT] pci_alias`` still read, as Nova does).

Pure apart from reading the given nova.conf files with oslo.config.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping, Sequence

from oslo_config import cfg

from aggregate_pci import codec, matching

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


def parse_request(spec: str | None) -> dict[str, int]:
    """Parse a ``NAME:COUNT[,NAME:COUNT...]`` extra spec into {name: count}.

    Lenient, for reporting: a name without a count counts 1, a malformed
    count counts 0 (Nova's own extra-spec validator refuses it at the API).
    """
    out: dict[str, int] = {}
    for item in (spec or "").split(","):
        name, _, count = item.strip().partition(":")
        name = name.strip()
        if not name:
            continue
        try:
            n = int(count) if count.strip() else 1
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
    """An entry (or a name's entries) Nova would refuse, and why."""

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


# -- generation from PCI flavors ------------------------------------------------


class AliasConflict(ValueError):
    """Definitions of one name cannot be one Nova alias."""


def _problems(name: str, seen: Mapping[tuple[Any, ...], list[str]]) -> list[str]:
    problems = []
    for field, idx in (("device_type", 2), ("numa_policy", 3)):
        values: dict[Any, set[str]] = {}
        for sig, aggs in seen.items():
            values.setdefault(sig[idx], set()).update(aggs)
        if len(values) > 1:
            problems.append(
                "PCI flavor %r, key %r: %s differs between definitions (%s); "
                "Nova needs one %s per alias name: make the definitions "
                "agree or use different flavor names"
                % (
                    name,
                    codec.KEY_PREFIX + name,
                    field,
                    "; ".join(
                        "%s on aggregate(s) %s" % (v or "unset", ", ".join(sorted(a)))
                        for v, a in sorted(values.items(), key=lambda x: str(x[0]))
                    ),
                    field,
                )
            )
    if len(seen) > 1 and any(sig[2] is None for sig in seen):
        problems.append(
            "PCI flavor %r, key %r: it becomes %d [pci] alias entries (one "
            "per vendor/product), and Nova accepts several entries of one "
            'name only if each sets device_type: add "device_type" to every '
            "match object of this flavor" % (name, codec.KEY_PREFIX + name, len(seen))
        )
    return problems


def generate(
    definitions: Mapping[str, Mapping[str, codec.PciFlavorDefinition]],
) -> list[dict[str, str]]:
    """The ``[pci] alias`` entries for ``{flavor: {aggregate: definition}}``,
    ORing the definitions of one name (Nova ORs entries of one name).

    ``live_migratable``, the one tag Nova's alias schema knows, is carried
    over; other narrowing keys cannot be expressed in an alias.  Raises
    ``AliasConflict`` naming the flavor and aggregates when Nova would refuse
    the entries (one device_type and numa_policy per name, device_type on
    every entry when there are several).
    """
    entries: list[dict[str, str]] = []
    problems = []
    for name, per_agg in sorted(definitions.items()):
        seen: dict[tuple[Any, ...], list[str]] = {}
        for agg, definition in sorted(per_agg.items()):
            for m in definition.matches:
                sig = (
                    m.vendor_id,
                    m.product_id,
                    m.device_type,
                    m.numa_policy,
                    dict(m.tags).get("live_migratable"),
                )
                seen.setdefault(sig, []).append(agg)
        problems.extend(_problems(name, seen))
        for vendor, product, device_type, numa_policy, live in sorted(seen, key=str):
            entry = {"name": name, "vendor_id": vendor, "product_id": product}
            if device_type is not None:
                entry["device_type"] = device_type
            if numa_policy is not None:
                entry["numa_policy"] = numa_policy
            if live is not None:
                entry["live_migratable"] = live
            entries.append(entry)
    if problems:
        raise AliasConflict("; ".join(problems))
    return entries


def problem(
    name: str, definition: codec.PciFlavorDefinition, where: str = "(this spec)"
) -> str | None:
    """Why this one definition could not become ``[pci] alias`` entries
    (which its ``pci_passthrough:alias`` requests need), or None."""
    try:
        generate({name: {where: definition}})
    except AliasConflict as exc:
        return str(exc)
    return None


def line(entry: Mapping[str, Any]) -> str:
    """One entry as nova.conf wants it: compact JSON on one line."""
    return json.dumps(dict(entry), sort_keys=True, separators=(", ", ": "))


def signature_text(sig: Signature) -> str:
    """An ``Alias.signatures`` tuple as an alias line, for messages."""
    keys = ("name", "vendor_id", "product_id", "device_type", "numa_policy")
    return line({k: v for k, v in zip(keys, sig, strict=True) if v})


# -- nova.conf ------------------------------------------------------------------


class ConfError(Exception):
    """A nova.conf that cannot be read; the message names the file."""


def option() -> cfg.MultiStrOpt:
    """Nova's own definition of ``[pci] alias`` (nova/conf/pci.py), so that
    ``[DEFAULT] pci_alias`` is read exactly as Nova reads it."""
    return cfg.MultiStrOpt(
        "alias", default=[], deprecated_name="pci_alias", deprecated_group="DEFAULT"
    )


def read_conf(paths: Sequence[str]) -> tuple[list[Entry], list[str]]:
    """The ``[pci] alias`` values of these nova.conf files as Nova reads
    them, in order, and warnings for the operator (the deprecated name in
    use, or set but shadowed by ``[pci] alias``)."""
    conf = cfg.ConfigOpts()
    conf.register_opts([option()], group="pci")
    # The deprecated name once more, on its own, to tell whether it is used.
    conf.register_opt(cfg.MultiStrOpt("pci_alias", default=[]))
    try:
        conf(
            args=[],
            project="nova",
            default_config_files=list(paths),
            default_config_dirs=[],
            use_env=False,
        )
        values, legacy = list(conf.pci.alias), list(conf.pci_alias)
    except cfg.ConfigFilesNotFoundError:
        raise ConfError(
            "cannot read nova.conf %s: no such file or not "
            "readable" % ", ".join(map(repr, paths))
        ) from None
    except (cfg.Error, OSError) as exc:
        raise ConfError(
            "cannot read nova.conf %s: %s" % (", ".join(map(repr, paths)), exc)
        ) from None
    warnings = []
    if legacy and values == legacy:
        warnings.append(
            "%s: [DEFAULT] pci_alias is deprecated (Nova still "
            "reads it while [pci] alias is unset): move the "
            "entries to [pci] alias" % ", ".join(paths)
        )
    elif legacy:
        warnings.append(
            "%s: [DEFAULT] pci_alias is ignored because [pci] "
            "alias is set (as in Nova): remove it" % ", ".join(paths)
        )
    return (
        [Entry("[pci] alias #%d" % (i + 1), text) for i, text in enumerate(values)],
        warnings,
    )
