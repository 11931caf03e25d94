"""AggregatePciFilter with PCI tracking in Placement on
([pci] report_in_placement, [filter_scheduler] pci_in_placement)."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

from tests.fixtures import nova_harness as support
from tests.fixtures.nova_harness import GPU_A100

A100 = '{"product_id":"20b5","vendor_id":"10de"}'


class PlacementScopingTest(support.AggregatePciTestBase):
    PCI_IN_PLACEMENT = True
    PCI_DEVICE_SPEC = [{"vendor_id": "10de", "product_id": "20b5"}]
    PCI_ALIAS = [
        {
            "name": "a100",
            "vendor_id": "10de",
            "product_id": "20b5",
            "device_type": "type-PCI",
        }
    ]

    def setUp(self):
        super().setUp()
        for host in ("compute1", "compute2"):
            self.start_compute(
                host, pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_A100)])
            )
        self.agg = self.make_aggregate("gpu", ["compute1"])

    def test_scoping_and_exhaustion(self):
        self.set_metadata(self.agg["id"], {"pci_flavor:a100": A100})
        flavor = self.nova_flavor("a100:1")
        hosts = [self.host_of(self.boot(flavor)) for _ in range(2)]
        self.assertEqual(["compute1", "compute1"], hosts)
        self.boot(flavor, expected_state="ERROR")
        self.assertGreater(self.filter_calls["filter_all"], 0)

    def test_address_narrowing_prunes_allocation_candidates(self):
        # Both of compute1's A100s are allocation candidates in Placement;
        # only the one on bus 0x82 matches.  The server must get exactly it.
        self.set_metadata(
            self.agg["id"], {"pci_flavor:a100": A100[:-1] + ',"address":"0000:82:*"}'}
        )
        flavor = self.nova_flavor("a100:1")
        server = self.boot(flavor)
        self.assertEqual("compute1", self.host_of(server))
        devices = self._pci_addresses_of(server)
        self.assertEqual(["0000:82:00.0"], devices)
        self.boot(flavor, expected_state="ERROR")

    def _pci_addresses_of(self, server):
        from nova import objects

        inst = objects.Instance.get_by_uuid(
            self.ctxt, server["id"], expected_attrs=["pci_devices"]
        )
        return sorted(d.address for d in inst.pci_devices)
