"""``check`` for physical networks that PCI flavors manage (issue 13).

With ``[aggregate_pci] manage_port_requests`` on, a definition fixing
``physical_network`` P confines every SR-IOV port of P to the hosts of the
aggregates defining it, on devices matching those match objects.  If no
such host has such a device, every port of P fails to schedule.

Pure: records as in ``aggregate_pci.admin.checks.lint``, pools as dicts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from aggregate_pci import codec, matching, text
from aggregate_pci.admin.capacity.report import total_count
from aggregate_pci.scheduler.claim_judge import describe_pool

NET_TAG = "physical_network"


def physnet_matches(
    records: Sequence[Any],
) -> dict[str, list[tuple[Any, codec.DeviceMatch]]]:
    """{physnet (lower-cased): [(record, match object fixing it)]}."""
    out: dict[str, list[tuple[Any, codec.DeviceMatch]]] = {}
    for record in records:
        if record.definition is None:
            continue
        for match in record.definition.matches:
            for key, value in match.tags:
                if key == NET_TAG:
                    out.setdefault(value.lower(), []).append((record, match))
    return out


def unserved_physnets(
    records: Sequence[Any], host_pools: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[tuple[str, Any]]:
    """(subject, message: ``text.listing``'s dict) for each managed physical network that no host of
    its defining aggregates has a device for (free or used)."""
    issues = []
    for physnet, pairs in sorted(physnet_matches(records).items()):
        served = False
        for record, match in pairs:
            pred = matching.compile_match(match)
            for host in record.hosts:
                if any(pred(p) and total_count(p) for p in host_pools.get(host, ())):
                    served = True
                    break
            if served:
                break
        if not served:
            where = sorted({"%s on %s" % (r.name, r.aggregate) for r, _ in pairs})
            issues.append(
                (
                    "physical network %r" % physnet,
                    text.listing(
                        "managed by PCI flavor(s) %s, but no host of those "
                        "aggregates has a device matching them (device_spec tag "
                        "physical_network=%s included): with [aggregate_pci] "
                        "manage_port_requests on, every port of it fails with "
                        "'No valid host'",
                        where,
                        physnet,
                    ),
                )
            )
    return issues


def narrowed_physnets(
    records: Sequence[Any], host_pools: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[tuple[str, str]]:
    """(subject, message) per host of a defining aggregate that has devices
    tagged with a managed physical network outside its definitions of it:
    the compute claims a port by its spec (physical network, device type,
    trust), so the filter must refuse the host whenever Nova's claim would
    take one of them."""
    issues = []
    for physnet, pairs in sorted(physnet_matches(records).items()):
        by_host: dict[str, list[tuple[Any, codec.DeviceMatch]]] = {}
        for record, match in pairs:
            for host in record.hosts:
                by_host.setdefault(host, []).append((record, match))
        for host, host_pairs in sorted(by_host.items()):
            preds = [matching.compile_match(m) for _, m in host_pairs]
            # the first such pool is named: the others are not looked at
            outside = next(
                (
                    p
                    for p in host_pools.get(host, ())
                    if str(p.get(NET_TAG, "")).lower() == physnet
                    and total_count(p)
                    and not any(pred(p) for pred in preds)
                ),
                None,
            )
            if outside is None:
                continue
            names = sorted({"%s on %s" % (r.name, r.aggregate) for r, _ in host_pairs})
            issues.append(
                (
                    "physical network %r" % physnet,
                    "host %s has %s, outside PCI flavor(s) %s: Nova claims a port's device by its "
                    "physical network, so the filter refuses %s for a port "
                    "of it whenever the claim would take such a device; tag "
                    "only the intended devices in that host's [pci] "
                    "device_spec, or widen the definition"
                    % (
                        host,
                        describe_pool(
                            {k: v for k, v in outside.items() if k != "used"}
                        ),
                        ", ".join(names),
                        host,
                    ),
                )
            )
    return issues
