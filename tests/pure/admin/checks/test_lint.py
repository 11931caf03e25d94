"""aggregate_pci.admin.checks.lint: what `check` reports on small clouds
(definitions, Nova flavors, [pci] alias, devices, the claim's order)."""

import unittest

from aggregate_pci import alias
from aggregate_pci.admin.checks import lint
from tests.fixtures.records import A100, NV_ANY, T4, pool, records


class LintTest(unittest.TestCase):
    def issues(self, recs, flavors=(), conf=None, pools=None):
        entries = (
            None
            if conf is None
            else [
                alias.Entry("[pci] alias #%d" % (i + 1), text)
                for i, text in enumerate(conf)
            ]
        )
        return [
            (i.severity, i.subject)
            for i in lint.lint(recs, list(flavors), entries, pools)
        ]

    def test_clean_cloud(self):
        recs = records(("a", ["h1"], {"pci_flavor:a100": A100}))
        conf = ['{"name":"a100","vendor_id":"10de","product_id":"20b5"}']
        self.assertEqual(
            [],
            self.issues(
                recs, [("f", {"a100": 1})], conf, {"h1": [pool("20b5", "0000:81:00.0")]}
            ),
        )

    def test_each_problem(self):
        typed = '"device_type":"type-PCI",'
        recs = records(
            (
                "a",
                ["h1"],
                {
                    "pci_flavor:a100": A100.replace("{", "{" + typed),
                    "pci_flavor:bad": '{"vendor_id":"10de"}',
                },
            ),
            (
                "b",
                ["h2"],
                {
                    "pci_flavor:a100": NV_ANY.replace("{", "{" + typed),
                    "pci_flavor:idle": T4,
                },
            ),
        )
        conf = [
            '{"name":"a100","vendor_id":"10de","product_id":"20b5",'
            '"device_type":"type-PCI"}',
            '{"name":"legacy","vendor_id":"8086","product_id":"1572"}',
        ]
        found = self.issues(
            recs,
            [("f1", {"a100": 1}), ("f2", {"ghost": 1}), ("f3", {"legacy": 1})],
            conf,
        )
        self.assertIn(("error", "aggregate 'a', key 'pci_flavor:bad'"), found)
        self.assertIn(("error", "PCI flavor 'a100'"), found)  # differing defs
        self.assertIn(("error", "PCI flavor 'ghost'"), found)  # undefined
        self.assertIn(("warning", "PCI flavor 'legacy'"), found)  # unmanaged
        self.assertIn(("warning", "PCI flavor 'idle'"), found)  # unused
        self.assertIn(("error", "PCI flavor 'a100', nova.conf [pci] alias"), found)
        self.assertIn(("error", "PCI flavor 'idle', nova.conf [pci] alias"), found)
        # errors sorted first
        sev = [s for s, _ in found]
        self.assertEqual(sorted(sev, key=lambda s: s != "error"), sev)

    def test_alias_matches_excluded_device(self):
        narrowed = '{"address":"0000:81:*","product_id":"20b5","vendor_id":"10de"}'
        recs = records(("a", ["h1"], {"pci_flavor:a100": narrowed}))
        pools = {
            "h1": [
                pool("20b5", "0000:81:00.0"),
                pool("20b5", "0000:82:00.0", free=0, used=1),
            ]
        }
        issues = lint.lint(recs, [("f", {"a100": 1})], None, pools)
        excluded = [i for i in issues if i.subject == "host 'h1', PCI flavor 'a100'"]
        self.assertEqual(1, len(excluded))
        self.assertIn("matches 1 device(s)", excluded[0].message)
        self.assertIn("0000:82:00.0", excluded[0].message)
        self.assertIn("'audit' finds instances", excluded[0].render())


class ClaimModeAndOrderTest(unittest.TestCase):
    """check (issue 8.4): how narrowing is enforced per mode, and alias
    orders that make Nova's greedy claim fail where an assignment exists."""

    def test_narrowing_message_names_both_modes(self):
        narrowed = '{"address":"0000:81:*","product_id":"20b5","vendor_id":"10de"}'
        recs = records(("a", ["h1"], {"pci_flavor:a100": narrowed}))
        pools = {"h1": [pool("20b5", "0000:81:00.0"), pool("20b5", "0000:82:00.0")]}
        (issue,) = [
            i
            for i in lint.lint(recs, [("f", {"a100": 1})], None, pools)
            if i.subject == "host 'h1', PCI flavor 'a100'"
        ]
        self.assertEqual(lint.WARNING, issue.severity)
        self.assertIn(
            "PCI in Placement mode: enforced, the filter prunes", issue.message
        )
        self.assertIn(
            "Legacy mode: enforced by the filter's claim-consistency", issue.message
        )
        self.assertIn("refuses this host whenever the claim", issue.message)

    def order_issues(self, spec_order):
        # alias "any" = A100 or T4, alias "t4" = T4; one T4 at the lower
        # address, one A100: "any" first takes the T4 and "t4" finds none.
        typed = '{"device_type":"type-PCI",'
        recs = records(
            (
                "a",
                ["h1"],
                {
                    "pci_flavor:any": NV_ANY.replace("{", typed),
                    "pci_flavor:t4": T4.replace("{", typed),
                },
            ),
        )
        pools = {"h1": [pool("1eb8", "0000:81:00.0"), pool("20b5", "0000:82:00.0")]}
        return [
            i
            for i in lint.lint(recs, [("gpu.pair", spec_order)], None, pools)
            if i.subject == "Nova flavor 'gpu.pair', host 'h1'"
        ]

    def test_alias_order_failing_greedy_claim_gets_a_recommendation(self):
        (issue,) = self.order_issues({"any": 1, "t4": 1})
        self.assertEqual(lint.WARNING, issue.severity)
        self.assertIn("in the order any:1,t4:1", issue.message)
        self.assertIn("Recommended: pci_passthrough:alias=t4:1,any:1", issue.message)
        # the recommended order is clean
        self.assertEqual([], self.order_issues({"t4": 1, "any": 1}))
