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

from aggregate_pci import alias, codec
from aggregate_pci.admin.capacity import report
from aggregate_pci.admin.checks import claim_lint, host_lint, port_lint
from aggregate_pci.admin.checks.alias_lint import alias_drift
from aggregate_pci.admin.checks.host_lint import Pools
from aggregate_pci.admin.models import definitions_by_name, port_only_names
from aggregate_pci.errors import Hint, Speller, neutral_command
from aggregate_pci.text import capped_names, listing

ERROR = "error"
WARNING = "warning"


@dataclasses.dataclass(frozen=True)
class Issue:
    """One finding of ``check``: what is wrong (``message``) and, if a
    command fixes it, a ``hint`` the front end spells."""

    severity: str
    subject: str
    message: str
    hint: Hint | None = None
    #: The message with its long lists of names cut (``capped_names``), for
    #: people; None when nothing was cut.
    capped: str | None = None

    def render(self, command: Speller = neutral_command, capped: bool = False) -> str:
        """The message (``capped``: with long lists cut), then the hint with
        its command spelled by ``command``."""
        message = self.capped if capped and self.capped is not None else self.message
        if self.hint is None:
            return message
        return "%s; %s" % (message, self.hint.render(command))


def lint(
    records: Sequence[Any],
    nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
    conf_aliases: Sequence[alias.Entry] | None = None,
    host_pools: Pools | None = None,
    replay: claim_lint.Replay | None = None,
) -> list[Issue]:
    """Everything ``check`` reports, errors first.

    ``nova_flavors``: (Nova flavor name, {alias name: count}) pairs.
    ``conf_aliases``: the ``[pci] alias`` values of a nova.conf, if given.
    ``host_pools``: every device of each host as pools (free and used), if
    known; enables the "alias also matches excluded devices" check.
    ``replay``: the compute's claim on those pools, if Nova is here
    (``nova_io/claim_replay.py``); enables ``claim_lint.stray_claims``.
    """
    issues = _bad_values(records)
    by_name = definitions_by_name(records)
    issues.extend(_differing_definitions(by_name))
    conf: dict[str, alias.Alias] | None = None
    if conf_aliases is not None:
        conf, refused = alias.merge(conf_aliases)
        issues.extend(Issue(ERROR, "nova.conf [pci] alias", str(r)) for r in refused)
    port_only = port_only_names(by_name, (n for _, req in nova_flavors for n in req))
    issues.extend(_requests(by_name, nova_flavors, conf, port_only))
    generated: list[dict[str, str]] | None
    try:
        generated = alias.generate(by_name)
    except alias.AliasConflict as exc:
        generated = None
        issues.append(Issue(ERROR, "[pci] alias", str(exc)))
    if conf is not None and generated is not None:
        # A port-only flavor needs no alias; one nova.conf has is still compared.
        managed = set(by_name) - (port_only - set(conf))
        issues.extend(_alias_drift(generated, conf, managed))
    if host_pools is not None:
        preds = alias.predicates(
            ((a.name, s) for a in conf.values() for s in a.specs)
            if conf is not None
            else ((e["name"], e) for e in generated or ())
        )
        issues.extend(
            Issue(WARNING, subject, message, hint)
            for subject, message, hint in host_lint.excluded_devices(
                records, preds, host_pools
            )
        )
        if replay is not None:
            issues.extend(
                Issue(WARNING, subject, message, hint)
                for subject, message, hint in claim_lint.stray_claims(
                    records,
                    host_pools,
                    claim_lint.request_specs(conf, generated),
                    replay,
                )
            )
        warnings = itertools.chain(
            host_lint.alias_order(records, nova_flavors, preds, host_pools),
            # Neutron ports (issue 13): managed physnets nothing can serve,
            # and hosts where the port claim may take devices outside.
            port_lint.unserved_physnets(records, host_pools),
            port_lint.narrowed_physnets(records, host_pools),
            _stranded(records, host_pools),
        )
        issues.extend(
            Issue(WARNING, subject, **message)
            if isinstance(message, dict)
            else Issue(WARNING, subject, message)
            for subject, message in warnings
        )
    issues.sort(key=lambda i: (i.severity != ERROR, i.subject))
    return issues


