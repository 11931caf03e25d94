"""audit's drift rule: per instance, Placement's PCI allocations against the
devices the cell DB gives it (issue 17's leaked V100), migrations folded
into their instance, devices Placement does not track left out."""

import unittest

from aggregate_pci.admin.checks import drift

T4 = "compute1_0000:81:00.0"
V100 = "compute1_0000:82:00.0"
T4_2 = "compute2_0000:85:00.0"
V100_2 = "compute2_0000:86:00.0"
PF = "compute1_0000:84:00.0"
NIC = "compute1_0000:90:00.0"  # a physical_network device: not in Placement
PROVIDERS = {T4: "rp-t4", V100: "rp-v100", T4_2: "rp-t4-2", V100_2: "rp-v100-2",
             PF: "rp-pf"}  # fmt: skip


def compare(placement, cell_db, servers=None, migrations=None, nodes=None):
    return drift.compare(
        placement, cell_db, PROVIDERS, servers or {"i1": "vm1"}, migrations, nodes
    )


class CompareTest(unittest.TestCase):
    def test_agreeing_sides_give_no_finding(self):
        self.assertEqual([], compare({"i1": {T4: 1}}, {"i1": {T4: 1}}))
        # several VFs of one PF count on the PF's provider
        self.assertEqual([], compare({"i1": {PF: 2}}, {"i1": {PF: 2}}))
        # no PCI anywhere
        self.assertEqual([], compare({}, {}))

    def test_move_claim_leak_is_one_finding_naming_both_sides(self):
        """Issue 17: the cell DB gives the T4, Placement allocates the V100
        (and, after the compute's periodic sync, the T4 too)."""
        (found,) = compare({"i1": {V100_2: 1, T4_2: 1}}, {"i1": {T4_2: 1}})
        self.assertEqual(
            ("i1", "vm1", ("compute2",), (T4_2, V100_2), (T4_2,), (V100_2,), ()),
            (found.instance, found.server, found.hosts, found.placement,
             found.cell_db, found.only_placement, found.only_cell_db),
        )  # fmt: skip
        self.assertIn(
            "'openstack resource provider allocation unset --provider rp-v100-2 i1'",
            found.action,
        )
        self.assertIn("cold-migrate or resize the server", found.action)
        self.assertNotIn("periodic", found.action)
        self.assertEqual(
            "Placement allocates %s, %s, the cell DB gives %s: %s"
            % (T4_2, V100_2, T4_2, found.action),
            drift.reason(found),
        )

    def test_device_only_in_the_cell_db(self):
        (found,) = compare({"i1": {V100: 1}}, {"i1": {T4: 1}})
        self.assertEqual(((V100,), (T4,)), (found.only_placement, found.only_cell_db))
        self.assertIn("nova-compute on compute1 adds missing PCI allocations",
                      found.action)  # fmt: skip
        (found,) = compare({}, {"i1": {T4: 1}})
        self.assertEqual(((), (T4,), ()), (found.placement, found.cell_db,
                                           found.only_placement))  # fmt: skip

    def test_counts_per_provider(self):
        (found,) = compare({"i1": {PF: 3}}, {"i1": {PF: 2}})
        self.assertEqual((("%s x3" % PF,), ("%s x2" % PF,), (PF,)),
                         (found.placement, found.cell_db, found.only_placement))  # fmt: skip

    def test_devices_placement_does_not_track_are_left_out(self):
        self.assertEqual([], compare({"i1": {T4: 1}}, {"i1": {T4: 1, NIC: 1}}))

    def test_migration_consumer_counts_for_its_instance(self):
        """A resize waiting for confirmation: the migration holds the source
        device in Placement, the cell DB gives the instance both."""
        placement = {"i1": {V100_2: 1}, "m1": {T4: 1}}
        cell_db = {"i1": {T4: 1, V100_2: 1}}
        self.assertEqual([], compare(placement, cell_db, migrations={"m1": "i1"}))
        # unknown as a migration, it is an orphan and the instance lacks T4
        mine, orphan = compare(placement, cell_db)
        self.assertEqual((("i1", (T4,)), ("m1", (T4,))),
                         ((mine.instance, mine.only_cell_db),
                          (orphan.instance, orphan.only_placement)))  # fmt: skip
        self.assertIn("nova-manage placement audit", orphan.action)

    def test_orphaned_consumer(self):
        (found,) = compare({"gone": {V100: 1}}, {}, servers={})
        self.assertEqual(("gone", "", (V100,)),
                         (found.instance, found.server, found.only_placement))  # fmt: skip
        self.assertIn("'nova-manage placement audit --verbose'", found.action)

    def test_provider_names(self):
        self.assertEqual(("compute_1.example", "0000:82:00.0"),
                         (drift.host_of("compute_1.example_0000:82:00.0"),
                          drift.address_of("compute_1.example_0000:82:00.0")))  # fmt: skip


