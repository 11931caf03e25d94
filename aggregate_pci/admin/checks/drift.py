"""The drift rule of ``audit``: with PCI in Placement, do Placement's PCI
allocations name the devices the cell DB says each instance holds?

Nova records an instance's PCI devices twice: allocations on the PCI
resource providers (one per device, or per PF for its VFs, named
``HOST_ADDRESS``) and ``pci_devices`` rows in the cell DB.  A move claim that
ignores Placement (docs/nova-defects.md, defect 1) leaves them disagreeing:
the device Placement allocates but the cell DB shows free is lost capacity
until the instance leaves.  The reverse, a device the cell DB gives the
instance and Placement does not, is what a failed cross-cell resize leaves
on the destination (defect 3) until that compute frees it.

Pure: inputs are plain mappings keyed by provider name, so the rule needs
no Nova, no HTTP and no SQL.
"""

from __future__ import annotations

import dataclasses
from typing import Collection, Mapping

DRIFT = "drift"

#: What to do about a device Placement allocates and the cell DB does not
#: give the instance (Nova never removes such an allocation by itself).
STALE_ACTION = (
    "cold-migrate or resize the server (Nova writes its allocations anew on "
    "the destination), or drop the stale allocation: 'openstack resource "
    "provider allocation unset --provider %s %s' (osc-placement, "
    "--os-placement-api-version 1.12); 'nova-manage placement "
    "heal_allocations' does not repair PCI allocations"
)
#: What to do about a device the cell DB gives the instance and Placement
#: does not allocate to it.
MISSING_ACTION = (
    "nova-compute on %s adds missing PCI allocations in its periodic "
    "resource update ([pci] report_in_placement = true): wait for it (or "
    "restart nova-compute) and audit again; until then Placement may give "
    "the device to another instance"
)
#: What to do about a device the cell DB gives the instance on a compute node
#: where the instance is not (a failed move's leftover; nova-compute frees
#: the devices of instances it does not have, it does not heal them).
LEFTOVER_ACTION = (
    "the instance is on %s, not on %s: a failed move's leftover (e.g. a "
    "failed cross-cell resize); nova-compute on %s frees it in its periodic "
    "resource update: wait for it (or restart nova-compute) and audit again; "
    "until then Placement may give the device to another instance"
)
#: What to do about a device the cell DB still gives a deleted instance
#: (Placement freed it at the delete; the compute frees it later).
DELETED_ACTION = (
    "the instance is deleted: nova-compute on %s frees its devices in its "
    "next periodic resource update ([DEFAULT] update_resources_interval, 60 s "
    "by default; Nova defect 4 after a confirmed move): wait for it and audit "
    "again; until then no server can get the device there"
)
#: What to do about allocations of a consumer the cell DB knows nothing of.
ORPHAN_ACTION = (
    "no instance or migration of the cell DBs has this uuid: if the server "
    "was deleted, 'nova-manage placement audit --verbose' lists the orphaned "
    "allocations and '--delete' removes them"
)


@dataclasses.dataclass(frozen=True)
class DriftFinding:
    """One instance whose PCI devices differ between Placement and the cell
    DB: both sides in full, what differs, and what to do."""

    instance: str
    #: The server's name ("" when the cell DB has no such instance).
    server: str
    hosts: tuple[str, ...]
    #: Provider names (``HOST_ADDRESS``), with ``xN`` when more than one.
    placement: tuple[str, ...]
    cell_db: tuple[str, ...]
    #: Provider names where Placement allocates more / the cell DB gives more.
    only_placement: tuple[str, ...]
    only_cell_db: tuple[str, ...]
    #: What to do, for the whole instance (each device's ``fixes`` joined).
    action: str
    #: Per provider name of ``only_placement`` and ``only_cell_db``: what to do.
    fixes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Per provider name of ``only_cell_db``: the consumers Placement gives
    #: that device to instead (a migration as ``MIGRATION (migration of
    #: INSTANCE)``); empty when it gives it to none.
    instead: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


def host_of(provider: str) -> str:
    """The compute node of a PCI provider named ``HOST_ADDRESS``."""
    return provider.rsplit("_", 1)[0]


def address_of(provider: str) -> str:
    """The PCI address (a device's, or a PF's for its VFs) in a provider name."""
    return provider.rsplit("_", 1)[-1].lower()


def _listed(counts: Mapping[str, int]) -> tuple[str, ...]:
    return tuple(
        name if n == 1 else "%s x%d" % (name, n) for name, n in sorted(counts.items())
    )


def _fold(
    placement: Mapping[str, Mapping[str, int]], migrations: Mapping[str, str]
) -> dict[str, dict[str, int]]:
    """Placement's PCI allocations per instance: a migration's (the source
    host's devices during a move) count as its instance's."""
    out: dict[str, dict[str, int]] = {}
    for consumer, amounts in placement.items():
        mine = out.setdefault(migrations.get(consumer, consumer), {})
        for name, amount in amounts.items():
            if amount > 0:
                mine[name] = mine.get(name, 0) + amount
    return out


def _holders(placement: Mapping[str, Mapping[str, int]]) -> dict[str, list[str]]:
    """{provider name: the consumers Placement allocates it to}."""
    out: dict[str, list[str]] = {}
    for consumer, amounts in sorted(placement.items()):
        for name, amount in amounts.items():
            if amount > 0:
                out.setdefault(name, []).append(consumer)
    return out


