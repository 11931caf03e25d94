"""Placement's PCI resource providers and their allocations, through the
keystoneauth1 session the CLI already has (``audit``'s drift check).

With ``[pci] report_in_placement`` each compute reports one resource
provider per PCI device (per PF for its VFs), a child of its compute node
provider named ``HOST_ADDRESS`` with the trait ``COMPUTE_MANAGED_PCI_DEVICE``;
none exist when PCI in Placement is off.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exc

from aggregate_pci.admin import errors
from aggregate_pci.admin.checks import drift
from aggregate_pci.admin.nova_io import nova_db
from aggregate_pci.admin.nova_io.deadline import DeadlineSession
from aggregate_pci.errors import Hint

LOG = logging.getLogger(__name__)

#: Placement microversion: 1.18 filters providers by ``required`` traits.
PLACEMENT_VERSION = "1.18"
#: The trait Nova gives every PCI device provider it reports.
PCI_TRAIT = "COMPUTE_MANAGED_PCI_DEVICE"


class PlacementPci:
    """Read-only view of Placement's PCI providers and allocations."""

    def __init__(
        self,
        session: Any,
        *,
        timeout: float,
        region_name: str | None = None,
        interface: str | None = None,
    ) -> None:
        self._api = adapter.Adapter(
            DeadlineSession(session, timeout),
            service_type="placement",
            region_name=region_name,
            interface=interface,
            default_microversion=PLACEMENT_VERSION,
        )

    def _get(self, url: str, action: str) -> Any:
        """GET ``url`` as JSON; failures as ``AdminError``s naming Placement."""
        try:
            return self._api.get(url).json()
        except ks_exc.EndpointNotFound:
            raise errors.Unreachable(
                "cannot %s: no Placement endpoint in the service catalog; "
                "check --os-region-name and --os-interface" % action
            ) from None
        except ks_exc.http.Forbidden as exc:
            raise errors.NotAdmin(
                "admin role required: Placement refused to %s (HTTP 403: %s)"
                % (action, exc)
            ) from None
        except ks_exc.http.HttpError as exc:
            raise errors.AdminError(
                "Placement failed to %s: %s (HTTP %s)" % (action, exc, exc.http_status)
            ) from None
        except (ks_exc.ConnectTimeout, ks_exc.ConnectionError) as exc:
            raise errors.Unreachable(
                "cannot %s: the Placement API did not answer (%s)" % (action, exc),
                hint=Hint(
                    "raise {option} if Placement is just slow, else check that "
                    "it is up",
                    option="timeout",
                ),
            ) from None
        except ks_exc.ClientException as exc:
            raise errors.AdminError("cannot %s: %s" % (action, exc)) from None

    def providers(self) -> dict[str, str]:
        """{provider name: uuid} of every PCI device provider (empty when
        PCI in Placement is off)."""
        body = self._get(
            "/resource_providers?required=%s" % PCI_TRAIT,
            "list Placement's PCI resource providers",
        )
        return {rp["name"]: rp["uuid"] for rp in body.get("resource_providers", [])}

    def allocations(self, providers: dict[str, str]) -> dict[str, dict[str, int]]:
        """{consumer uuid: {provider name: amount}} on ``providers`` (one
        request per provider)."""
        out: dict[str, dict[str, int]] = {}
        for name, uuid in sorted(providers.items()):
            body = self._get(
                "/resource_providers/%s/allocations" % uuid,
                "read the allocations of Placement provider %r" % name,
            )
            for consumer, alloc in (body.get("allocations") or {}).items():
                amount = sum((alloc.get("resources") or {}).values())
                if amount:
                    out.setdefault(consumer, {})[name] = amount
        LOG.debug("%d PCI provider(s), %d consumer(s)", len(providers), len(out))
        return out


def find_drift(
    placement: PlacementPci, ctxt: Any, by_provider: dict[str, dict[str, int]]
) -> list[drift.DriftFinding] | None:
    """Instances whose Placement PCI allocations differ from the devices the
    cell DBs give them (``by_provider``, from ``nova_db.host_pools``); None
    when Placement has no PCI provider (PCI in Placement is off)."""
    providers = placement.providers()
    if not providers:
        return None
    allocations = placement.allocations(providers)
    # Consumers the devices do not explain: migrations, or orphans.
    servers, migrations = nova_db.consumers(ctxt, set(allocations) - set(by_provider))
    found = drift.compare(allocations, by_provider, providers, servers, migrations)
    nodes: dict[str, str] = {}
    deleted: set[str] = set()
    names, _ = nova_db.consumers(ctxt, {f.instance for f in found}, nodes, deleted)
    servers.update(names)
    if any(f.only_cell_db for f in found):
        # What to do about a device only the cell DB has depends on where
        # the instance is, and whether it is deleted: judge those instances
        # again knowing it.
        found = drift.compare(
            allocations, by_provider, providers, servers, migrations, nodes, deleted
        )
    return [dataclasses.replace(f, server=servers.get(f.instance, "")) for f in found]
