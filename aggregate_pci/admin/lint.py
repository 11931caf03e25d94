"""The rules of ``check``: what is wrong with a cloud's PCI flavors, Nova
flavors and ``[pci] alias``, each finding naming its subject and the fix.

Pure: inputs are ``PciFlavorRecord``s (or any objects with the same
attributes), Nova flavor alias requests as dicts, ``[pci] alias`` values
(see ``aggregate_pci.alias``) and pools as dicts.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Iterable, Mapping, Sequence

from aggregate_pci import alias, codec, matching
from aggregate_pci.admin import port_lint
from aggregate_pci.admin.report import (
    definitions_by_name,
    host_definitions,
    total_count,
)

ERROR = "error"
WARNING = "warning"

Pools = Mapping[str, Sequence[Mapping[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Issue:
    """One finding of ``check``."""

    severity: str
    subject: str
    message: str


def lint(
    records: Sequence[Any],
    nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
    conf_aliases: Sequence[alias.Entry] | None = None,
    host_pools: Pools | None = None,
) -> list[Issue]:
    """Everything ``check`` reports, errors first.

    ``nova_flavors``: (Nova flavor name, {alias name: count}) pairs.
    ``conf_aliases``: the ``[pci] alias`` values of a nova.conf, if given.
    ``host_pools``: every device of each host as pools (free and used), if
    known; enables the "alias also matches excluded devices" check.
    """
    issues = _bad_values(records)
    by_name = definitions_by_name(records)
    issues.extend(_differing_definitions(by_name))
    conf: dict[str, alias.Alias] | None = None
    if conf_aliases is not None:
        conf, refused = alias.merge(conf_aliases)
        issues.extend(Issue(ERROR, "nova.conf [pci] alias", str(r)) for r in refused)
    issues.extend(_requests(by_name, nova_flavors, conf))
    generated: list[dict[str, str]] | None
    try:
        generated = alias.generate(by_name)
    except alias.AliasConflict as exc:
        generated = None
        issues.append(Issue(ERROR, "[pci] alias", str(exc)))
    if conf is not None and generated is not None:
        issues.extend(_alias_drift(generated, conf, set(by_name)))
    if host_pools is not None:
        preds = alias.predicates(
            ((a.name, s) for a in conf.values() for s in a.specs)
            if conf is not None
            else ((e["name"], e) for e in generated or ())
        )
        issues.extend(_excluded_devices(records, preds, host_pools))
        issues.extend(_alias_order(records, nova_flavors, preds, host_pools))
        # Neutron ports (issue 13): managed physnets nothing can serve.
        issues.extend(
            Issue(WARNING, subject, message)
            for subject, message in port_lint.unserved_physnets(records, host_pools)
        )
    issues.sort(key=lambda i: (i.severity != ERROR, i.subject))
    return issues


def _bad_values(records: Iterable[Any]) -> list[Issue]:
    return [
        Issue(
            ERROR,
            "aggregate %r, key %r" % (r.aggregate, r.key),
            "%s; fix it with 'aggregate-pci flavor create %s "
            "--aggregate %s --replace ...' or delete the key"
            % (r.error, r.name, r.aggregate),
        )
        for r in records
        if r.error is not None
    ]


def _differing_definitions(
    by_name: Mapping[str, Mapping[str, codec.PciFlavorDefinition]],
) -> list[Issue]:
    issues = []
    for name, per_agg in sorted(by_name.items()):
        if len({d.serialize() for d in per_agg.values()}) > 1:
            issues.append(
                Issue(
                    ERROR,
                    "PCI flavor %r" % name,
                    "defined differently on aggregates %s (%s); hosts in several "
                    "of them get the OR of the definitions: make them equal, or "
                    "use different names"
                    % (
                        ", ".join(sorted(per_agg)),
                        "; ".join(
                            "%s: %s" % (a, per_agg[a].serialize())
                            for a in sorted(per_agg)
                        ),
                    ),
                )
            )
    return issues


def _requests(
    by_name: Mapping[str, Any],
    nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
    conf: Mapping[str, alias.Alias] | None,
) -> list[Issue]:
    """Requested names no aggregate defines, and defined names nobody requests."""
    issues = []
    requested: dict[str, list[str]] = {}
    for flavor_name, request in nova_flavors:
        for name in request:
            requested.setdefault(name, []).append(flavor_name)
    for name, flavors in sorted(requested.items()):
        if name in by_name:
            continue
        subject = "PCI flavor %r" % name
        users = ", ".join(sorted(flavors))
        if conf is not None and name in conf:
            issues.append(
                Issue(
                    WARNING,
                    subject,
                    "Nova flavor(s) %s request it but no aggregate "
                    "defines it: it is unmanaged (Nova's [pci] "
                    "alias alone decides where it lands)" % users,
                )
            )
        elif conf is not None:
            issues.append(
                Issue(
                    ERROR,
                    subject,
                    "Nova flavor(s) %s request it but neither an "
                    "aggregate nor the [pci] alias of the given "
                    "nova.conf defines it: boots will fail; define "
                    "it with 'aggregate-pci flavor create %s "
                    "--aggregate AGG ...'" % (users, name),
                )
            )
        else:
            issues.append(
                Issue(
                    WARNING,
                    subject,
                    "Nova flavor(s) %s request it but no aggregate "
                    "defines it: unmanaged, or undefined if nova.conf "
                    "has no such alias (pass --nova-conf to tell)" % users,
                )
            )
    for name in sorted(set(by_name) - set(requested)):
        issues.append(
            Issue(
                WARNING,
                "PCI flavor %r" % name,
                "defined on aggregate(s) %s but no Nova flavor "
                "requests it (extra spec %s=%s:N)"
                % (", ".join(sorted(by_name[name])), alias.SPEC_KEY, name),
            )
        )
    return issues


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


def _alias_drift(
    generated: list[dict[str, str]], conf: Mapping[str, alias.Alias], managed: set[str]
) -> list[Issue]:
    issues = []
    for name, (missing, extra) in alias_drift(generated, conf, managed).items():
        parts = []
        if missing:
            parts.append("missing %s" % "; ".join(map(alias.signature_text, missing)))
        if extra:
            parts.append(
                "not in any aggregate definition: %s"
                % "; ".join(map(alias.signature_text, extra))
            )
        issues.append(
            Issue(
                ERROR,
                "PCI flavor %r, nova.conf [pci] alias" % name,
                "drift between the aggregates and nova.conf: %s; "
                "regenerate with 'aggregate-pci alias-config' and "
                "restart nova-api and nova-compute" % ", ".join(parts),
            )
        )
    return issues


def _excluded_devices(
    records: Sequence[Any],
    alias_preds: Mapping[str, matching.Predicate],
    host_pools: Pools,
) -> list[Issue]:
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
                    Issue(
                        WARNING,
                        "host %r, PCI flavor %r" % (host, name),
                        "the [pci] alias matches %d device(s) the host's definition "
                        "excludes (e.g. %s), and the compute claims by the alias "
                        "alone. PCI in Placement mode: enforced, the filter prunes "
                        "the allocation candidates to matching devices and the claim "
                        "takes one. Legacy mode: enforced by the filter's "
                        "claim-consistency check, which refuses this host whenever "
                        "the claim Nova would make there takes an excluded device "
                        "(so the host serves the flavor only while a matching device "
                        "comes first; a filter without that check does not enforce "
                        "it: 'aggregate-pci audit' finds such instances). To keep "
                        "the capacity, keep those devices out with [pci] device_spec "
                        "on that host, or widen the definition" % (n, ", ".join(where)),
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


def _alias_order(
    records: Sequence[Any],
    nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
    alias_preds: Mapping[str, matching.Predicate],
    host_pools: Pools,
) -> list[Issue]:
    """Nova flavors whose alias order makes the greedy claim take devices
    that cannot serve their PCI flavors (or fail) on a host where an
    assignment exists, with an order that works there."""
    issues = []
    for host, defs in sorted(host_definitions(records).items()):
        pools = sorted(host_pools.get(host) or (), key=lambda p: str(p.get("address")))
        for flavor_name, request in nova_flavors:
            order = [(n, c) for n, c in request.items() if c > 0]
            if not 2 <= len(order) <= ORDER_LIMIT:
                continue
            if not any(n in defs for n, _ in order) or not all(
                n in alias_preds for n, _ in order
            ):
                continue
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
                Issue(
                    WARNING,
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
