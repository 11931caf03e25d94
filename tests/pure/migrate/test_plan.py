"""The pure migration plan: targets, changes, conflicts, bad entries."""

import unittest

from aggregate_pci import codec
from aggregate_pci.admin.models import Aggregate
from aggregate_pci.alias import Refused
from aggregate_pci.migrate import plan, target_choice
from aggregate_pci.migrate.model import SourceFlavor

A100 = '{"product_id":"20b5","vendor_id":"10de"}'
T4 = '{"product_id":"1eb8","vendor_id":"10de"}'


def flavors(**values):
    return {
        name: SourceFlavor(name, codec.parse_value(v), "row %s" % name)
        for name, v in values.items()
    }


def agg(name, hosts=(), **metadata):
    return Aggregate(0, name, None, tuple(hosts), metadata)


class TargetsTest(unittest.TestCase):
    def test_mapping_requires_every_flavor(self):
        targets = target_choice.targets_from_mapping(
            {"a100": ["gpu", "gpu2"], "ghost": "x"}, ["a100", "t4"]
        )
        self.assertEqual({"a100": ["gpu", "gpu2"]}, targets.by_flavor)
        self.assertEqual(1, len(targets.errors))
        self.assertIn("flavor 't4' is not in the mapping file", targets.errors[0])
        self.assertIn("'ghost'", targets.warnings[0])

    def test_mapping_empty_list_leaves_flavor_out(self):
        targets = target_choice.targets_from_mapping(
            {"a100": "gpu", "t4": []}, ["a100", "t4"]
        )
        self.assertEqual([], targets.errors)
        self.assertEqual({"a100": ["gpu"], "t4": []}, targets.by_flavor)

    def test_mapping_shape_errors(self):
        self.assertIn(
            "JSON object", target_choice.targets_from_mapping(["a"], ["a"]).errors[0]
        )
        self.assertIn(
            "mapping of flavor 'a'",
            target_choice.targets_from_mapping({"a": 3}, ["a"]).errors[0],
        )

    def test_auto_aggregates_from_pools(self):
        inventory = {
            "c1": [{"vendor_id": "10de", "product_id": "20b5", "count": 0}],
            "c2": [{"vendor_id": "10DE", "product_id": "1eb8", "count": 2}],
            "c3": [],
        }
        targets = target_choice.targets_auto(
            flavors(a100=A100, t4=T4, nic='{"vendor_id":"15b3","product_id":"101e"}'),
            inventory,
        )
        self.assertEqual(
            {"pci-flavor-a100": ["c1"], "pci-flavor-t4": ["c2"], "pci-flavor-nic": []},
            targets.hosts,
        )
        self.assertEqual(["pci-flavor-a100"], targets.by_flavor["a100"])
        self.assertIn("'nic' matches no host", targets.warnings[0])