def _label(consumer: str, migrations: Mapping[str, str]) -> str:
    """A consumer as a reason names it: a migration with its instance."""
    if consumer in migrations:
        return "%s (migration of %s)" % (consumer, migrations[consumer])
    return consumer


def compare(
    placement: Mapping[str, Mapping[str, int]],
    cell_db: Mapping[str, Mapping[str, int]],
    providers: Mapping[str, str],
    servers: Mapping[str, str] | None = None,
    migrations: Mapping[str, str] | None = None,
    nodes: Mapping[str, str] | None = None,
    deleted: Collection[str] = (),
) -> list[DriftFinding]:
    """Every instance whose Placement PCI allocations differ from the devices
    the cell DB gives it.

    ``placement``: {consumer uuid: {provider name: amount}} on PCI providers;
    ``cell_db``: {instance uuid: {provider name: devices held}} (a VF counts
    on its PF's provider); ``providers``: {provider name: uuid} of every PCI
    provider (cell DB devices on no provider are not tracked in Placement
    and are left out); ``servers``: {instance uuid: name};
    ``migrations``: {migration uuid: instance uuid} for move consumers;
    ``nodes``: {instance uuid: the compute node it is on} (a device held on
    another node is a failed move's leftover; unknown: judged as on its own);
    ``deleted``: instances the cell DB records as deleted (their devices are
    freed by the compute later, Nova defect 4).
    """
    servers = servers or {}
    migrations = migrations or {}
    nodes = nodes or {}
    known = set(servers) | set(cell_db)
    folded = _fold(placement, migrations)
    holders = _holders(placement)
    findings = []
    for instance in sorted(set(folded) | set(cell_db)):
        in_placement = folded.get(instance, {})
        in_db = {
            n: c for n, c in cell_db.get(instance, {}).items() if n in providers and c
        }
        if in_placement == in_db:
            continue
        names = set(in_placement) | set(in_db)
        only_p = {
            n: in_placement[n] - in_db.get(n, 0)
            for n in in_placement
            if in_placement[n] > in_db.get(n, 0)
        }
        only_db = {
            n: in_db[n] - in_placement.get(n, 0)
            for n in in_db
            if in_db[n] > in_placement.get(n, 0)
        }
        fixes = {}
        if instance not in known:
            fixes = {name: ORPHAN_ACTION for name in sorted(only_p)}
        else:
            for name in sorted(only_p):
                fixes[name] = "%s: %s" % (
                    name,
                    STALE_ACTION % (providers.get(name, "RP_UUID"), instance),
                )
            node = nodes.get(instance)
            placed = {host_of(n) for n in in_placement}
            for name in sorted(only_db):
                host = host_of(name)
                if instance in deleted:
                    fixes[name] = DELETED_ACTION % host
                elif node is not None and host != node and host not in placed:
                    fixes[name] = LEFTOVER_ACTION % (node, host, host)
                else:
                    fixes[name] = MISSING_ACTION % host
        findings.append(
            DriftFinding(
                instance,
                servers.get(instance, ""),
                tuple(sorted({host_of(n) for n in names})),
                _listed(in_placement),
                _listed(in_db),
                tuple(sorted(only_p)),
                tuple(sorted(only_db)),
                "; ".join(dict.fromkeys(fixes.values())),
                fixes,
                {
                    name: tuple(
                        _label(c, migrations)
                        for c in holders.get(name, ())
                        if migrations.get(c, c) != instance
                    )
                    for name in sorted(only_db)
                },
            )
        )
    return findings


def sides(finding: DriftFinding) -> str:
    """Both sides of a drift finding, for its row's reason."""
    return "Placement allocates %s, the cell DB gives %s" % (
        ", ".join(finding.placement) or "nothing",
        ", ".join(finding.cell_db) or "nothing",
    )


def reason(finding: DriftFinding) -> str:
    """One sentence for a drift finding: both sides and what to do."""
    return "%s: %s" % (sides(finding), finding.action)


#: Where a differing device is found only, as its row says.
ONLY_PLACEMENT = "allocated in Placement, not held in the cell DB"
ONLY_CELL_DB = "held in the cell DB, not allocated in Placement"


def devices(finding: DriftFinding) -> list[tuple[str, str, str]]:
    """(provider name, reason, what to do) of each device that differs: the
    side it is found on only (for one held only in the cell DB, whom
    Placement gives it to instead) and both sides of the instance."""
    out = [
        (name, "%s; %s" % (ONLY_PLACEMENT, sides(finding)))
        for name in finding.only_placement
    ]
    for name in finding.only_cell_db:
        holders = finding.instead.get(name, ())
        instead = ", ".join(holders) or "no consumer"
        out.append(
            (
                name,
                "%s (Placement gives it to %s); %s"
                % (ONLY_CELL_DB, instead, sides(finding)),
            )
        )
    return [(name, why, finding.fixes.get(name, finding.action)) for name, why in out]


def summary(found: list[DriftFinding]) -> list[tuple[str, str, int, int]]:
    """(scope, name, instances, devices) of the drift ``found``: the total
    ("total", "*") and each host ("host", HOST), as ``audit --summary``
    counts per scope."""
    per_host: dict[str, tuple[set[str], list[str]]] = {}
    for f in found:
        for name in f.only_placement + f.only_cell_db:
            entry = per_host.setdefault(host_of(name), (set(), []))
            entry[0].add(f.instance)
            entry[1].append(name)
    if not per_host:
        return []
    return [("total", "*", len(found), sum(len(d) for _, d in per_host.values()))] + [
        ("host", host, len(i), len(d)) for host, (i, d) in sorted(per_host.items())
    ]
