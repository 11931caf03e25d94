"""aggregate_pci.admin.nova_io.device_tags.UsedPools (issue 21): one dict
per distinct used-device pool over a read, equal to ``used_pool`` of each
device, whether its tags come from the free pool at its address (by
identity) or from device_spec matching (by what matching reads)."""

import itertools
import unittest

from aggregate_pci.admin.nova_io import device_tags
from aggregate_pci.admin.nova_io.cell_reads import UsedDevice


def device(address, product="1db4", parent=None, extra=None, node=1, uuid="i1",
           numa=0):  # fmt: skip
    return UsedDevice(
        (node, address, "10de", product, "type-PCI", parent, numa, "allocated",
         uuid, "r1", extra)
    )  # fmt: skip


def spec_tags(dev):
    """Tags by what matching can read: the address and extra_info."""
    return {"physical_network": "net-%s-%s" % (dev.address[-1], dev._extra_info)}


def other_tags(dev):
    return {"trusted": "true"}


class UsedPoolsTest(unittest.TestCase):
    def test_equal_to_used_pool_and_shared_when_equal(self):
        pools = device_tags.UsedPools()
        free_a = {
            "vendor_id": "10de",
            "address": "0000:81:00.0",
            "physical_network": "p",
        }
        free_b = dict(free_a, physical_network="q")  # an equal address, other tags
        cases = itertools.product(
            [{}, {"0000:81:00.0": free_a}, {"0000:81:00.0": free_b}],
            [spec_tags, other_tags],
            [
                device("0000:81:00.0"),
                device("0000:81:00.0", node=2, uuid="i2"),
                device("0000:81:00.0", numa=1),
                device("0000:81:00.1", parent="0000:81:00.0"),
                device("0000:82:00.0"),
                device("0000:82:00.0", extra='{"capabilities": "{}"}'),
                device("0000:82:00.0", product="1eb8"),
            ],
        )
        for free_at, tags, dev in cases:
            got = pools(dev, free_at, tags)
            self.assertEqual(device_tags.used_pool(dev, free_at, tags), got)
            # another node's and instance's device alike: the same dict
            twin = device(dev.address, dev.product_id, dev.parent_addr,
                          dev._extra_info, node=9, uuid="i9",
                          numa=dev.numa_node)  # fmt: skip
            self.assertIs(got, pools(twin, free_at, tags))

    def test_a_free_pool_whose_id_is_taken_again(self):
        pools = device_tags.UsedPools()
        dev = device("0000:81:00.0")
        free = {"address": "0000:81:00.0", "physical_network": "p"}
        self.assertEqual(
            "p", pools(dev, {"0000:81:00.0": free}, spec_tags)["physical_network"]
        )
        del free  # the memo holds it: no other dict can take its id
        other = {"address": "0000:81:00.0", "physical_network": "q"}
        self.assertEqual(
            "q", pools(dev, {"0000:81:00.0": other}, spec_tags)["physical_network"]
        )
