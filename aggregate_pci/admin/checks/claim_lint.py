"""``check``'s rule for capacity the compute's claim wastes in legacy mode
(PCI in Placement off): hosts with free devices a PCI flavor's definition
matches, where Nova's greedy claim would take a device the definition
excludes, so the filter refuses the host up front (issue 17).

Every verdict is ``explain.explain``'s (``decision.decide_host``, the
filter's own code) for one device of the PCI flavor, with the compute's
claim replayed by the caller: ``admin/nova_io/claim_replay.py`` runs the
filter's replay (``scheduler.claim.replay_claim``) on the inventory's free
pools.  Pure: the replay comes in as a callable.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Mapping, Sequence

from aggregate_pci import alias
from aggregate_pci.admin.checks import explain
from aggregate_pci.admin.checks.host_lint import Pools
from aggregate_pci.admin.models import Aggregate
from aggregate_pci.errors import Hint
from aggregate_pci.scheduler.claim_judge import ClaimOutcome

#: ``replay(pools, alias name, request specs)``: what the compute's claim of
#: one device of the alias takes from a host's inventory pools.
Replay = Callable[
    [Sequence[Mapping[str, Any]], str, Sequence[Mapping[str, str]]], ClaimOutcome
]

HINT = Hint(
    "to use those devices, make the claim unable to take the others: give "
    "them a [pci] device_spec tag and the definitions and aliases that tell "
    "them apart, or keep the two kinds on separate hosts and aggregates; "
    "{command} shows each host's verdict",
    command="explain",
)


def aggregates_of(records: Sequence[Any]) -> list[Aggregate]:
    """The aggregates behind PCI flavor records, with their PCI flavor keys."""
    by_name: dict[str, Aggregate] = {}
    for r in records:
        agg = by_name.setdefault(
            r.aggregate, Aggregate(len(by_name), r.aggregate, None, r.hosts, {})
        )
        agg.metadata[r.key] = r.value
    return list(by_name.values())


def request_specs(
    conf: Mapping[str, alias.Alias] | None,
    generated: Sequence[Mapping[str, str]] | None,
) -> dict[str, list[dict[str, str]]]:
    """{alias name: the specs Nova claims by}: nova.conf's ``[pci] alias``
    if given, else the entries ``alias.generate`` wrote."""
    if conf is None:
        entries = [alias.Entry("generated", json.dumps(e)) for e in generated or ()]
        conf = alias.merge(entries)[0]
    return {name: a.request_specs() for name, a in conf.items()}


def stray_claims(
    records: Sequence[Any],
    host_pools: Pools,
    specs: Mapping[str, Sequence[Mapping[str, str]]],
    replay: Replay,
) -> list[tuple[str, str, Hint]]:
    """(subject, message, hint) per host and PCI flavor whose free matching
    devices the filter cannot use in legacy mode, because the compute's
    claim of one device (the alias ``specs`` Nova would claim by) would
    take a device the host's definition excludes."""
    aggregates = aggregates_of(records)
    issues = []
    for name in sorted({r.name for r in records if r.definition is not None}):
        if not specs.get(name):
            continue
        defining = {h for r in records if r.name == name for h in r.hosts}
        hosts = {h: host_pools[h] for h in sorted(defining) if host_pools.get(h)}
        claims = {
            h: functools.partial(replay, pools, name, specs[name])
            for h, pools in hosts.items()
        }
        request = explain.Request(name, 1, spec=tuple(specs[name]))
        for h in explain.explain(aggregates, hosts, [request], claims=claims).hosts:
            free = h.free.get(name)
            if h.category != explain.CLAIM or not free:
                continue
            issues.append(
                (
                    "host %r, PCI flavor %r (legacy mode)" % (h.host, name),
                    "%d free device(s) match the host's definition, but with PCI "
                    "in Placement off the filter refuses the host for one "
                    "device: %s. They stay unusable while Nova's greedy claim "
                    "(alias spec, pool order) reaches another device first"
                    % (free, h.reason),
                    HINT,
                )
            )
    return issues
