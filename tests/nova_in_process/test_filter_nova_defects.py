"""Nova defects found while proving moves (issue 17), reproduced on plain
Nova: no aggregate, no AggregatePciFilter (docs/nova-defects.md).

Each test asserts Nova's behaviour as it is today.  When one fails, Nova
changed: update docs/nova-defects.md and the filter's compensation
(docs/scheduler.md, "Moves").
"""

import fixtures
import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova import context as nova_context
from nova import objects
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import base
from oslo_serialization import jsonutils

from tests.fixtures import nova_harness as support

GPU = ("10de", "1db4")
OTHER = ("10de", "1eb8")


class _Base(base.ServersTestBase):
    ADMIN_API = True
    microversion = "latest"
    DEVICE_SPEC: list[dict[str, str]] = []
    ALIAS: list[dict[str, str]] = []
    PIP = False

    def setUp(self):
        self.flags(
            device_spec=[jsonutils.dumps(x) for x in self.DEVICE_SPEC],
            alias=[jsonutils.dumps(x) for x in self.ALIAS],
            group="pci",
        )
        if self.PIP:
            self.flags(group="pci", report_in_placement=True)
            self.flags(group="filter_scheduler", pci_in_placement=True)
        super().setUp()
        self.ctxt = nova_context.get_admin_context()
        self.useFixture(
            fixtures.MockPatch(
                "nova.virt.libvirt.driver.LibvirtDriver.migrate_disk_and_power_off",
                return_value="{}",
            )
        )

    def flavor(self, alias):
        return self._create_flavor(
            name=alias, extra_spec={"pci_passthrough:alias": alias}
        )


class MoveClaimIgnoresPlacementTest(_Base):
    """Defect 1: with PCI in Placement, a cold migration's claim
    (ResourceTracker._move_claim) takes the first device the alias spec
    accepts in pool order, not the device Placement allocated."""

    PIP = True
    DEVICE_SPEC = [
        {
            "vendor_id": GPU[0],
            "product_id": GPU[1],
            "address": "0000:%s:*" % bus,
            "resource_class": "CUSTOM_GPU",
            "traits": trait,
        }
        for bus, trait in (
            ("81", "CUSTOM_T4"),
            ("82", "CUSTOM_V100"),
            ("85", "CUSTOM_T4"),
            ("86", "CUSTOM_V100"),
        )
    ]
    ALIAS = [{"name": "v100", "resource_class": "CUSTOM_GPU", "traits": "CUSTOM_V100"}]

    def test_cold_migration_holds_the_device_placement_did_not_allocate(self):
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(0x81, GPU), (0x82, GPU)])
        )
        self.start_compute(
            "compute2", pci_info=support.gpu_host([(0x85, GPU), (0x86, GPU)])
        )
        server = self._create_server(
            flavor_id=self.flavor("v100:1"), networks="none", host="compute1"
        )
        # At boot the claim follows Placement: the V100.
        self.assertEqual(
            ["compute1_0000:82:00.0"], support.instance_devices(self, server)
        )
        server = self._migrate_server(server)
        server = self._confirm_resize(server)
        self.assertEqual("compute2", server["OS-EXT-SRV-ATTR:host"])
        # Expected: the V100 (0000:86:00.0), which Placement allocated.
        # Actual: the T4, first in pool order; the V100 stays allocated in
        # Placement while the cell DB shows it free.
        self.assertEqual(
            ["compute2_0000:85:00.0"], support.instance_devices(self, server)
        )
        # The compute then reports the claimed T4 to Placement as well:
        # the instance consumes both devices there.
        self.assertEqual(
            ["compute2_0000:85:00.0", "compute2_0000:86:00.0"],
            support.placement_pci_allocations(self, server["id"]),
        )


