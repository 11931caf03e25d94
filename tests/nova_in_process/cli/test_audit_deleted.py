"""``audit`` on Nova defect 4 (docs/nova-defects.md): a server deleted right
after a confirmed cold migration keeps its device held on the destination
until that compute's periodic update.  With PCI in Placement, Placement
frees the device at the delete, so it is a drift row whose advice says the
instance is deleted and the compute frees the device later; after the
periodic update the audit is clean."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import json

import fixtures

from tests.fixtures import nova_harness as support

GPU_ID = ("10de", "1db4")


class PlacementDeletedAfterMoveTest(support.CliTestBase):
    PCI_IN_PLACEMENT = True
    PCI_DEVICE_SPEC = [{"vendor_id": GPU_ID[0], "product_id": GPU_ID[1]}]
    PCI_ALIAS = [support.pci_alias("gpu", GPU_ID)]

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=False)
        self.useFixture(
            fixtures.MockPatch(
                "nova.virt.libvirt.driver.LibvirtDriver.migrate_disk_and_power_off",
                return_value="{}",
            )
        )
        self.start_compute("compute1", pci_info=support.gpu_host([(0x81, GPU_ID)]))
        self.start_compute("compute2", pci_info=support.gpu_host([(0x82, GPU_ID)]))

    def audit(self):
        rc, out, err = self.cli(
            "audit", "-f", "json", session=support.catalog_session(self)
        )
        return rc, json.loads(out) if out else [], err

    def test_deleted_instances_device_until_the_compute_frees_it(self):
        gpu = self.nova_flavor("gpu:1", name="gpu")
        server = self.boot(gpu, host="compute1", name="vm1")
        server = self._migrate_server(server)
        server = self._confirm_resize(server)
        self.assertEqual("compute2", self.host_of(server))
        self._delete_server(server)
        self.assertEqual(
            {"compute2_0000:82:00.0": server["id"]}, support.held_devices(self)
        )
        rc, rows, err = self.audit()
        self.assertEqual(1, rc, err)
        self.assertEqual(
            [(server["id"], "compute2", "0000:82:00.0", "drift")],
            [(r["Instance"], r["Host"], r["Address"], r["Match"]) for r in rows],
        )
        self.assertTrue(
            rows[0]["To Fix"].startswith(
                "the instance is deleted: nova-compute on compute2 frees its "
                "devices in its next periodic resource update"
            ),
            rows[0]["To Fix"],
        )
        self._run_periodics()
        self.assertEqual({}, support.held_devices(self))
        rc, rows, err = self.audit()
        self.assertEqual((0, []), (rc, rows), err)
