"""aggregate_pci.admin.nova_io.allocation_reads.HeldDevices (issue 21): a
held device as its allocation reports it, one object per device alike,
tagged by its own compute's ``[pci] device_spec`` (None when no compute
nova.conf was given for its host)."""

import unittest

from aggregate_pci.admin.nova_io.allocation_reads import HeldDevices
from aggregate_pci.admin.nova_io.cell_reads import UsedDevice


def device(address, node=1, uuid="i1", request="r1"):
    return UsedDevice(
        (node, address, "10de", "1db4", "type-PCI", None, 0, "allocated",
         uuid, request, None)
    )  # fmt: skip


class HeldDevicesTest(unittest.TestCase):
    def test_each_device_tagged_by_its_own_host(self):
        held = HeldDevices(
            {
                "src": lambda dev: {"physical_network": "net-src"},
                "dst": lambda dev: {"physical_network": "net-dst"},
            }
        )
        # one instance moving: allocated on src, claimed on dst
        on_src = held("src", device("0000:81:00.0"))
        on_dst = held("dst", device("0000:81:00.0", node=2))
        self.assertEqual({"physical_network": "net-src"}, dict(on_src.tags))
        self.assertEqual({"physical_network": "net-dst"}, dict(on_dst.tags))
        self.assertIsNone(held("other", device("0000:81:00.0")).tags)
        self.assertIsNone(on_src.alias)

    def test_devices_alike_are_one_object(self):
        held = HeldDevices({})
        a = held("h1", device("0000:81:00.0", node=1, uuid="i1", request="r1"))
        b = held("h2", device("0000:81:00.0", node=2, uuid="i2", request="r2"))
        c = held("h1", device("0000:82:00.0"))
        self.assertIs(a, b)
        self.assertIsNot(a, c)
        self.assertEqual(
            ("0000:81:00.0", "10de", "1db4"), (a.address, a.vendor_id, a.product_id)
        )
