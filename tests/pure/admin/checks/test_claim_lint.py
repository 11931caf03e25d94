"""aggregate_pci.admin.checks.claim_lint (issue 17): ``check`` warns where
free devices a PCI flavor matches are unusable in legacy mode because the
compute's greedy claim would take a device its definition excludes; the
verdict is the filter's own (``decision.decide_host`` through ``explain``)."""

import unittest

from aggregate_pci.admin.checks import claim_lint, lint
from aggregate_pci.scheduler.claim_judge import ClaimOutcome, ClaimStep
from tests.fixtures.records import pool, records

NARROWED = '{"address":"0000:81:*","product_id":"20b5","vendor_id":"10de"}'
MATCHING = "0000:81:00.0"
EXCLUDED = "0000:82:00.0"


def first_pool_replay(calls):
    """A claim replay that takes the first free pool (Nova's pool order)."""

    def replay(pools, name, specs):
        calls.append((name, [dict(s) for s in specs]))
        first = next(p for p in pools if p["count"] > 0)
        return ClaimOutcome((ClaimStep(name, dict(first, used=0), 1),))

    return replay


class StrayClaimsTest(unittest.TestCase):
    def setUp(self):
        self.recs = records(("a", ["h1", "h2", "h3"], {"pci_flavor:a100": NARROWED}))
        self.pools = {
            # the claim reaches the excluded device first: 2 free matching lost
            "h1": [pool("20b5", EXCLUDED), pool("20b5", MATCHING, free=2)],
            # a matching device comes first: the host is usable
            "h2": [pool("20b5", MATCHING), pool("20b5", EXCLUDED)],
            # no free matching device: nothing lost to the claim
            "h3": [pool("20b5", EXCLUDED), pool("20b5", MATCHING, free=0, used=1)],
        }
        self.calls = []

    def issues(self, replay):
        return lint.lint(self.recs, [("f", {"a100": 1})], None, self.pools, replay)

    def test_warns_for_the_host_whose_claim_strays(self):
        found = [
            i
            for i in self.issues(first_pool_replay(self.calls))
            if "legacy" in i.subject
        ]
        self.assertEqual(["host 'h1', PCI flavor 'a100' (legacy mode)"], [
            i.subject for i in found
        ])  # fmt: skip
        (issue,) = found
        self.assertEqual(lint.WARNING, issue.severity)
        self.assertIn("2 free device(s) match the host's definition", issue.message)
        self.assertIn("the compute's claim would take %s" % EXCLUDED, issue.message)
        self.assertIn("matches no definition of a100 on this host", issue.message)
        self.assertIn("[pci] device_spec tag", issue.render())
        self.assertIn("'explain' shows each host's verdict", issue.render())

    def test_replay_gets_the_alias_specs_nova_claims_by(self):
        self.issues(first_pool_replay(self.calls))
        # generated from the definition: vendor and product (no address)
        self.assertIn(
            ("a100", [{"vendor_id": "10de", "product_id": "20b5"}]), self.calls
        )

    def test_verdict_is_the_filters(self):
        # explain's verdict for h1, from decision.decide_host: same words
        from aggregate_pci.admin.checks import explain

        replay = first_pool_replay([])
        specs = claim_lint.request_specs(None, [
            {"name": "a100", "vendor_id": "10de", "product_id": "20b5"}
        ])  # fmt: skip
        (h1,) = explain.explain(
            claim_lint.aggregates_of(self.recs),
            {"h1": self.pools["h1"]},
            [explain.Request("a100", 1, spec=tuple(specs["a100"]))],
            claims={"h1": lambda: replay(self.pools["h1"], "a100", specs["a100"])},
        ).hosts
        (issue,) = claim_lint.stray_claims(self.recs, self.pools, specs, replay)
        self.assertIn(h1.reason, issue[1])

    def test_no_replay_no_warning(self):
        self.assertFalse([i for i in self.issues(None) if "legacy" in i.subject])