class CellDbOnlyTest(unittest.TestCase):
    """A device the cell DB gives the instance and Placement does not: on
    the instance's own node the compute adds the allocation; on another
    node it is a failed move's leftover (docs/nova-defects.md, defect 3:
    Placement back on the source, the target cell's DB still holding the
    device), which that compute frees."""

    def test_failed_cross_cell_resize_leftover(self):
        (found,) = compare(
            {"i1": {T4: 1}}, {"i1": {T4: 1, V100_2: 1}}, nodes={"i1": "compute1"}
        )
        self.assertEqual(((), (V100_2,)), (found.only_placement, found.only_cell_db))
        self.assertEqual({V100_2: ()}, found.instead)
        self.assertEqual(
            {V100_2: drift.LEFTOVER_ACTION % ("compute1", "compute2", "compute2")},
            found.fixes,
        )
        self.assertEqual(found.fixes[V100_2], found.action)
        self.assertEqual(
            [(V100_2,
              "held in the cell DB, not allocated in Placement (Placement gives "
              "it to no consumer); Placement allocates %s, the cell DB gives "
              "%s, %s" % (T4, T4, V100_2),
              found.fixes[V100_2])],
            drift.devices(found),
        )  # fmt: skip

    def test_device_on_the_instances_own_node_is_missing(self):
        for nodes in ({"i1": "compute2"}, None):
            (found,) = compare({}, {"i1": {V100_2: 1}}, nodes=nodes)
            self.assertEqual({V100_2: drift.MISSING_ACTION % "compute2"}, found.fixes)
        # Placement allocates the instance something on that node: its
        # compute heals the rest, wherever the instance is said to be
        (found,) = compare(
            {"i1": {T4_2: 1}}, {"i1": {T4_2: 1, V100_2: 1}}, nodes={"i1": "compute1"}
        )
        self.assertEqual({V100_2: drift.MISSING_ACTION % "compute2"}, found.fixes)

    def test_what_placement_has_instead(self):
        """Whom Placement gives the device to: another instance or a
        migration (named with its instance); never the instance itself or
        its own migration."""
        placement = {"i1": {T4: 1}, "m1": {PF: 1}, "i2": {V100_2: 1, PF: 1},
                     "m2": {V100_2: 1}}  # fmt: skip
        cell_db = {"i1": {T4: 1, V100_2: 1, PF: 2}, "i2": {V100_2: 1, PF: 1}}
        found = compare(placement, cell_db, {"i1": "vm1", "i2": "vm2"},
                        {"m1": "i1", "m2": "i2"}, {"i1": "compute1"})  # fmt: skip
        mine = found[0]
        self.assertEqual(("i1", (PF, V100_2)), (mine.instance, mine.only_cell_db))
        self.assertEqual({V100_2: ("i2", "m2 (migration of i2)"), PF: ("i2",)},
                         mine.instead)  # fmt: skip
        self.assertIn("(Placement gives it to i2, m2 (migration of i2)); ",
                      drift.devices(mine)[1][1])  # fmt: skip

    def test_each_device_row_has_its_own_fix(self):
        (found,) = compare({"i1": {V100: 1}}, {"i1": {T4: 1, T4_2: 1}},
                           nodes={"i1": "compute1"})  # fmt: skip
        rows = drift.devices(found)
        self.assertEqual([V100, T4, T4_2], [name for name, _, _ in rows])
        self.assertTrue(rows[0][1].startswith(drift.ONLY_PLACEMENT + "; "))
        self.assertIn("allocation unset --provider rp-v100 i1", rows[0][2])
        self.assertEqual(drift.MISSING_ACTION % "compute1", rows[1][2])
        self.assertIn("a failed move's leftover", rows[2][2])
        self.assertEqual("; ".join(r[2] for r in rows), found.action)

    def test_summary_per_host_and_in_total(self):
        found = compare({"i1": {V100: 1}, "i2": {V100_2: 1}},
                        {"i1": {T4: 1}, "i3": {T4_2: 1}},
                        {"i1": "vm1", "i2": "vm2", "i3": "vm3"})  # fmt: skip
        self.assertEqual(
            [("total", "*", 3, 4), ("host", "compute1", 1, 2),
             ("host", "compute2", 2, 2)],
            drift.summary(found),
        )  # fmt: skip
        self.assertEqual([], drift.summary([]))


class DeletedInstanceTest(unittest.TestCase):
    """Nova defect 4: a deleted instance's device the cell DB still gives it
    (Placement freed it at the delete) says the compute frees it later."""

    def test_a_deleted_instances_device_says_the_compute_frees_it(self):
        (found,) = drift.compare(
            {}, {"i1": {T4_2: 1}}, PROVIDERS, {"i1": "vm1"}, deleted={"i1"}
        )
        self.assertEqual((T4_2,), found.only_cell_db)
        self.assertEqual(drift.DELETED_ACTION % "compute2", found.fixes[T4_2])
        # not deleted: the missing-allocation advice, as before
        (live,) = drift.compare({}, {"i1": {T4_2: 1}}, PROVIDERS, {"i1": "vm1"})
        self.assertEqual(drift.MISSING_ACTION % "compute2", live.fixes[T4_2])