def _stranded(records: Sequence[Any], host_pools: Pools) -> list[tuple[str, Any]]:
    """(subject, message) per PCI flavor with devices on hosts in no
    aggregate defining it (``report.stranded``)."""
    by_flavor: dict[str, list[Any]] = {}
    for row in report.stranded(records, host_pools):
        by_flavor.setdefault(row.flavor, []).append(row)
    return [
        (
            "PCI flavor %r" % name,
            listing(
                "stranded: %d matching device(s) on host(s) %s, in no aggregate "
                "defining it, so the filter never places it there; add those "
                "hosts to a defining aggregate if they should serve it "
                "('capacity --stranded' lists them)",
                sum(r.matching for r in rows),
                [r.name for r in rows],
            ),
        )
        for name, rows in sorted(by_flavor.items())
    ]


def _bad_values(records: Iterable[Any]) -> list[Issue]:
    return [
        Issue(
            ERROR,
            "aggregate %r, key %r" % (r.aggregate, r.key),
            r.error,
            Hint(
                "fix it with {command} or delete the key",
                command="flavor create %s --aggregate %s --replace ..."
                % (r.name, r.aggregate),
            ),
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
            aggs = sorted(per_agg)
            by_text: dict[str, list[str]] = {}
            for a in aggs:
                by_text.setdefault(per_agg[a].serialize(), []).append(a)
            message = (
                "defined differently on aggregates %s (%s); hosts in several "
                "of them get the OR of the definitions: make them equal, or "
                "use different names"
            )
            full = message % (
                ", ".join(aggs),
                "; ".join("%s: %s" % (a, per_agg[a].serialize()) for a in aggs),
            )
            cut = message % (
                capped_names(aggs),
                "; ".join(
                    "%s: %s" % (capped_names(names), text)
                    for text, names in by_text.items()
                ),
            )
            issues.append(
                Issue(
                    ERROR,
                    "PCI flavor %r" % name,
                    full,
                    capped=cut if cut != full else None,
                )
            )
    return issues


def incompatible(
    name: str,
    aggregate: str,
    definition: codec.PciFlavorDefinition,
    others: Mapping[str, codec.PciFlavorDefinition],
) -> str | None:
    """Why defining ``name`` as ``definition`` on ``aggregate`` conflicts
    with its definitions on ``others`` (other aggregates), by ``check``'s
    rules (differing definitions; one ``[pci] alias`` per name), or None."""
    differing = sorted(
        a for a, d in others.items() if d.serialize() != definition.serialize()
    )
    if not differing:
        return None
    why = (
        "PCI flavor %r is defined differently on aggregate(s) %s (%s), so %r "
        "would differ from them: hosts in several of those aggregates get the "
        "OR of the definitions and 'check' reports an error"
        % (
            name,
            ", ".join(differing),
            "; ".join("%s: %s" % (a, others[a].serialize()) for a in differing),
            aggregate,
        )
    )
    try:
        alias.generate({name: {**others, aggregate: definition}})
    except alias.AliasConflict as exc:
        why += "; and 'alias-config' would fail: %s" % exc
    return why


def _requests(
    by_name: Mapping[str, Any],
    nova_flavors: Sequence[tuple[str, Mapping[str, int]]],
    conf: Mapping[str, alias.Alias] | None,
    port_only: set[str],
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
                    "nova.conf defines it: boots will fail" % users,
                    Hint(
                        "define it with {command}",
                        command="flavor create %s --aggregate AGG ..." % name,
                    ),
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
    for name in sorted(port_only):
        issues.append(
            Issue(
                WARNING,
                "PCI flavor %r" % name,
                **listing(
                    "port-only: defined on aggregate(s) %s for Neutron ports of "
                    "its physical network, requested by no Nova flavor; it needs "
                    "no [pci] alias, and confines ports only where the schedulers "
                    "set [aggregate_pci] manage_port_requests = true",
                    sorted(by_name[name]),
                ),
            )
        )
    for name in sorted(set(by_name) - set(requested) - port_only):
        issues.append(
            Issue(
                WARNING,
                "PCI flavor %r" % name,
                **listing(
                    "defined on aggregate(s) %s but no Nova flavor requests it "
                    "(extra spec %s=%s:N)",
                    sorted(by_name[name]),
                    alias.SPEC_KEY,
                    name,
                ),
            )
        )
    return issues


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
                "drift between the aggregates and nova.conf: %s" % ", ".join(parts),
                Hint(
                    "regenerate with {command} and restart nova-api and nova-compute",
                    command="alias-config",
                ),
            )
        )
    return issues
