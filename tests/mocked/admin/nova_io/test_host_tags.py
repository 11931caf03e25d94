"""``--compute-conf`` per host or per pattern (``device_tags.HostTags``): a
host's own name wins, then the first pattern given that matches it; each
nova.conf is read once however many hosts share it."""

import json
import os
import tempfile
import unittest
from unittest import mock

from aggregate_pci.admin.nova_io import device_tags


class Dev:
    vendor_id, product_id, parent_addr = "10de", "1db4", None
    address, card_serial_number = "0000:81:00.0", None


def conf(directory, name, physnet):
    path = os.path.join(directory, name)
    spec = {"vendor_id": "10de", "product_id": "1db4", "physical_network": physnet}
    with open(path, "w") as f:
        f.write("[pci]\ndevice_spec = %s\n" % json.dumps(spec))
    return path


class HostTagsTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.a = conf(tmp.name, "a.conf", "net-a")
        self.b = conf(tmp.name, "b.conf", "net-b")

    def physnet(self, tags, host):
        found = tags.get(host)
        return None if found is None else found(Dev())["physical_network"]

    def test_own_name_then_first_matching_pattern(self):
        reads = []
        real = device_tags.spec_tags

        def counted(path=None):
            reads.append(path)
            return real(path)

        with mock.patch.object(device_tags, "spec_tags", counted):
            tags = device_tags.HostTags(
                {"gpu-1*": self.b, "gpu-*": self.a, "gpu-12": self.a, "x?": self.b}
            )
        self.assertEqual(sorted([self.a, self.b]), sorted(reads))  # once each
        self.assertEqual("net-a", self.physnet(tags, "gpu-12"))  # own name wins
        self.assertEqual("net-b", self.physnet(tags, "gpu-13"))  # first pattern
        self.assertEqual("net-a", self.physnet(tags, "gpu-2"))
        self.assertEqual("net-b", self.physnet(tags, "x1"))
        self.assertIsNone(self.physnet(tags, "x12"))
        self.assertIsNone(self.physnet(tags, "GPU-2"))  # case-sensitive
        self.assertEqual("default", tags.get("other", "default"))

    def test_unmatched_names_and_patterns(self):
        self.assertEqual(
            ["gpu-9", "z*"],
            device_tags.unmatched(
                ["gpu-1", "gpu-9", "gpu-[12]", "z*"], ["gpu-1", "gpu-2"]
            ),
        )
