"""Where each PCI flavor goes: the operator's target choice.  Pure.

A mapping file (``{flavor: aggregate | [aggregates]}``), one aggregate for
every flavor (``--aggregate NAME``), or one new aggregate ``pci-flavor-NAME``
per flavor holding the hosts whose PCI pools match it
(``--auto-aggregates``).  ``plan.build_migration_plan`` plans from it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from aggregate_pci import matching
from aggregate_pci.migrate.model import SourceFlavor

AUTO_PREFIX = "pci-flavor-"


@dataclasses.dataclass
class Targets:
    """Which aggregates get which flavor, and hosts aggregates must hold."""

    by_flavor: dict[str, list[str]]
    #: Aggregates to create when missing, with hosts they must contain.
    hosts: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def targets_from_mapping(mapping: Any, flavors: Iterable[str]) -> Targets:
    """Targets from a mapping document ``{flavor: aggregate | [aggregates]}``.

    Every source flavor must be mapped (``[]`` deliberately skips one) and
    every mapped name must be a source flavor.
    """
    flavors = list(flavors)
    targets = Targets({})
    if not isinstance(mapping, dict):
        targets.errors.append(
            "the mapping file must hold a JSON object {flavor name: [aggregate names]}"
        )
        return targets
    for name, aggs in mapping.items():
        if isinstance(aggs, str):
            aggs = [aggs]
        if not isinstance(aggs, list) or not all(
            isinstance(a, str) and a.strip() for a in aggs
        ):
            targets.errors.append(
                "mapping of flavor %r: expected an aggregate name or a list "
                "of names, got %r" % (name, aggs)
            )
            continue
        if name not in flavors:
            targets.warnings.append(
                "the mapping file names flavor %r, which "
                "the source does not define (or which is "
                "invalid there): ignored" % name
            )
            continue
        targets.by_flavor[name] = list(dict.fromkeys(aggs))
    for name in flavors:
        if name not in mapping:
            targets.errors.append(
                "flavor %r is not in the mapping file: map it to aggregate "
                "name(s), or to [] to leave it out" % name
            )
    return targets


def targets_single(aggregate: str, flavors: Iterable[str]) -> Targets:
    """Every flavor onto one aggregate (``--aggregate NAME``)."""
    return Targets({name: [aggregate] for name in flavors})


def targets_auto(
    flavors: Mapping[str, SourceFlavor],
    inventory: Mapping[str, Sequence[matching.Pool]],
) -> Targets:
    """One aggregate ``pci-flavor-NAME`` per flavor, holding the hosts that
    have a PCI pool matching it (free or not: this is about what the host
    has, not what is left)."""
    targets = Targets({})
    for name, flavor in sorted(flavors.items()):
        aggregate = AUTO_PREFIX + name
        predicate = matching.compile_definition(flavor.definition)
        hosts = sorted(
            h for h, pools in inventory.items() if any(predicate(p) for p in pools)
        )
        targets.by_flavor[name] = [aggregate]
        targets.hosts[aggregate] = hosts
        if not hosts:
            targets.warnings.append(
                "flavor %r matches no host's PCI pools: aggregate %r will have "
                "no hosts" % (name, aggregate)
            )
    return targets
