"""OpenStackClient plugin: ``openstack pci flavor ...`` (same commands).

OSC loads this module through the ``openstack.cli.extension`` entry point
and the commands from the ``openstack.pci_flavor.v1`` group.
"""

from __future__ import annotations

import argparse
from typing import Any

from aggregate_pci.admin import client

# OpenStackClient's plugin protocol: it reads these names from every plugin.
# There is one version of this plugin, so no option to choose one is offered.
API_NAME = "pci_flavor"
API_VERSION_OPTION = "os_pci_flavor_api_version"
DEFAULT_API_VERSION = "1"
API_VERSIONS = ("1",)


def make_client(instance: Any) -> client.PciFlavorAdmin:
    """The library client on OSC's keystoneauth1 session."""
    return client.PciFlavorAdmin(
        instance.session,
        region_name=instance.region_name,
        endpoint_type=instance.interface,
    )


def build_option_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Part of OSC's plugin protocol: this plugin adds no global options."""
    return parser
