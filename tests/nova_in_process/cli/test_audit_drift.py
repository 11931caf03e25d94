"""``audit`` with PCI in Placement on the in-process Nova: a consistent cloud
gives no drift row; a stale Placement allocation (issue 17's leaked device,
written here straight through Placement's API) and a device missing from
Placement each give exactly that server's drift rows and exit status 1;
so does a real cold migration hit by Nova's move-claim defect; with PCI in
Placement off the check says why it was not made."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import json

import fixtures

from tests.fixtures import nova_harness as support

A100 = support.GPU_A100
A100_DEF = '{"vendor_id":"%s","product_id":"%s"}' % A100
BUSES = {"0000:81:00.0": 0x81, "0000:82:00.0": 0x82}


def run_audit(test, *argv):
    """(exit status, rows, stderr) of ``audit ARGV -f json`` in-process, with
    a session whose catalog has Nova's API and Placement."""
    rc, out, err = test.cli(
        "audit", *argv, "-f", "json", session=support.catalog_session(test)
    )
    return rc, json.loads(out) if out else [], err


class DriftBase(support.CliTestBase):
    def setUp(self):
        super().setUp()
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(b, A100) for b in BUSES.values()])
        )
        self.make_aggregate("gpu", ["compute1"], {"pci_flavor:a100": A100_DEF})

    def audit(self, *argv):
        return run_audit(self, *argv)


class PlacementDriftTest(DriftBase):
    PCI_IN_PLACEMENT = True

    def allocations(self, server):
        return self.placement.get("/allocations/%s" % server["id"], version="1.28").body

    def put_allocations(self, server, body, allocs):
        body = dict(body, allocations=allocs)
        resp = self.placement.put(
            "/allocations/%s" % server["id"], body, version="1.28"
        )
        self.assertEqual(204, resp.status, resp.body)

    def test_drift_rows_name_the_server_and_devices(self):
        server = self.boot(self.nova_flavor("a100:1"), name="vm1")
        (held,) = support.instance_devices(self, server)
        self.assertEqual([held], support.placement_pci_allocations(self, server["id"]))
        rps = support.pci_provider_uuids(self)
        (other,) = set(rps) - {held}

        rc, rows, err = self.audit()
        self.assertEqual(0, rc, err)
        self.assertEqual(["yes"], [r["Match"] for r in rows])
        self.assertIn(
            "audit: 0 instance(s) whose Placement PCI allocations differ", err
        )

        # Placement also allocates the other device (the move-claim leak)
        body = self.allocations(server)
        allocs = body["allocations"]
        allocs[rps[other]] = {"resources": dict(allocs[rps[held]]["resources"])}
        self.put_allocations(server, body, allocs)
        rc, rows, err = self.audit()
        self.assertEqual(1, rc, err)
        drift = [r for r in rows if r["Match"] == "drift"]
        self.assertEqual(
            [(server["id"], "vm1", "compute1", other.split("_")[1].lower())],
            [(r["Instance"], r["Server"], r["Host"], r["Address"]) for r in drift],
        )
        reason = drift[0]["Reason"]
        self.assertTrue(
            reason.startswith("allocated in Placement, not held in the cell DB; "
                              "Placement allocates %s, %s, the cell DB gives %s"
                              % (*sorted([held, other]), held)),
            reason,
        )  # fmt: skip
        self.assertIn(
            "'openstack resource provider allocation unset --provider %s %s'"
            % (rps[other], server["id"]),
            drift[0]["To Fix"],
        )
        self.assertIn(
            "audit: 1 instance(s) whose Placement PCI allocations differ", err
        )
        # the device verdict is unchanged; --mismatched keeps the drift row
        self.assertEqual(["yes"], [r["Match"] for r in rows if r not in drift])
        rc, rows, err = self.audit("--mismatched")
        self.assertEqual((1, ["drift"]), (rc, [r["Match"] for r in rows]), err)
        rc, rows, err = self.audit("--placement", "never")
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)

        # Placement now allocates only the other one: two rows, both sides
        del allocs[rps[held]]
        self.put_allocations(server, self.allocations(server), allocs)
        rc, rows, err = self.audit("--mismatched")
        self.assertEqual(1, rc, err)
        self.assertEqual(
            [
                (other.split("_")[1].lower(), "allocated in Placement"),
                (held.split("_")[1].lower(), "held in the cell DB"),
            ],
            [(r["Address"], r["Reason"].split(",")[0]) for r in rows],
        )
        self.assertIn("nova-compute on compute1 adds missing PCI allocations",
                      rows[1]["To Fix"])  # fmt: skip

    def test_inventory_is_not_checked_against_placement(self):
        self.boot(self.nova_flavor("a100:1"))
        path = self.useFixture(fixtures.TempDir()).join("inv.json")
        rc, _, err = self.cli("inventory", "export", "-o", path)
        self.assertEqual(0, rc, err)
        rc, rows, err = self.audit("--inventory", path)
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        self.assertIn("audit: Placement drift not checked: it compares Placement "
                      "with Nova's cell databases", err)  # fmt: skip
        rc, rows, err = self.audit("--inventory", path, "--placement", "never")
        self.assertEqual(0, rc, err)
        self.assertNotIn("Placement drift", err)