class RevertKeepsNewPciRequestsTest(_Base):
    """Defect 2: revert_resize restores the RequestSpec's flavor and NUMA
    topology but not its pci_requests, so the next move is scheduled for
    the reverted-from flavor's PCI devices."""

    DEVICE_SPEC = [
        {"vendor_id": GPU[0], "product_id": GPU[1]},
        {"vendor_id": OTHER[0], "product_id": OTHER[1]},
    ]
    ALIAS = [support.pci_alias("a", GPU), support.pci_alias("b", OTHER)]

    def test_next_move_is_scheduled_for_the_reverted_flavor(self):
        self.flags(allow_resize_to_same_host=False)
        self.start_compute("compute1", pci_info=support.gpu_host([(0x81, GPU)]))
        self.start_compute("compute2", pci_info=support.gpu_host([(0x82, OTHER)]))
        flavor_a = self.flavor("a:1")
        server = self._create_server(
            flavor_id=flavor_a, networks="none", host="compute1"
        )
        server = self._resize_server(server, self.flavor("b:1"))
        self.assertEqual("compute2", server["OS-EXT-SRV-ATTR:host"])
        server = self._revert_resize(server)
        self.assertEqual("compute1", server["OS-EXT-SRV-ATTR:host"])
        spec = objects.RequestSpec.get_by_instance_uuid(self.ctxt, server["id"])
        self.assertEqual(flavor_a, spec.flavor.flavorid)
        # Expected: "a", the flavor's alias.  Actual: "b".
        self.assertEqual(["b"], [r.alias_name for r in spec.pci_requests.requests])
        # The next cold migration is scheduled for "b": compute2 is the
        # only host with a 1eb8, and its claim (from the instance's flavor,
        # alias "a") fails; no other host passes "b", and the running
        # server ends in ERROR.
        try:
            self.api.post_server_action(server["id"], {"migrate": None})
        except client.OpenStackApiException:
            pass  # the harness runs casts as calls: the failure may surface
        self._wait_for_server_parameter(
            server, {"status": "ERROR", "OS-EXT-STS:task_state": None}
        )
        self.assertIn("Failed to claim: Claim pci failed", self.stdlog.logger.output)
        server = self.api.get_server(server["id"])
        self.assertEqual("compute1", server["OS-EXT-SRV-ATTR:host"])


class DeleteAfterMoveKeepsDevicesTest(_Base):
    """Defect 4: an instance deleted on the host it was cold-migrated (or
    resized) to, after the move was confirmed, keeps its PCI devices held
    on that host until the compute's next ``update_available_resource``
    periodic task: the destination's resource tracker tracks it only as a
    migration until then, and ``update_usage`` skips untracked instances.
    Until then no server can get those devices there."""

    DEVICE_SPEC = [{"vendor_id": GPU[0], "product_id": GPU[1]}]
    ALIAS = [support.pci_alias("gpu", GPU)]

    def test_devices_stay_held_until_the_periodic_task(self):
        self.flags(allow_resize_to_same_host=False)
        self.start_compute("compute1", pci_info=support.gpu_host([(0x81, GPU)]))
        self.start_compute("compute2", pci_info=support.gpu_host([(0x82, GPU)]))
        flavor = self.flavor("gpu:1")
        server = self._create_server(flavor_id=flavor, networks="none", host="compute1")
        server = self._migrate_server(server)
        server = self._confirm_resize(server)
        self.assertEqual("compute2", server["OS-EXT-SRV-ATTR:host"])
        self.assertEqual(
            ["compute2_0000:82:00.0"], support.instance_devices(self, server)
        )
        self._delete_server(server)
        # Expected: compute2's GPU free.  Actual: still held by the deleted
        # instance, in the cell DB and in compute2's pools.
        self.assertEqual(
            {"compute2_0000:82:00.0": server["id"]}, support.held_devices(self)
        )
        if self.PIP:
            # Placement freed it at the delete: the two disagree.
            self.assertEqual({}, support.placement_pci_usage(self))
        # A new server asking for it there fails (the scheduler's view or
        # the compute's claim refuses it) and gets nothing.
        self._create_server(
            flavor_id=flavor, networks="none", host="compute2", expected_state="ERROR"
        )
        self.assertEqual(
            {"compute2_0000:82:00.0": server["id"]}, support.held_devices(self)
        )
        # The periodic task frees it (by default within 60 s).
        self._run_periodics()
        self.assertEqual({}, support.held_devices(self))
        server = self._create_server(flavor_id=flavor, networks="none", host="compute2")
        self.assertEqual(
            ["compute2_0000:82:00.0"], support.instance_devices(self, server)
        )


class PlacementDeleteAfterMoveKeepsDevicesTest(DeleteAfterMoveKeepsDevicesTest):
    """Defect 4 with PCI in Placement: Placement frees the device at the
    delete, the compute does not, so the two disagree until the periodic."""

    PIP = True
