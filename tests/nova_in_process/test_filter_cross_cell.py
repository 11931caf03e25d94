"""Cross-cell resize (issue 17): the device stays right when Nova moves an
instance to another cell (policy ``compute:servers:resize:cross_cell``),
in both PCI modes (``PlacementCrossCellResizeTest``: PCI in Placement).

Two cells, one compute each, each with a T4 and a V100 of the same
vendor/product (10de:1db4) told apart by a ``gpu_model`` tag:

- compute1 (cell1): T4 on 0x81, then V100 on 0x82;
- compute2 (cell2): V100 on 0x83, then T4 on 0x84 (V100 first).

Cross-cell resize claims on the target by the instance's PCI requests
(``prep_snapshot_based_resize_at_dest``, a move claim), so the filter's
claim replay applies as in one cell.  Each test asserts the host and the
devices the target cell's DB gives the instance and, with PCI in
Placement, the instance's Placement PCI allocations (Placement is shared by
the cells): at the destination's spawn, and after Nova's rollback.
"""

import fixtures
import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova import context as nova_context
from nova import objects
from nova.compute import manager as compute_manager
from nova.tests.functional.api import client

import aggregate_pci.filter  # noqa: F401  (registers [aggregate_pci] options)
from tests.fixtures import nova_harness as support

GPU_ID = ("10de", "1db4")
LAYOUT = {"compute1": ("cell1", 0x81, 0x82), "compute2": ("cell2", 0x83, 0x84)}
T4 = {"compute1": "0000:81:00.0", "compute2": "0000:84:00.0"}
V100 = {"compute1": "0000:82:00.0", "compute2": "0000:83:00.0"}
T4_DEF = '{"gpu_model":"t4","product_id":"1db4","vendor_id":"10de"}'
V100_DEF = '{"gpu_model":"v100","product_id":"1db4","vendor_id":"10de"}'


def _name(host, address):
    return "%s_%s" % (host, address.upper())


def _device_spec():
    return [
        {
            "vendor_id": GPU_ID[0],
            "product_id": GPU_ID[1],
            "address": where[host][:8] + "*",  # a glob: no sysfs probe
            "gpu_model": model,
        }
        for host in LAYOUT
        for model, where in (("t4", T4), ("v100", V100))
    ]