class LegacyModeTest(DriftBase):
    PCI_IN_PLACEMENT = False

    def test_says_why_drift_is_not_checked(self):
        self.boot(self.nova_flavor("a100:1"))
        rc, rows, err = self.audit()
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        self.assertIn("the nova.conf sets neither [pci] report_in_placement", err)
        rc, rows, err = self.audit("--placement", "always")
        self.assertEqual((0, ["yes"]), (rc, [r["Match"] for r in rows]), err)
        self.assertIn("Placement has no PCI resource providers", err)

    def test_devices_per_provider_counted_only_for_a_drift_check(self):
        from aggregate_pci.admin.nova_io import nova_db

        self.boot(self.nova_flavor("a100:1"))
        given = []
        real = nova_db.inventory

        def spy(*args, **kwargs):
            given.append(kwargs.get("by_provider"))
            return real(*args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(nova_db, "inventory", spy))
        for placement in ("auto", "never", "always"):
            rc, _, err = self.audit("--placement", placement)
            self.assertEqual(0, rc, err)
        # auto in legacy mode, never: none counted; always: the server's
        self.assertEqual([None, None], given[:2])
        self.assertEqual(1, len(given[2]), given[2])


class MoveClaimDriftTest(support.CliTestBase):
    """Real drift from Nova's move claim (docs/nova-defects.md, defect 1):
    alias ``v100`` is no PCI flavor, so the filter leaves it to Nova, and
    after a cold migration the cell DB gives the server compute2's T4 while
    Placement allocates the V100 (and the T4)."""

    PCI_IN_PLACEMENT = True
    PCI_DEVICE_SPEC = [
        {"vendor_id": A100[0], "product_id": A100[1], "address": "0000:%s:*" % bus,
         "resource_class": "CUSTOM_GPU", "traits": trait}
        for bus, trait in (("81", "CUSTOM_T4"), ("82", "CUSTOM_V100"),
                           ("85", "CUSTOM_T4"), ("86", "CUSTOM_V100"))
    ]  # fmt: skip
    PCI_ALIAS = [
        {"name": "v100", "resource_class": "CUSTOM_GPU", "traits": "CUSTOM_V100"}
    ]

    def setUp(self):
        super().setUp()
        # The libvirt driver's disk copy is not part of what we test.
        self.useFixture(
            fixtures.MockPatch(
                "nova.virt.libvirt.driver.LibvirtDriver.migrate_disk_and_power_off",
                return_value="{}",
            )
        )

    def test_cold_migration_leak_is_reported(self):
        for host, buses in (("compute1", (0x81, 0x82)), ("compute2", (0x85, 0x86))):
            self.start_compute(
                host, pci_info=support.gpu_host([(b, A100) for b in buses])
            )
        flavor = self._create_flavor(
            name="v100", extra_spec={"pci_passthrough:alias": "v100:1"}
        )
        server = self._create_server(
            name="gpu-vm", flavor_id=flavor, networks="none", host="compute1"
        )
        rc, rows, err = run_audit(self)
        self.assertEqual((0, []), (rc, rows), err)
        self.assertIn(
            "audit: 0 instance(s) whose Placement PCI allocations differ", err
        )
        server = self._migrate_server(server)
        # Waiting for confirmation: the migration's allocation of the source
        # V100 counts as the server's (no orphan row, nothing on compute1);
        # the destination already shows the leak.
        rc, rows, err = run_audit(self)
        self.assertEqual(
            (1, [(server["id"], "gpu-vm", "compute2", "0000:86:00.0")]),
            (rc, [(r["Instance"], r["Server"], r["Host"], r["Address"]) for r in rows]),
            err,
        )
        self.assertIn("compute1_0000:82:00.0", rows[0]["Reason"])
        server = self._confirm_resize(server)
        self.assertEqual(
            ["compute2_0000:85:00.0"], support.instance_devices(self, server)
        )
        rc, rows, err = run_audit(self)
        self.assertEqual(1, rc, err)
        self.assertEqual(
            [(server["id"], "gpu-vm", "compute2", "0000:86:00.0", "drift")],
            [
                (r["Instance"], r["Server"], r["Host"], r["Address"], r["Match"])
                for r in rows
            ],  # fmt: skip
        )
        self.assertIn(
            "Placement allocates compute2_0000:85:00.0, compute2_0000:86:00.0, "
            "the cell DB gives compute2_0000:85:00.0",
            rows[0]["Reason"],
        )
