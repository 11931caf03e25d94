"""``[pci] alias`` entries generated from PCI flavors, and why a PCI flavor
cannot become one."""

from __future__ import annotations

import json
from typing import Any, Mapping

from aggregate_pci import codec
from aggregate_pci.alias.rules import Signature
from aggregate_pci.errors import AggregatePciError


class AliasConflict(AggregatePciError, ValueError):
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
