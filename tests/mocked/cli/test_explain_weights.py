"""``explain --inventory`` through the CLI on a contested fleet: the
weigher's rank, weight and placement cost of each passing host (issue 18);
the filter's verdict columns unchanged."""

import json
import os
import tempfile
import unittest

from tests.fixtures import cli_run
from tests.fixtures.paths import ROOT

T4 = {"vendor_id": "10de", "product_id": "1eb8"}
V100 = {"vendor_id": "10de", "product_id": "1db4"}
A100 = {"vendor_id": "10de", "product_id": "20b5"}
KEY = "aggregate_pci_weight_multiplier"
#: The transcript in docs/weigher.md, between these lines.
DOC_BEGIN = "<!-- explain-weights:begin (tests/mocked/cli/test_explain_weights.py) -->"
DOC_END = "<!-- explain-weights:end -->"


def pool(model, count=2, address="0000:81:00.0"):
    return dict(model, dev_type="type-PCI", address=address, count=count, used=0)


def inventory(pilot=None):
    """t4h, a100h, v100h: 2 GPUs each, in ``gpus`` defining any-gpu (every
    model), a100 and v100; offh in no aggregate; ``pilot`` adds an
    aggregate of t4h carrying that multiplier."""
    aggregates = [
        {
            "name": "gpus",
            "hosts": ["t4h", "a100h", "v100h"],
            "metadata": {
                "pci_flavor:any-gpu": json.dumps([T4, V100, A100]),
                "pci_flavor:a100": json.dumps(A100),
                "pci_flavor:v100": json.dumps(V100),
            },
        }
    ]
    if pilot is not None:
        aggregates.append({"name": "pilot", "hosts": ["t4h"], "metadata": {KEY: pilot}})
    return {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": aggregates,
        "hosts": {
            "t4h": [pool(T4)],
            "a100h": [pool(A100)],
            "v100h": [pool(V100)],
            "offh": [pool(A100)],
        },
        "nova_flavors": [
            {"name": n, "id": str(i), "extra_specs": {"pci_passthrough:alias": a}}
            for i, (n, a) in enumerate(
                [("g.any", "any-gpu:1"), ("g.a100", "a100:1"), ("g.v100", "v100:1")]
            )
        ],
    }


class ExplainWeightsCliTest(unittest.TestCase):
    def run_cli(self, *argv, pilot=None):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(inventory(pilot), f)
        self.addCleanup(os.unlink, f.name)
        return cli_run.run(["explain", "--inventory", f.name, *argv])

    def rows(self, *argv, pilot=None):
        rc, out, err = self.run_cli(*argv, "-f", "json", pilot=pilot)
        self.assertEqual(0, rc, err)
        return {r["Host"]: r for r in json.loads(out)}, err

    def test_host_keeping_the_narrow_flavors_servable_ranks_first(self):
        rows, err = self.rows("--request", "any-gpu:1")
        self.assertEqual(
            {"t4h": 1, "a100h": 2, "v100h": 2, "offh": None},
            {h: r["Rank"] for h, r in rows.items()},
        )
        self.assertEqual(
            {"t4h": 10.0, "a100h": 0.0, "v100h": 0.0, "offh": None},
            {h: r["Weight"] for h, r in rows.items()},
        )
        self.assertEqual(
            [
                {"rtype": "any-gpu:1", "before": 2, "after": 1, "among": 6},
                {"rtype": "a100:1", "before": 2, "after": 1, "among": 2},
            ],
            rows["a100h"]["Placement cost"],
        )
        # the filter's columns as before
        self.assertEqual("no: out of scope", rows["offh"]["Verdict"])
        self.assertEqual({"any-gpu": 2}, rows["t4h"]["Free"])
        self.assertNotIn("Score", rows["t4h"])
        self.assertIn("score over the 3 passing hosts shown", err)
        self.assertIn("request types: any-gpu:1 a100:1 v100:1", err)
        self.assertIn("weight_multiplier = 10 (its default", err)
        self.assertIn("modelled offline", err)

    def test_long_shows_score_and_the_aggregate_multiplier(self):
        rows, _ = self.rows("--request", "any-gpu:1", "--long", pilot="2")
        self.assertEqual(round(1 / 6, 6), rows["t4h"]["Score"])
        self.assertEqual(round(1 / 6 + 1 / 2, 6), rows["a100h"]["Score"])
        self.assertEqual("2 (aggregate pilot)", rows["t4h"]["Multiplier"])
        self.assertEqual("10 (option)", rows["a100h"]["Multiplier"])
        self.assertEqual((2.0, 1), (rows["t4h"]["Weight"], rows["t4h"]["Rank"]))

    def test_aggregate_multiplier_zero_levels_the_ranks(self):
        rows, _ = self.rows("--request", "any-gpu:1", pilot="0")
        self.assertEqual(
            {"t4h": 1, "a100h": 1, "v100h": 1},
            {h: r["Rank"] for h, r in rows.items() if r["Rank"]},
        )

    def test_table_names_what_the_placement_costs(self):
        rc, out, _ = self.run_cli("--request", "any-gpu:1")
        self.assertEqual(0, rc)
        header = out.splitlines()[1]
        for column in ("Verdict", "Reason", "Rank", "Weight", "Placement cost"):
            self.assertIn(column, header)
        line = next(x for x in out.splitlines() if "| a100h " in x)
        self.assertIn("a100:1 -1 (2 among candidates)", line)

    def test_neutral_without_a_managed_flavor(self):
        rows, err = self.rows("--request", "other:1")
        self.assertEqual({None}, {r["Rank"] for r in rows.values()})
        self.assertIn("weights: none (AggregatePciWeigher gives every host 0", err)

    def test_docs_transcript_is_the_commands_output(self):
        runs = [("--request", "any-gpu:1"), ("--request", "any-gpu:1", "--long")]
        block = ["```"]
        for argv in runs:
            rc, out, err = self.run_cli(*argv, pilot="2")
            block.append(
                "$ aggregate-pci explain --inventory inv.json " + " ".join(argv)
            )
            block.append(out + err + "(exit status %d)" % rc)
            block.append("")
        block[-1] = "```"
        with open(os.path.join(ROOT, "docs", "weigher.md"), encoding="utf-8") as f:
            page = f.read()
        start = page.index(DOC_BEGIN) + len(DOC_BEGIN) + 1
        on_page = page[start : page.index(DOC_END)]
        self.assertEqual("\n".join(block) + "\n", on_page)
