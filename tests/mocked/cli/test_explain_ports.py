"""``explain --physnet P --vnic-type T`` (issue 20): a what-if Neutron port
judged with the filter's own code, from an inventory; the vnic_type to
device type mapping is Nova's."""

import io
import json
import os
import tempfile
import unittest

from nova.network import model as network_model
from nova.pci import request as pci_request

from aggregate_pci.admin.checks import explain
from aggregate_pci.cli import shell

CX5 = '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF","physical_network":"physnet2"}'


def vf_pool(count):
    return {
        "vendor_id": "15b3",
        "product_id": "101e",
        "dev_type": "type-VF",
        "numa_node": 0,
        "address": "0000:3b:00.0",
        "physical_network": "physnet2",
        "remote_managed": "false",
        "count": count,
        "used": 0,
    }


class ExplainPortsCliTest(unittest.TestCase):
    def setUp(self):
        doc = {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [
                {
                    "name": "rack1-sriov",
                    "hosts": ["compute1"],
                    "metadata": {"pci_flavor:physnet2-cx5": CX5},
                },
                {"name": "rack2", "hosts": ["compute2"], "metadata": {}},
            ],
            "hosts": {"compute1": [vf_pool(2)], "compute2": [vf_pool(4)]},
            "nova_flavors": [],
        }
        fd, self.path = tempfile.mkstemp(suffix=".json")
        self.addCleanup(os.unlink, self.path)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)

    def run_cli(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        rc = shell.main(list(argv), stdout=out, stderr=err)
        return rc, out.getvalue(), err.getvalue()

    def test_what_if_port_verdicts(self):
        rc, out, err = self.run_cli(
            "explain",
            "--inventory",
            self.path,
            "--physnet",
            "physnet2",
            "--vnic-type",
            "direct",
            "-f",
            "json",
        )
        self.assertEqual(0, rc, err)
        rows = {r["Host"]: r for r in json.loads(out)}
        self.assertEqual(
            "no: out of scope (physnet2 managed by rack1-sriov)",
            rows["compute2"]["Verdict"],
        )
        self.assertTrue(rows["compute1"]["Verdict"].startswith("yes"), rows["compute1"])
        self.assertIn("manage_port_requests = true", err)

    def test_direct_physical_lacks_a_pf_everywhere(self):
        rc, out, err = self.run_cli(
            "explain",
            "--inventory",
            self.path,
            "--physnet",
            "physnet2",
            "--vnic-type",
            "direct-physical",
            "-f",
            "json",
        )
        self.assertEqual(1, rc, err)
        rows = {r["Host"]: r["Verdict"] for r in json.loads(out)}
        self.assertEqual("no: lacks devices", rows["compute1"])

    def test_vnic_type_needs_physnet(self):
        rc, _, err = self.run_cli(
            "explain",
            "--inventory",
            self.path,
            "--request",
            "a:1",
            "--vnic-type",
            "direct",
        )
        self.assertEqual(1, rc)
        self.assertIn("give --physnet", err)

    def test_vnic_types_are_novas(self):
        self.assertEqual(
            dict(pci_request.DEVICE_TYPE_FOR_VNIC_TYPE), explain.VNIC_DEV_TYPES
        )
        self.assertEqual(
            tuple(network_model.VNIC_TYPES_SRIOV), explain.SRIOV_VNIC_TYPES
        )


if __name__ == "__main__":
    unittest.main()
