"""How ``audit`` matches an instance's devices: three-valued against one
host's current definitions (a device whose tags are unknown matches a
definition using tags neither surely nor surely not), each definition
compiled once and shared between hosts, and a maximum assignment of the
devices to the requested slots."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.admin.models import Device

#: A device's verdicts (``audit``'s Match column).
YES = "yes"
NO = "no"
UNKNOWN = "unknown"
UNMANAGED = "unmanaged"


def uses_tags(definition: codec.PciFlavorDefinition) -> set[str]:
    """The device_spec tag keys a definition needs (``address`` is known)."""
    return {k for m in definition.matches for k, _ in m.tags if k != "address"}


def _without_tags(match: codec.DeviceMatch) -> codec.DeviceMatch:
    return dataclasses.replace(
        match, tags=tuple((k, v) for k, v in match.tags if k == "address")
    )


class DeviceJudge:
    """Three-valued matching of devices against one host's definitions;
    each definition compiled once, on first use (one judge serves every
    instance of a host, ``compiled`` every host sharing a definition)."""

    def __init__(
        self,
        definitions: Mapping[str, codec.PciFlavorDefinition],
        compiled: dict[int, tuple[Any, ...]] | None = None,
    ):
        self.defs = definitions
        self.compiled = {} if compiled is None else compiled

    def _parts(self, name: str) -> tuple[Any, ...]:
        """(definition, its predicate, [(predicate without tags, needs
        tags) per match object]), keyed by the definition's identity (the
        definition is kept in the entry, so the identity stays valid)."""
        d = self.defs[name]
        entry = self.compiled.get(id(d))
        if entry is None or entry[0] is not d:
            entry = (
                d,
                matching.compile_definition(d),
                [
                    (matching.compile_match(_without_tags(m)), _uses_tags_match(m))
                    for m in d.matches
                ],
            )
            self.compiled[id(d)] = entry
        return entry

    def match(self, name: str, device: Device) -> bool | None:
        """Does ``device`` match the host's definition of ``name``? None
        when it depends on tags that are unknown."""
        if name not in self.defs:
            return False
        _, full, parts = self._parts(name)
        if device.tags is not None:
            return bool(full(device.pool()))
        pool = device.pool({})
        verdict: bool | None = False
        for base, needs_tags in parts:
            if base(pool):
                if not needs_tags:
                    return True
                verdict = None
        return verdict


def _uses_tags_match(match: codec.DeviceMatch) -> bool:
    return any(k != "address" for k, _ in match.tags)


def max_assignment(n_devices: int, slots: Sequence[str], edge: Any) -> dict[int, int]:
    """A maximum assignment {device index: slot index} (augmenting paths)."""
    owner: dict[int, int] = {}

    def augment(d: int, seen: set[int]) -> bool:
        for s in range(len(slots)):
            if s in seen or not edge(d, slots[s]):
                continue
            seen.add(s)
            if s not in owner or augment(owner[s], seen):
                owner[s] = d
                return True
        return False

    for d in range(n_devices):
        augment(d, set())
    return {d: s for s, d in owner.items()}
