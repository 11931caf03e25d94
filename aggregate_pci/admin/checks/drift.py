"""The drift rule of ``audit``: with PCI in Placement, do Placement's PCI
allocations name the devices the cell DB says each instance holds?

Nova records an instance's PCI devices twice: allocations on the PCI
resource providers (one per device, or per PF for its VFs, named
``HOST_ADDRESS``) and ``pci_devices`` rows in the cell DB.  A move claim that
ignores Placement (docs/nova-defects.md, defect 1) leaves them disagreeing:
the device Placement allocates but the cell DB shows free is lost capacity
until the instance leaves.

Pure: inputs are plain mappings keyed by provider name, so the rule needs
no Nova, no HTTP and no SQL.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

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
    action: str


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


def compare(
    placement: Mapping[str, Mapping[str, int]],
    cell_db: Mapping[str, Mapping[str, int]],
    providers: Mapping[str, str],
    servers: Mapping[str, str] | None = None,
    migrations: Mapping[str, str] | None = None,
) -> list[DriftFinding]:
    """Every instance whose Placement PCI allocations differ from the devices
    the cell DB gives it.

    ``placement``: {consumer uuid: {provider name: amount}} on PCI providers;
    ``cell_db``: {instance uuid: {provider name: devices held}} (a VF counts
    on its PF's provider); ``providers``: {provider name: uuid} of every PCI
    provider (cell DB devices on no provider are not tracked in Placement
    and are left out); ``servers``: {instance uuid: name};
    ``migrations``: {migration uuid: instance uuid} for move consumers.
    """
    servers = servers or {}
    known = set(servers) | set(cell_db)
    folded = _fold(placement, migrations or {})
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
        actions = []
        if instance not in known:
            actions.append(ORPHAN_ACTION)
        else:
            for name in sorted(only_p):
                actions.append(
                    "%s: %s"
                    % (name, STALE_ACTION % (providers.get(name, "RP_UUID"), instance))
                )
            db_hosts = sorted({host_of(n) for n in only_db})
            if db_hosts:
                actions.append(MISSING_ACTION % ", ".join(db_hosts))
        findings.append(
            DriftFinding(
                instance,
                servers.get(instance, ""),
                tuple(sorted({host_of(n) for n in names})),
                _listed(in_placement),
                _listed(in_db),
                tuple(sorted(only_p)),
                tuple(sorted(only_db)),
                "; ".join(actions),
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
