"""The host-device rules of ``check``: what the ``[pci] alias`` makes
Nova claim on each host, against what the host's PCI flavors allow.

- an alias that also matches devices a host's definition excludes;
- a Nova flavor whose alias order makes Nova's greedy claim take devices
  that cannot serve its PCI flavors, with an order that works.

Pure: records as in ``aggregate_pci.admin.checks.lint``, pools as dicts; findings
are (subject, message) warnings, which ``lint`` reports.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

from aggregate_pci import alias, matching
from aggregate_pci.admin.capacity.report import total_count
from aggregate_pci.admin.models import host_definitions
from aggregate_pci.errors import Hint

Pools = Mapping[str, Sequence[Mapping[str, Any]]]


def excluded_devices(
    records: Sequence[Any],
    alias_preds: Mapping[str, matching.Predicate],
    host_pools: Pools,
) -> list[tuple[str, str, Hint]]:
    """Host PCI flavors whose [pci] alias also matches devices their
    definition excludes, as (subject, message, hint) warnings."""
    issues = []
    for host, defs in sorted(host_definitions(records).items()):
        pools = host_pools.get(host)
        if not pools:
            continue
        for name, definition in sorted(defs.items()):
            alias_pred = alias_preds.get(name)
            if alias_pred is None:
                continue
            ours = matching.compile_definition(definition)
            excluded = [p for p in pools if alias_pred(p) and not ours(p)]
            n = sum(total_count(p) for p in excluded)
            if n:
                where = sorted({str(p.get("address")) for p in excluded})[:3]
                issues.append(
                    (
                        "host %r, PCI flavor %r" % (host, name),
                        "the [pci] alias matches %d device(s) the host's definition "
                        "excludes (e.g. %s), and the compute claims by the alias "
                        "alone. PCI in Placement mode: enforced, the filter prunes "
                        "the allocation candidates to matching devices and the claim "
                        "takes one. Legacy mode: enforced by the filter's "
                        "claim-consistency check, which refuses this host whenever "
                        "the claim Nova would make there takes an excluded device "
                        "(so the host serves the flavor only while a matching device "
                        "comes first). To keep the capacity, keep those devices out "
                        "with [pci] device_spec on that host, or widen the "
                        "definition" % (n, ", ".join(where)),
                        Hint(
                            "a filter without that check does not enforce it: "
                            "{command} finds instances holding an excluded device",
                            command="audit",
                        ),
                    )
                )
    return issues


#: Nova flavors with at most this many aliases get a recommended order
#: (every permutation is tried).
ORDER_LIMIT = 6


def _greedy_claim(
    pools: Sequence[Mapping[str, Any]],
    order: Sequence[tuple[str, int]],
    alias_preds: Mapping[str, matching.Predicate],
) -> list[dict[str, Any]] | None:
    """The devices Nova's greedy claim takes (requests in ``order``, each
    from the pools its alias matches, pools in the given order), as
    one-device pools tagged with ``_request``; None if the claim fails."""
    free = [total_count(p) for p in pools]
    taken: list[dict[str, Any]] = []
    for name, count in order:
        pred = alias_preds[name]
        for i, pool in enumerate(pools):
            while count and free[i] and pred(pool):
                free[i] -= 1
                count -= 1
                taken.append(dict(pool, count=1, used=0))
        if count:
            return None
    return taken


def _serves(
    devices: Sequence[Mapping[str, Any]],
    request: Sequence[tuple[str, int]],
    preds: Mapping[str, matching.Predicate],
) -> bool:
    return matching.feasible(devices, [(preds[n], c) for n, c in request])


def alias_order(
    records: Sequence[Any],
    nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
    alias_preds: Mapping[str, matching.Predicate],
    host_pools: Pools,
) -> list[tuple[str, str]]:
    """Nova flavors whose alias order makes the greedy claim take devices
    that cannot serve their PCI flavors (or fail) on a host where an
    assignment exists, with an order that works there, as (subject,
    message) warnings."""
    issues: list[tuple[str, str]] = []
    # the Nova flavors whose order can matter (a fleet's hosts are not
    # visited, nor their pools sorted, when no flavor's can)
    orders = []
    for flavor_name, request in nova_flavors:
        order = [(n, c) for n, c in request.items() if c > 0]
        if 2 <= len(order) <= ORDER_LIMIT and all(n in alias_preds for n, _ in order):
            orders.append((flavor_name, order))
    if not orders:
        return issues
    for host, defs in sorted(host_definitions(records).items()):
        pools = None
        for flavor_name, order in orders:
            if not any(n in defs for n, _ in order):
                continue
            if pools is None:
                pools = sorted(
                    host_pools.get(host) or (), key=lambda p: str(p.get("address"))
                )
            # what each request may take: its host definition if managed
            preds = {n: matching.compile_definition(defs[n]) if n in defs
                     else alias_preds[n] for n, _ in order}  # fmt: skip
            if _order_serves(pools, order, alias_preds, preds):
                continue
            works = next(
                (
                    perm
                    for perm in itertools.permutations(order)
                    if _order_serves(pools, perm, alias_preds, preds)
                ),
                None,
            )
            if works is None:  # no order works: the narrowing itself (above)
                continue
            issues.append(
                (
                    "Nova flavor %r, host %r" % (flavor_name, host),
                    "with the aliases in the order %s, Nova's greedy claim (each "
                    "alias in turn, pools in address order, all devices free) fails "
                    "or takes devices that cannot serve its PCI flavors, though the "
                    "host's devices can serve them: in legacy mode the host is "
                    "refused (PciPassthroughFilter or the claim-consistency check); "
                    "PCI in Placement tries the candidates in any order. "
                    "Recommended: %s=%s"
                    % (_order_text(order), alias.SPEC_KEY, _order_text(works)),
                )
            )
    return issues


def _order_serves(
    pools: Sequence[Mapping[str, Any]],
    order: Sequence[tuple[str, int]],
    alias_preds: Mapping[str, matching.Predicate],
    preds: Mapping[str, matching.Predicate],
) -> bool:
    taken = _greedy_claim(pools, order, alias_preds)
    return taken is not None and _serves(taken, order, preds)


def _order_text(order: Iterable[tuple[str, int]]) -> str:
    return ",".join("%s:%d" % (n, c) for n, c in order)
