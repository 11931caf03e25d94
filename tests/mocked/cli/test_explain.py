"""``explain --inventory`` through the CLI: exit status, summary, JSON,
narrowing and input errors (offline, no Nova needed)."""

import json
import os
import tempfile
import unittest

from tests.fixtures import cli_run

A100 = '{"vendor_id":"10de","product_id":"20b5"}'


def pool(count, used=0):
    return {
        "vendor_id": "10de",
        "product_id": "20b5",
        "dev_type": "type-PCI",
        "address": "0000:81:00.0",
        "count": count,
        "used": used,
    }


INVENTORY = {
    "format": "aggregate-pci-inventory",
    "version": 1,
    "aggregates": [
        {"name": "gpu", "hosts": ["c1", "c2"], "metadata": {"pci_flavor:a100": A100}}
    ],
    "hosts": {"c1": [pool(2)], "c2": [pool(0, 1)], "c3": [pool(4)]},
    "nova_flavors": [
        {"name": "g2", "id": "7", "extra_specs": {"pci_passthrough:alias": "a100:2"}},
        {"name": "g3", "id": "8", "extra_specs": {"pci_passthrough:alias": "a100:3"}},
    ],
}


class ExplainCliTest(unittest.TestCase):
    def setUp(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(INVENTORY, f)
        self.addCleanup(os.unlink, f.name)
        self.inv = f.name

    def run_cli(self, *argv):
        return cli_run.run(["explain", "--inventory", self.inv, *argv])

    def test_some_host_fits_exit_0(self):
        rc, out, err = self.run_cli("--nova-flavor", "g2", "-f", "json")
        self.assertEqual(0, rc, err)
        rows = {r["Host"]: r for r in json.loads(out)}
        self.assertEqual(
            "yes, unless the claim strays (not replayed offline; --nova-conf tells)",
            rows["c1"]["Verdict"],
        )
        self.assertEqual("no: lacks devices", rows["c2"]["Verdict"])
        self.assertEqual("no: out of scope", rows["c3"]["Verdict"])
        self.assertEqual({"a100": 2}, rows["c1"]["Free"])
        self.assertNotIn("PciPassthroughFilter", rows["c1"])
        self.assertIn("1 host can take it now (1 of them only if", err)
        self.assertIn("1 is out of scope; 1 lacks devices", err)

    def test_alias_no_wider_than_the_definition_gives_an_exact_yes(self):
        # issue 20: with the [pci] alias known, a host whose definition is no
        # narrower than the alias cannot see the claim stray.
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                '[pci]\nalias = {"name": "a100", "vendor_id": "10de", '
                '"product_id": "20b5", "device_type": "type-PCI"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli(
            "--nova-flavor", "g2", "--nova-conf", f.name, "-f", "json"
        )
        self.assertEqual(0, rc, err)
        rows = {r["Host"]: r for r in json.loads(out)}
        self.assertEqual("yes", rows["c1"]["Verdict"])
        # a wider alias (any NVIDIA device): the claim may stray, said so
        with open(f.name, "w") as g:
            g.write(
                '[pci]\nalias = {"name": "a100", "vendor_id": "10de", "product_id": "*"}\n'
            )
        rc, out, err = self.run_cli(
            "--nova-flavor", "g2", "--nova-conf", f.name, "-f", "json"
        )
        rows = {r["Host"]: r for r in json.loads(out)}
        self.assertTrue(
            rows["c1"]["Verdict"].startswith("yes, unless the claim strays")
        )

    def test_no_host_fits_exit_1(self):
        rc, _, err = self.run_cli("--nova-flavor", "8")
        self.assertEqual(1, rc, err)
        self.assertIn("0 hosts can take it now; 1 is out of scope; 2 lack devices", err)

    def test_narrowing(self):
        rc, out, _ = self.run_cli("--request", "a100:1", "--host", "c2", "-f", "json")
        self.assertEqual((1, ["c2"]), (rc, [r["Host"] for r in json.loads(out)]))
        rc, out, _ = self.run_cli(
            "--request", "a100:1", "--aggregate", "gpu", "-f", "json"
        )
        self.assertEqual(["c1", "c2"], [r["Host"] for r in json.loads(out)])

    def test_unmanaged_name_left_to_nova(self):
        rc, out, err = self.run_cli("--request", "other:1", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertIn("no aggregate defines PCI flavor 'other'", err)
        self.assertEqual(
            {"yes (not managed: Nova decides)"}, {r["Verdict"] for r in json.loads(out)}
        )

    def test_input_errors(self):
        for argv, words in (
            (
                ["--request", "a100:x"],
                "--request 'a100:x': item 'a100:x' must be NAME:COUNT",
            ),
            (["--nova-flavor", "nope"], "Nova flavor 'nope' not found"),
            (["--request", "a100:1", "--host", "zz"], "compute host 'zz' not in"),
            (["--request", "a100:1", "--aggregate", "zz"], "aggregate 'zz' not found"),
        ):
            rc, _, err = self.run_cli(*argv)
            self.assertEqual(1, rc, argv)
            self.assertIn(words, err)