class CrossCellResizeTest(support.AggregatePciTestBase):
    """PCI in Placement off; ``PlacementCrossCellResizeTest`` turns it on."""

    NUMBER_OF_CELLS = 2
    FLAVORS = {"pci_flavor:t4": T4_DEF, "pci_flavor:v100": V100_DEF}
    PCI_DEVICE_SPEC = _device_spec()
    PCI_ALIAS = [support.pci_alias("t4", GPU_ID), support.pci_alias("v100", GPU_ID)]

    def setUp(self):
        super().setUp()
        support.cross_cell_computes(self, LAYOUT, GPU_ID)
        self.make_aggregate("gpu", list(LAYOUT), self.FLAVORS)
        self.t4 = self.nova_flavor("t4:1")
        self.v100 = self.nova_flavor("v100:1")
        self.t4_big = self._create_flavor(
            name="t4-big", memory_mb=4096, extra_spec={"pci_passthrough:alias": "t4:1"}
        )
        # The instance's Placement PCI allocations when the destination
        # spawns (where defect 3 fails), one entry per spawn.
        self.at_spawn = []
        spawn = (
            compute_manager.ComputeManager._finish_snapshot_based_resize_at_dest_spawn
        )

        def recording_spawn(manager, ctxt, instance, *args, **kwargs):
            self.at_spawn.append(support.placement_pci_allocations(self, instance.uuid))
            return spawn(manager, ctxt, instance, *args, **kwargs)

        self.useFixture(
            fixtures.MonkeyPatch(
                "nova.compute.manager.ComputeManager."
                "_finish_snapshot_based_resize_at_dest_spawn",
                recording_spawn,
            )
        )

    def devices(self, server):
        """Sorted (host, address) of the devices every cell's DB gives
        ``server``."""
        ctxt = nova_context.get_admin_context()
        out = []
        for cell in self.cell_mappings.values():
            if cell.is_cell0():
                continue
            with nova_context.target_cell(ctxt, cell) as cctxt:
                for cn in objects.ComputeNodeList.get_all(cctxt):
                    for dev in objects.PciDeviceList.get_by_compute_node(cctxt, cn.id):
                        if dev.instance_uuid == server["id"]:
                            out.append((cn.hypervisor_hostname, dev.address))
        return sorted(out)

    def assert_placement(self, server, names):
        """With PCI in Placement: ``server``'s PCI allocations name exactly
        the providers ``names`` and no other PCI provider is used."""
        if not self.PCI_IN_PLACEMENT:
            return
        self.assertEqual(
            sorted(names), support.placement_pci_allocations(self, server["id"])
        )
        self.assertEqual({n: 1 for n in names}, support.placement_pci_usage(self))

    def boot_t4_on_compute1(self):
        server = self.boot(self.t4, host="compute1")
        self.assertEqual("compute1", self.host_of(server))
        self.assertEqual([("compute1", T4["compute1"])], self.devices(server))
        self.assert_placement(server, [_name("compute1", T4["compute1"])])
        return server

    def resize_fails_at_spawn(self, server, flavor):
        """Resize ``server`` to ``flavor`` across cells, which Nova 34 fails
        at the destination's spawn with a KeyError (docs/nova-defects.md
        no. 3); the server, back in ERROR, as the API shows it."""
        exc = self.assertRaises(
            client.OpenStackApiException,
            self.api.post_server_action,
            server["id"],
            {"resize": {"flavorRef": flavor}},
        )
        self.assertIn("KeyError", str(exc))
        server = self.api.get_server(server["id"])
        self.assertEqual("ERROR", server["status"])
        self.assertEqual("KeyError", server["fault"]["message"])
        return server

    def test_resize_to_another_pci_flavor_in_another_cell(self):
        # The scheduler sends it to cell2 and the destination's move claim
        # takes the V100 that comes first there: the right device.  Nova
        # then fails the spawn (defect 3): the server stays in cell1, in
        # ERROR, holding its T4 and the V100 claimed for it.
        server = self.boot_t4_on_compute1()
        server = self.resize_fails_at_spawn(server, self.v100)
        (migration,) = self.api.get_migrations()
        self.assertEqual(
            ("compute1", "compute2", "error"),
            (
                migration["source_compute"],
                migration["dest_compute"],
                migration["status"],
            ),
        )
        self.assertEqual(
            [("compute1", T4["compute1"]), ("compute2", V100["compute2"])],
            self.devices(server),
        )
        if self.PCI_IN_PLACEMENT:
            # At the spawn Placement held the same V100 for the instance
            # (the source's allocation is the migration's); Nova's rollback
            # gave the instance back its T4 and freed the V100 in Placement
            # only: cell2's DB keeps it claimed until compute2's periodic
            # update frees it (audit's drift meanwhile: test_audit_cross_cell).
            self.assertEqual([[_name("compute2", V100["compute2"])]], self.at_spawn)
        self.assert_placement(server, [_name("compute1", T4["compute1"])])

    def test_resize_refused_where_the_claim_would_stray(self):
        # compute2's claim of a t4 alias takes its V100 (first in pool
        # order): the filter refuses it, and compute1 is the source.  With
        # PCI in Placement too: the move claim ignores Placement (defect 1).
        server = self.boot_t4_on_compute1()
        exc = self.assertRaises(
            client.OpenStackApiException,
            self.api.post_server_action,
            server["id"],
            {"resize": {"flavorRef": self.t4_big}},
        )
        self.assertIn("NoValidHost", str(exc))
        server = self.api.get_server(server["id"])
        self.assertEqual("compute1", self.host_of(server))
        self.assertEqual([("compute1", T4["compute1"])], self.devices(server))
        self.assertEqual([], self.at_spawn)
        self.assert_placement(server, [_name("compute1", T4["compute1"])])


class PlacementCrossCellResizeTest(CrossCellResizeTest):
    """The same scenarios with ``[pci] report_in_placement`` and
    ``[filter_scheduler] pci_in_placement``: Nova does not refuse a
    cross-cell resize for it, and defect 3 fails it the same way."""

    PCI_IN_PLACEMENT = True


class NovaCrossCellDefectTest(CrossCellResizeTest):
    """Defect 3 on plain Nova: no PCI flavor defined, so AggregatePciFilter
    leaves the requests to Nova (docs/nova-defects.md no. 3)."""

    FLAVORS: dict[str, str] = {}

    def test_resize_to_another_pci_flavor_in_another_cell(self):
        server = self.boot(self.t4, host="compute1")
        self.resize_fails_at_spawn(server, self.v100)
        (migration,) = self.api.get_migrations()
        self.assertEqual("compute2", migration["dest_compute"])
        self.assertEqual("error", migration["status"])

    def test_resize_refused_where_the_claim_would_stray(self):
        # Unmanaged: nothing refuses compute2, whose claim takes its V100
        # for the t4 alias; Nova's spawn then fails as above.
        server = self.boot(self.t4, host="compute1")
        server = self.resize_fails_at_spawn(server, self.t4_big)
        # The source's device is the one Nova chose at boot: with PCI in
        # Placement, whichever device Placement allocated for the alias.
        devices = self.devices(server)
        self.assertEqual(["compute1", "compute2"], [host for host, _ in devices])
        self.assertEqual(V100["compute2"], devices[1][1])


class PlacementNovaCrossCellDefectTest(NovaCrossCellDefectTest):
    """Defect 3 on plain Nova with PCI in Placement: the same KeyError."""

    PCI_IN_PLACEMENT = True
