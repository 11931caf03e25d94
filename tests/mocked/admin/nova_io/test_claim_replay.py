"""aggregate_pci.admin.nova_io.claim_replay (issue 17): ``check`` replays
the compute's claim with the filter's replay (Nova's pool logic) on an
inventory's free pools, and warns where it strays from the definition."""

import json
import os
import tempfile
import unittest
import unittest.mock

from aggregate_pci.admin.checks import lint
from aggregate_pci.admin.nova_io import claim_replay
from tests.fixtures import hung
from tests.fixtures.records import pool, records

NARROWED = '{"address":"0000:81:*","product_id":"20b5","vendor_id":"10de"}'
A100_SPEC = [{"vendor_id": "10de", "product_id": "20b5"}]


class InventoryReplayTest(unittest.TestCase):
    def setUp(self):
        self.replay = claim_replay.inventory_replay()
        self.assertIsNotNone(self.replay)

    def test_without_nova_no_replay_and_nova_imported_at_the_first_replay(self):
        # issue 21: importing Nova costs check 1.5 s CPU; only a replay needs it
        with unittest.mock.patch("importlib.util.find_spec", return_value=None):
            self.assertIsNone(claim_replay.inventory_replay())
        claim_replay._nova.cache_clear()
        replay = claim_replay.inventory_replay()
        self.assertEqual(0, claim_replay._nova.cache_info().currsize)
        replay([pool("20b5", "0000:82:00.0")], "a100", A100_SPEC)
        self.assertEqual(1, claim_replay._nova.cache_info().currsize)

    def test_nova_takes_the_first_pool_the_alias_matches(self):
        pools = [
            pool("1eb8", "0000:80:00.0"),
            pool("20b5", "0000:82:00.0", free=0, used=1),
            pool("20b5", "0000:82:00.1"),
            pool("20b5", "0000:81:00.0", free=2),
        ]
        outcome = self.replay(pools, "a100", A100_SPEC)
        self.assertIsNone(outcome.failed)
        (step,) = outcome.steps
        self.assertEqual(("a100", 1), (step.name, step.count))
        self.assertEqual("0000:82:00.1", step.pool["address"])

    def test_lint_warns_where_the_claim_strays(self):
        recs = records(("a", ["h1", "h2"], {"pci_flavor:a100": NARROWED}))
        pools = {
            "h1": [pool("20b5", "0000:82:00.0"), pool("20b5", "0000:81:00.0")],
            "h2": [pool("20b5", "0000:81:00.0"), pool("20b5", "0000:82:00.0")],
        }
        issues = lint.lint(recs, [("f", {"a100": 1})], None, pools, self.replay)
        legacy = [i for i in issues if "legacy" in i.subject]
        self.assertEqual(
            ["host 'h1', PCI flavor 'a100' (legacy mode)"], [i.subject for i in legacy]
        )
        self.assertIn("would take 0000:82:00.0", legacy[0].message)


class CheckCommandTest(unittest.TestCase):
    def test_check_offline_inventory_shows_the_unusable_devices(self):
        doc = {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [
                {"name": "gpu", "hosts": ["c1"], "metadata": {"pci_flavor:a100": NARROWED}}
            ],
            "hosts": {
                "c1": [pool("20b5", "0000:82:00.0"), pool("20b5", "0000:81:00.0", free=3)]
            },
            "nova_flavors": [
                {"name": "g", "id": "1", "extra_specs": {"pci_passthrough:alias": "a100:1"}}
            ],
        }  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "inv.json")
            with open(path, "w") as fh:
                json.dump(doc, fh)
            proc, _ = hung.run(
                "check", "--offline", "--inventory", path, "--long", "-f", "json"
            )
        self.assertEqual(0, proc.returncode, proc.stderr)
        rows = {r["Subject"]: r["Problem"] for r in json.loads(proc.stdout)}
        problem = rows["host 'c1', PCI flavor 'a100' (legacy mode)"]
        self.assertIn("3 free device(s) match", problem)
        self.assertIn("would take 0000:82:00.0", problem)
        self.assertIn("aggregate-pci explain", problem)