class BuildPlanTest(unittest.TestCase):
    def test_new_keys_one_step_per_aggregate(self):
        src = flavors(a100=A100, t4=T4)
        result = plan.build_migration_plan(
            src,
            target_choice.targets_single("gpu", src),
            [agg("gpu", ["c1"], other="x")],
        )
        self.assertFalse(result.blocked)
        self.assertEqual(1, len(result.steps))
        self.assertEqual(
            {"pci_flavor:a100": A100, "pci_flavor:t4": T4}, result.steps[0].metadata()
        )
        self.assertEqual(2, result.change_count)

    def test_equal_definition_spelled_differently_is_unchanged(self):
        src = flavors(a100=A100)
        result = plan.build_migration_plan(
            src,
            target_choice.targets_single("gpu", src),
            [
                agg(
                    "gpu",
                    **{
                        "pci_flavor:a100": '{"vendor_id": "10DE", "product_id": "20b5"}'
                    },
                )
            ],
        )
        self.assertEqual([], result.steps)
        self.assertEqual(1, result.unchanged)
        self.assertEqual(0, result.change_count)

    def test_all_conflicts_reported_and_nothing_planned_without_replace(self):
        src = flavors(a100=A100, t4=T4)
        targets = target_choice.targets_from_mapping(
            {"a100": ["g1", "g2"], "t4": "g2"}, src
        )
        current = [
            agg("g1", **{"pci_flavor:a100": T4}),
            agg("g2", **{"pci_flavor:a100": "not json", "pci_flavor:t4": A100}),
        ]
        result = plan.build_migration_plan(src, targets, current)
        self.assertTrue(result.blocked)
        self.assertEqual(
            {
                ("g1", "pci_flavor:a100"),
                ("g2", "pci_flavor:a100"),
                ("g2", "pci_flavor:t4"),
            },
            {(c.aggregate, c.key) for c in result.conflicts},
        )
        self.assertIn("use --replace", str(result.conflicts[0]))
        replaced = plan.build_migration_plan(src, targets, current, replace=True)
        self.assertFalse(replaced.blocked)
        changes = {
            (s.aggregate, c.key): (c.old, c.new)
            for s in replaced.steps
            for c in s.set_keys
        }
        self.assertEqual((T4, A100), changes[("g1", "pci_flavor:a100")])
        self.assertEqual(("not json", A100), changes[("g2", "pci_flavor:a100")])

    def test_case_only_clash_is_not_replaceable(self):
        src = flavors(gpu=A100)
        result = plan.build_migration_plan(
            src,
            target_choice.targets_single("g", src),
            [agg("g", **{"pci_flavor:GPU": A100})],
            replace=True,
        )
        self.assertTrue(result.blocked)
        self.assertFalse(result.conflicts[0].replaceable)
        self.assertIn("case-insensitively", str(result.conflicts[0]))

    def test_missing_target_aggregate_is_an_error(self):
        src = flavors(a100=A100)
        result = plan.build_migration_plan(
            src, target_choice.targets_single("nope", src), []
        )
        self.assertTrue(result.blocked)
        self.assertIn(
            "aggregate 'nope' (a target of 'a100') does not exist", result.errors[0]
        )

    def test_auto_creates_and_adds_only_missing_hosts(self):
        src = flavors(a100=A100)
        targets = target_choice.Targets(
            {"a100": ["pci-flavor-a100"]}, {"pci-flavor-a100": ["c1", "c2"]}
        )
        fresh = plan.build_migration_plan(src, targets, [])
        self.assertTrue(fresh.steps[0].create)
        self.assertEqual(["c1", "c2"], fresh.steps[0].add_hosts)
        self.assertEqual(4, fresh.change_count)
        partial = plan.build_migration_plan(
            src, targets, [agg("pci-flavor-a100", ["c1"])]
        )
        self.assertFalse(partial.steps[0].create)
        self.assertEqual(["c2"], partial.steps[0].add_hosts)
        self.assertEqual(
            [
                "add host 'c2' to aggregate 'pci-flavor-a100'",
                "set pci_flavor:a100=%s on aggregate 'pci-flavor-a100'" % A100,
            ],
            partial.lines(),
        )

    def test_bad_entries_block_unless_skip_invalid(self):
        src = flavors(a100=A100)
        bad = [Refused("row id=4", "spec is not valid JSON")]
        targets = target_choice.targets_single("g", src)
        blocked = plan.build_migration_plan(src, targets, [agg("g")], bad=bad)
        self.assertTrue(blocked.blocked)
        self.assertIn("row id=4: spec is not valid JSON", blocked.errors[0])
        self.assertIn("--skip-invalid", blocked.errors[0])
        skipped = plan.build_migration_plan(
            src, targets, [agg("g")], bad=bad, skip_invalid=True
        )
        self.assertFalse(skipped.blocked)
        self.assertEqual(1, skipped.change_count)
        self.assertIn("row id=4", skipped.warnings[0])

    def test_other_keys_never_touched(self):
        src = flavors(a100=A100)
        result = plan.build_migration_plan(
            src,
            target_choice.targets_single("g", src),
            [agg("g", **{"pci_flavor:t4": T4, "x": "y"})],
        )
        self.assertEqual({"pci_flavor:a100": A100}, result.steps[0].metadata())

    def test_unknown_hosts_to_add_block_with_one_error(self):
        src = flavors(a100=A100, t4=T4)
        targets = target_choice.Targets(
            {"a100": ["pci-flavor-a100"], "t4": ["pci-flavor-t4"]},
            {
                "pci-flavor-a100": ["c1", "c2", "gone"],
                "pci-flavor-t4": ["c1", "gone", "old"],
            },
        )
        # c2 is already in its aggregate: not to add, so never checked
        result = plan.build_migration_plan(
            src, targets, [agg("pci-flavor-a100", ["c2"])]
        )
        self.assertEqual(
            {
                "c1": ["pci-flavor-a100", "pci-flavor-t4"],
                "gone": ["pci-flavor-a100", "pci-flavor-t4"],
                "old": ["pci-flavor-t4"],
            },
            result.hosts_to_add(),
        )
        result.refuse_unknown_hosts({"c1", "c3"})
        self.assertTrue(result.blocked)
        self.assertEqual(1, len(result.errors))
        self.assertIn(
            "2 host(s) to add are not compute hosts Nova knows: "
            "host 'gone' (for aggregates 'pci-flavor-a100', "
            "'pci-flavor-t4'); host 'old' (for aggregate "
            "'pci-flavor-t4')",
            result.errors[0],
        )
        # The hint names the command; each front end spells it.
        self.assertIn(
            "re-export it with 'inventory export', or remove",
            result.errors[0].render(),
        )
        spelled = result.errors[0].render(lambda name: "'openstack pci %s'" % name)
        self.assertIn("re-export it with 'openstack pci inventory export'", spelled)
        self.assertEqual(
            ["ERROR " + result.errors[0].render()],
            [line for line in result.lines() if line.startswith("ERROR")],
        )

    def test_known_hosts_do_not_block(self):
        src = flavors(a100=A100)
        targets = target_choice.Targets(
            {"a100": ["pci-flavor-a100"]}, {"pci-flavor-a100": ["c1", "c2"]}
        )
        result = plan.build_migration_plan(src, targets, [])
        result.refuse_unknown_hosts(frozenset({"c1", "c2", "c3"}))
        self.assertFalse(result.blocked)
        self.assertEqual([], result.errors)
        self.assertEqual(4, result.change_count)
        none_to_add = plan.build_migration_plan(
            src, targets, [agg("pci-flavor-a100", ["c1", "c2"])]
        )
        self.assertEqual({}, none_to_add.hosts_to_add())
        none_to_add.refuse_unknown_hosts(())
        self.assertFalse(none_to_add.blocked)
