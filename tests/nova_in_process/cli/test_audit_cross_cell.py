"""``audit`` on the state a failed cross-cell resize leaves (docs/nova-defects.md,
defect 3): the target cell's DB still holds the device the destination's
move claim took while Placement's allocation is back on the source.  With
PCI in Placement that device is a drift row (held in the cell DB, not
allocated in Placement) saying whom Placement gives it to and that the
destination's periodic update frees it, which it then does; in the summary
too.  With PCI in Placement off nothing new is reported."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import json
import uuid

from nova.tests.functional.api import client

from tests.fixtures import nova_harness as support

GPU_ID = ("10de", "1db4")
#: compute1 in cell1, compute2 in cell2, two 10de:1db4 GPUs each.
LAYOUT = {"compute1": ("cell1", 0x81, 0x82), "compute2": ("cell2", 0x83, 0x84)}


class CrossCellLeftoverBase(support.CliTestBase):
    """Defect 3 on plain Nova (no PCI flavor: the filter leaves the aliases
    to Nova), as ``NovaCrossCellDefectTest`` reproduces it."""

    NUMBER_OF_CELLS = 2
    PCI_DEVICE_SPEC = [{"vendor_id": GPU_ID[0], "product_id": GPU_ID[1]}]
    PCI_ALIAS = [support.pci_alias("t4", GPU_ID), support.pci_alias("v100", GPU_ID)]

    def setUp(self):
        super().setUp()
        support.cross_cell_computes(self, LAYOUT, GPU_ID)

    def audit(self, *argv, fmt="json"):
        """(exit status, rows or text, stderr) of ``audit ARGV -f FMT``."""
        rc, out, err = self.cli(
            "audit", *argv, "-f", fmt, session=support.catalog_session(self)
        )
        return rc, (json.loads(out) if out else []) if fmt == "json" else out, err

    def failed_cross_cell_resize(self):
        """A server booted with t4:1 on compute1 whose resize to v100:1 (to
        compute2, in cell2) Nova fails at the destination's spawn."""
        t4 = self.nova_flavor("t4:1", name="t4")
        v100 = self.nova_flavor("v100:1", name="v100")
        server = self.boot(t4, host="compute1", name="vm1")
        rc, rows, err = self.audit()
        self.assertEqual((0, []), (rc, rows), err)
        exc = self.assertRaises(
            client.OpenStackApiException,
            self.api.post_server_action,
            server["id"],
            {"resize": {"flavorRef": v100}},
        )
        self.assertIn("KeyError", str(exc))
        self.assertEqual("compute1", self.host_of(self.api.get_server(server["id"])))
        return server


class PlacementCrossCellLeftoverTest(CrossCellLeftoverBase):
    PCI_IN_PLACEMENT = True

    def put_orphan_allocation(self, name):
        """A consumer no instance has, allocated provider ``name`` through
        Placement's API; its uuid."""
        rp = support.pci_provider_uuids(self)[name]
        inventory = self.placement.get("/resource_providers/%s/inventories" % rp).body[
            "inventories"
        ]
        (rc,) = inventory
        consumer = str(uuid.uuid4())
        body = {
            "allocations": {rp: {"resources": {rc: 1}}},
            "project_id": self.api.project_id,
            "user_id": "admin",
            "consumer_generation": None,
        }
        resp = self.placement.put("/allocations/%s" % consumer, body, version="1.28")
        self.assertEqual(204, resp.status, resp.body)
        return consumer

    def test_leftover_device_is_reported_until_the_compute_frees_it(self):
        server = self.failed_cross_cell_resize()
        # Placement: the device Nova allocated at boot; the cell DBs: that
        # one and compute2's first (the move claim follows pool order)
        (source,) = support.placement_pci_allocations(self, server["id"])
        leftover = "compute2_0000:83:00.0"
        self.assertEqual(
            sorted([source, leftover]), support.devices_in_all_cells(self, server)
        )

        rc, rows, err = self.audit()
        self.assertEqual(1, rc, err)
        self.assertEqual(
            [(server["id"], "vm1", "compute2", "0000:83:00.0", "drift")],
            [(r["Instance"], r["Server"], r["Host"], r["Address"], r["Match"])
             for r in rows],
        )  # fmt: skip
        self.assertEqual(
            "held in the cell DB, not allocated in Placement (Placement gives "
            "it to no consumer); Placement allocates %s, the cell DB gives %s, %s"
            % (source, source, leftover),
            rows[0]["Reason"],
        )
        self.assertTrue(
            rows[0]["To Fix"].startswith(
                "the instance is on compute1, not on compute2: a failed move's "
                "leftover (e.g. a failed cross-cell resize); nova-compute on "
                "compute2 frees it in its periodic resource update"
            ),
            rows[0]["To Fix"],
        )
        self.assertIn(
            "audit: 1 instance(s) whose Placement PCI allocations differ", err
        )
        # the table says the same
        rc, text, err = self.audit("-c", "Host", "-c", "Address", "-c", "Match",
                                   fmt="value")  # fmt: skip
        self.assertEqual((1, "compute2 0000:83:00.0 drift\n"), (rc, text), err)
        # and the summary: the drift per host and in total
        rc, rows, err = self.audit("--summary")
        self.assertEqual(1, rc, err)
        self.assertEqual(
            [("(Placement drift)", "total", "*", 1, 1, 1, 0),
             ("(Placement drift)", "host", "compute2", 1, 1, 1, 0)],
            [tuple(r.values()) for r in rows],
        )  # fmt: skip

        # What Placement has instead: another consumer holds that device
        orphan = self.put_orphan_allocation(leftover)
        rc, rows, err = self.audit()
        self.assertEqual(1, rc, err)
        by_instance = {r["Instance"]: r for r in rows}
        self.assertEqual({server["id"], orphan}, set(by_instance))
        self.assertIn(
            "held in the cell DB, not allocated in Placement (Placement gives "
            "it to %s); " % orphan,
            by_instance[server["id"]]["Reason"],
        )
        self.assertIn("nova-manage placement audit", by_instance[orphan]["To Fix"])
        resp = self.placement.delete("/allocations/%s" % orphan)
        self.assertEqual(204, resp.status, resp.body)

        # As the hint says: compute2's periodic update frees the device
        self._run_periodics()
        self.assertEqual([source], support.devices_in_all_cells(self, server))
        rc, rows, err = self.audit()
        self.assertEqual((0, []), (rc, rows), err)
        self.assertIn(
            "audit: 0 instance(s) whose Placement PCI allocations differ", err
        )


class LegacyCrossCellLeftoverTest(CrossCellLeftoverBase):
    PCI_IN_PLACEMENT = False

    def test_nothing_new_is_reported(self):
        server = self.failed_cross_cell_resize()
        held = support.devices_in_all_cells(self, server)
        self.assertEqual(["compute1", "compute2"], [n.split("_")[0] for n in held])
        for argv in ((), ("--placement", "always"), ("--summary",)):
            rc, rows, err = self.audit(*argv)
            self.assertEqual((0, []), (rc, rows), (argv, err))
            self.assertNotIn("differ from the devices", err)
        # compute2's periodic update frees the leftover here too
        self._run_periodics()
        self.assertEqual(held[:1], support.devices_in_all_cells(self, server))
