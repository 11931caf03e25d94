"""``check``'s alias drift: per PCI flavor, the ``[pci] alias`` entries a
nova.conf lacks and those it has that no definition gives (``lint`` reports
them, the exporter counts them)."""

from __future__ import annotations

from typing import Iterable, Mapping

from aggregate_pci import alias


def _generated_signatures(generated: Iterable[Mapping[str, str]]) -> set[tuple]:
    return {
        (
            e["name"],
            e["vendor_id"].lower(),
            e["product_id"].lower(),
            e.get("device_type"),
            e.get("numa_policy"),
        )
        for e in generated
    }


def alias_drift(
    generated: Iterable[Mapping[str, str]],
    conf: Mapping[str, alias.Alias],
    managed: Iterable[str],
) -> dict[str, tuple[list[tuple], list[tuple]]]:
    """{PCI flavor: (entries missing from nova.conf, entries nova.conf has
    that no definition gives)} for the ``managed`` names whose ``[pci]
    alias`` entries differ from ``generated`` (``alias.generate``'s)."""
    want = _generated_signatures(generated)
    names = set(managed)
    have = {sig for name, a in conf.items() if name in names for sig in a.signatures()}
    out = {}
    for name in sorted(names):
        missing = sorted((s for s in want - have if s[0] == name), key=str)
        extra = sorted((s for s in have - want if s[0] == name), key=str)
        if missing or extra:
            out[name] = (missing, extra)
    return out
