"""A fake Nova virt driver with per-host PCI devices (tools/cloud.sh).

tools/cloud.sh copies this module into the cloud venv as
``nova/virt/aggregate_pci_fake.py`` (Nova loads ``compute_driver`` from the
``nova.virt`` namespace) and sets ``compute_driver =
aggregate_pci_fake.PciFakeDriver``.

Nova's ``fake.FakeDriverWithPciResources`` reports the same three PFs with
``'fake-vendor_id'`` on every host: MariaDB's ``pci_devices.vendor_id`` is
VARCHAR(4) and Nova refuses ``[pci] alias`` entries without 4-hex-digit ids.
This subclass reports the devices listed in ``$state_path/fake_pci_devices.json``
instead (one JSON list of Nova's PCI device dicts per compute).
"""

import json
import os

import nova.conf
from nova.virt import fake
from oslo_serialization import jsonutils

CONF = nova.conf.CONF


class PciFakeDriver(fake.FakeDriverWithPciResources):
    def get_available_resource(self, nodename):
        status = super().get_available_resource(nodename)
        path = os.path.join(CONF.state_path, "fake_pci_devices.json")
        with open(path) as f:
            devices = json.load(f)
        status["pci_passthrough_devices"] = jsonutils.dumps(devices)
        return status
