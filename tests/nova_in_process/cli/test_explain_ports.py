"""``explain --server`` for a server whose SR-IOV port got "No valid host"
(issue 20), on a real in-process Nova: the instance's port PCI requests are
read from the cell DB and judged with the filter's own code, the verdicts
equal what the filter did, and out-of-scope hosts name the aggregate that
manages the physical network.  (Setup as tests/nova_in_process/test_filter_ports.py.)
"""

import copy
import io
import json
import random

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import base
from oslo_utils import uuidutils

import aggregate_pci.filter  # noqa: F401  (registers [aggregate_pci] options)
from aggregate_pci.cli import shell
from tests.fixtures import nova_harness as support

VF = (fakelibvirt.PCI_VEND_ID, fakelibvirt.VF_PROD_ID)  # 8086:1515
PHYSNET4_VF = (
    '{"vendor_id":"8086","product_id":"1515","device_type":"type-VF",'
    '"physical_network":"physnet4"}'
)
HOSTS = ("compute1", "compute2", "compute3")


class ExplainServerPortsTest(support.AggregatePciTestBase):
    PCI_DEVICE_SPEC = [
        {"vendor_id": VF[0], "product_id": VF[1], "physical_network": "physnet4"}
    ]
    PCI_ALIAS = []

    def setUp(self):
        self.flags(manage_port_requests=True, group="aggregate_pci")
        super().setUp()
        self.neutron = self.useFixture(base.LibvirtNeutronFixture(self))
        for host in HOSTS:
            self.start_compute(
                host,
                pci_info=fakelibvirt.HostPCIDevicesInfo(
                    numa_node=0, num_pci=0, num_pfs=1, num_vfs=2
                ),
            )
        self.make_aggregate(
            "physnet4-rack1", ["compute1"], {"pci_flavor:physnet4-vf": PHYSNET4_VF}
        )
        self.flavor = self._create_flavor(name="plain")

    def boot_port(self, expected_state="ACTIVE"):
        port = copy.deepcopy(self.neutron.network_4_port_1)
        port["id"] = uuidutils.generate_uuid()
        port["mac_address"] = "fa:16:3e:%02x:%02x:%02x" % tuple(
            random.randint(0, 255) for _ in range(3)
        )
        port_id = self.neutron.create_port({"port": port})["port"]["id"]
        return self._create_server(
            flavor_id=self.flavor,
            networks=[{"port": port_id}],
            expected_state=expected_state,
        )

    def explain_rows(self, *args):
        out, err = io.StringIO(), io.StringIO()
        rc = shell.main(
            ["explain", *args, "-f", "json"],
            stdout=out,
            stderr=err,
            nova_context=self.ctxt,
        )
        return rc, {r["Host"]: r for r in json.loads(out.getvalue())}, err.getvalue()

    def test_server_with_a_port_that_got_no_valid_host(self):
        for _ in range(2):
            self.assertEqual("compute1", self.host_of(self.boot_port()))
        failed = self.boot_port(expected_state="ERROR")
        self.assertIn("No valid host", failed["fault"]["message"])
        rc, rows, err = self.explain_rows("--server", failed["id"])
        self.assertEqual(1, rc, err)
        self.assertIn("1 Neutron-port PCI request(s)", err)
        self.assertEqual(
            "no: out of scope (physnet4 managed by physnet4-rack1)",
            rows["compute2"]["Verdict"],
        )
        self.assertEqual("no: lacks devices", rows["compute1"]["Verdict"])
        self.assertEqual(
            "PCI flavor 'port:physnet4' could not be served: 0 free device(s) "
            "matched, 1 asked for",
            rows["compute1"]["Reason"],
        )
        # what if: the same port as --physnet
        rc, what_if, err = self.explain_rows("--physnet", "physnet4")
        self.assertEqual(
            {h: r["Verdict"] for h, r in rows.items()},
            {h: r["Verdict"] for h, r in what_if.items()},
        )
