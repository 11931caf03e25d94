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


def compare(placement, cell_db, servers=None, migrations=None):
    return drift.compare(
        placement, cell_db, PROVIDERS, servers or {"i1": "vm1"}, migrations
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
