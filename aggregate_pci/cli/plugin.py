"""OpenStackClient plugin: ``openstack pci flavor ...`` (same commands).

OSC loads this module through the ``openstack.cli.extension`` entry point
and the commands from the ``openstack.pci_flavor.v1`` group.
"""

from __future__ import annotations

import argparse
from typing import Any

from aggregate_pci.admin.nova_io import client

# OpenStackClient's plugin protocol: it reads these names from every plugin.
# There is one version of this plugin, so no option to choose one is offered.
API_NAME = "pci_flavor"
API_VERSION_OPTION = "os_pci_flavor_api_version"
DEFAULT_API_VERSION = "1"
API_VERSIONS = ("1",)


def make_client(instance: Any, timeout: float | None = None) -> client.PciFlavorAdmin:
    """The library client on OSC's keystoneauth1 session; ``timeout``
    (seconds per request) is set on that session."""
    return client.PciFlavorAdmin(
        instance.session,
        region_name=instance.region_name,
        endpoint_type=instance.interface,
        timeout=timeout,
    )


def build_option_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The request timeout of ``openstack pci flavor`` (OSC's plugin
    protocol calls this early, so the secret-masking log filter goes in
    here too)."""
    parser.add_argument(
        "--os-pci-flavor-timeout",
        metavar="<seconds>",
        type=float,
        default=None,
        help="pci flavor commands: longest wait, retries included, for each "
        "Compute API request, each Nova database read and a MySQL migration "
        "source (default 30)",
    )
    from aggregate_pci.cli import secrets

    secrets.install_log_filter()
    return parser
