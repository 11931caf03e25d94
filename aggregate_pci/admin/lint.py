"""The rules of ``check``: what is wrong with a cloud's PCI flavors, Nova
flavors and ``[pci] alias``, each finding naming its subject and the fix.

Pure: inputs are ``PciFlavorRecord``s (or any objects with the same
attributes), Nova flavor alias requests as dicts, ``[pci] alias`` values
(see ``aggregate_pci.alias``) and pools as dicts.
"""

from __future__ import annotations

import dataclasses
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


def _alias_drift(
    generated: list[dict[str, str]], conf: Mapping[str, alias.Alias], managed: set[str]
) -> list[Issue]:
    issues = []
    want = _generated_signatures(generated)
    have = {
        sig for name, a in conf.items() if name in managed for sig in a.signatures()
    }
    for name in sorted(managed):
        missing = sorted((s for s in want - have if s[0] == name), key=str)
        extra = sorted((s for s in have - want if s[0] == name), key=str)
        if not missing and not extra:
            continue
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
                        ERROR,
                        "host %r, PCI flavor %r" % (host, name),
                        "the [pci] alias matches %d device(s) the host's definition "
                        "excludes (e.g. %s): Nova's compute claim could take them; "
                        "keep them out with [pci] device_spec on that host, or "
                        "widen the definition" % (n, ", ".join(where)),
                    )
                )
    return issues
