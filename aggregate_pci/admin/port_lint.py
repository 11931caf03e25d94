"""``check`` for physical networks that PCI flavors manage (issue 13).

With ``[aggregate_pci] manage_port_requests`` on, a definition fixing
``physical_network`` P confines every SR-IOV port of P to the hosts of the
aggregates defining it, on devices matching those match objects.  If no
such host has such a device, every port of P fails to schedule.

Pure: records as in ``aggregate_pci.admin.lint``, pools as dicts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.admin.report import total_count

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
) -> list[tuple[str, str]]:
    """(subject, message) for each managed physical network that no host of
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
                    "managed by PCI flavor(s) %s, but no host of those "
                    "aggregates has a device matching them (device_spec tag "
                    "physical_network=%s included): with [aggregate_pci] "
                    "manage_port_requests on, every port of it fails with "
                    "'No valid host'" % (", ".join(where), physnet),
                )
            )
    return issues
