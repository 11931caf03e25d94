"""Pure analyses: alias generation, lint, capacity and fit on small clouds."""

import unittest

from aggregate_pci import alias
from aggregate_pci.admin import models
from aggregate_pci.admin.capacity import headroom, report
from aggregate_pci.admin.checks import lint

A100 = '{"product_id":"20b5","vendor_id":"10de"}'
T4 = '{"product_id":"1eb8","vendor_id":"10de"}'
NV_ANY = '[{"product_id":"1eb8","vendor_id":"10de"},{"product_id":"20b5","vendor_id":"10de"}]'


def records(*aggs):
    out = []
    for i, (name, hosts, meta) in enumerate(aggs):
        out.extend(
            models.pci_flavor_records(
                models.Aggregate(i, name, None, tuple(hosts), meta)
            )
        )
    return out


def generate(recs):
    """``alias-config``'s entries for these records."""
    return alias.generate(models.definitions_by_name(recs))


def pool(product, addr, free=1, used=0, **tags):
    return dict(
        vendor_id="10de",
        product_id=product,
        dev_type="type-PCI",
        address=addr,
        count=free,
        used=used,
        **tags,
    )


class AliasTest(unittest.TestCase):
    def test_or_across_aggregates_deduplicated(self):
        typed = A100.replace("{", '{"device_type":"type-PCI",')
        typed_any = NV_ANY.replace("{", '{"device_type":"type-PCI",')
        recs = records(
            ("a", ["h1"], {"pci_flavor:gpu": typed}),
            ("b", ["h2"], {"pci_flavor:gpu": typed_any}),
        )
        entries = generate(recs)
        self.assertEqual(
            [
                {
                    "name": "gpu",
                    "vendor_id": "10de",
                    "product_id": "1eb8",
                    "device_type": "type-PCI",
                },
                {
                    "name": "gpu",
                    "vendor_id": "10de",
                    "product_id": "20b5",
                    "device_type": "type-PCI",
                },
            ],
            sorted(entries, key=lambda e: e["product_id"]),
        )
        self.assertEqual(
            '{"device_type": "type-PCI", "name": "gpu", '
            '"product_id": "1eb8", "vendor_id": "10de"}',
            alias.line(entries[0]),
        )

    def test_several_entries_of_one_name_need_device_type(self):
        # Nova's get_alias_from_config raises PciInvalidAlias for a second
        # entry of a name when device_type is not set on the entries.
        recs = records(("a", ["h1"], {"pci_flavor:gpu": NV_ANY}))
        with self.assertRaises(alias.AliasConflict) as ctx:
            generate(recs)
        self.assertEqual(
            "PCI flavor 'gpu', key 'pci_flavor:gpu': it becomes 2 [pci] alias "
            "entries (one per vendor/product), and Nova accepts several entries "
            'of one name only if each sets device_type: add "device_type" to '
            "every match object of this flavor",
            str(ctx.exception),
        )

    def test_device_type_disagreement_fails_naming_aggregates(self):
        recs = records(
            ("a", [], {"pci_flavor:gpu": A100}),
            (
                "b",
                [],
                {
                    "pci_flavor:gpu": '{"device_type":"type-PF","product_id":"20b5","vendor_id":"10de"}'
                },
            ),
        )
        with self.assertRaises(alias.AliasConflict) as ctx:
            generate(recs)
        msg = str(ctx.exception)
        self.assertIn("PCI flavor 'gpu'", msg)
        self.assertIn("device_type differs", msg)
        self.assertIn("type-PF on aggregate(s) b", msg)
        self.assertIn("unset on aggregate(s) a", msg)

    def test_invalid_values_are_skipped(self):
        recs = records(("a", [], {"pci_flavor:gpu": A100, "pci_flavor:bad": "{"}))
        self.assertEqual(["gpu"], [e["name"] for e in generate(recs)])


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


class CapacityTest(unittest.TestCase):
    def test_overlap_counted_once_and_scopes(self):
        # h1 is in both aggregates: its definition of gpu is A100 OR T4.
        recs = records(
            ("a", ["h1", "h2"], {"pci_flavor:gpu": A100}),
            ("b", ["h1"], {"pci_flavor:gpu": NV_ANY}),
        )
        pools = {
            "h1": [
                pool("20b5", "0000:81:00.0", free=1, used=1),
                pool("1eb8", "0000:82:00.0", free=2),
            ],
            "h2": [
                pool("20b5", "0000:81:00.0", free=0, used=2),
                pool("1eb8", "0000:82:00.0", free=5),
            ],
        }
        rows = {
            (r.scope, r.name): (r.matching, r.used, r.free)
            for r in report.capacity(recs, pools)
        }
        self.assertEqual((4, 1, 3), rows[("host", "h1")])
        self.assertEqual((2, 2, 0), rows[("host", "h2")])
        self.assertEqual((6, 3, 3), rows[("total", "*")])
        self.assertEqual((4, 3, 1), rows[("aggregate", "a")])
        self.assertEqual((4, 1, 3), rows[("aggregate", "b")])

    def test_fit_exact_with_overlap(self):
        recs = records(
            ("a", ["h1"], {"pci_flavor:a100": A100, "pci_flavor:any": NV_ANY})
        )
        pools = {"h1": [pool("20b5", "0000:81:00.0"), pool("1eb8", "0000:82:00.0")]}
        per_host, total = headroom.fit(recs, pools, {"any": 1, "a100": 1})
        self.assertEqual(({"h1": 1}, 1), (per_host, total))
        per_host, total = headroom.fit(recs, pools, {"a100": 2})
        self.assertEqual(0, total)


class CapacityAgainstDirectCountTest(unittest.TestCase):
    """The optimised capacity (signature cache, shared memberships) equals a
    direct count with the core's ``count_matching`` on random fleets."""

    def test_random_fleets(self):
        import random

        from aggregate_pci import matching

        rng = random.Random(7)
        values = [
            A100,
            T4,
            NV_ANY,
            '{"address":"0000:81:*","product_id":"20b5","vendor_id":"10de"}',
            '{"physical_network":"p1","product_id":"1eb8","vendor_id":"10de"}',
        ]
        for _ in range(30):
            hosts = ["h%d" % i for i in range(6)]
            aggs = []
            for a in range(3):
                members = [h for h in hosts if rng.random() < 0.5]
                meta = {
                    "pci_flavor:f%d" % i: rng.choice(values)
                    for i in range(3)
                    if rng.random() < 0.7
                }
                aggs.append(("agg%d" % a, members, meta))
            recs = records(*aggs)
            pools = {
                h: [
                    dict(
                        pool(
                            rng.choice(["20b5", "1eb8"]),
                            "0000:8%d:00.0" % rng.randint(0, 2),
                            free=rng.randint(0, 3),
                            used=rng.randint(0, 2),
                        ),
                        **({"physical_network": "p1"} if rng.random() < 0.5 else {}),
                    )
                    for _ in range(rng.randint(0, 5))
                ]
                for h in hosts
            }
            rows = {
                (r.flavor, r.scope, r.name): (r.matching, r.used, r.free)
                for r in report.capacity(recs, pools)
            }
            for host, defs in models.host_definitions(recs).items():
                for name, definition in defs.items():
                    pred = matching.compile_definition(definition)
                    free = matching.count_matching(pools[host], pred)
                    used = sum(p["used"] for p in pools[host] if pred(p))
                    self.assertEqual(
                        (free + used, used, free), rows[(name, "host", host)]
                    )
            for r in recs:
                pred = matching.compile_definition(r.definition)
                free = sum(matching.count_matching(pools[h], pred) for h in r.hosts)
                used = sum(p["used"] for h in r.hosts for p in pools[h] if pred(p))
                self.assertEqual(
                    (free + used, used, free), rows[(r.name, "aggregate", r.aggregate)]
                )


class FitManyAgainstHostByHostTest(unittest.TestCase):
    """``headroom.fit_many`` (pools read once for all requests, signature
    cache, shared memberships) equals ``host_by_host.fleet_instances_fit`` host
    by host with each host's effective definitions, on random fleets."""

    def test_random_fleets(self):
        import random

        from tests.fixtures import host_by_host as capacity

        rng = random.Random(11)
        values = [
            A100,
            T4,
            NV_ANY,
            '{"address":"0000:81:*","product_id":"20b5","vendor_id":"10de"}',
            '{"physical_network":"p1","product_id":"1eb8","vendor_id":"10de"}',
        ]
        compared = 0
        for _ in range(40):
            hosts = ["h%d" % i for i in range(8)]
            aggs = []
            for a in range(3):
                members = [h for h in hosts if rng.random() < 0.5]
                meta = {
                    "pci_flavor:f%d" % i: rng.choice(values)
                    for i in range(4)
                    if rng.random() < 0.7
                }
                aggs.append(("agg%d" % a, members, meta))
            recs = records(*aggs)
            pools = {
                h: [
                    dict(
                        pool(
                            rng.choice(["20b5", "1eb8"]),
                            "0000:8%d:00.0" % rng.randint(0, 2),
                            free=rng.randint(0, 4),
                            used=rng.randint(0, 2),
                        ),
                        **({"physical_network": "p1"} if rng.random() < 0.5 else {}),
                    )
                    for _ in range(rng.randint(0, 6))
                ]
                for h in hosts
            }
            requests = {
                "r%d" % k: {
                    "f%d" % i: rng.randint(1, 3)
                    for i in rng.sample(range(4), rng.randint(1, 3))
                }
                for k in range(4)
            }
            got = headroom.fit_many(recs, pools, requests)
            per_host_defs = models.host_definitions(recs)
            for label, request in requests.items():
                eligible = {
                    h: (pools.get(h, ()), defs)
                    for h, defs in per_host_defs.items()
                    if all(n in defs for n in request)
                }
                self.assertEqual(
                    capacity.fleet_instances_fit(eligible, request), got[label]
                )
                self.assertEqual(got[label], headroom.fit(recs, pools, request))
                compared += len(eligible)
        self.assertGreater(compared, 100)

    def test_request_asking_nothing(self):
        recs = records(("a", ["h1"], {"pci_flavor:gpu": A100}))
        with self.assertRaises(ValueError):
            headroom.fit_many(recs, {}, {"x": {"gpu": 0}})
        self.assertEqual({"x": ({}, 0)}, headroom.fit_many([], {}, {"x": {"gpu": 0}}))


class AliasFieldsTest(unittest.TestCase):
    def test_live_migratable_is_carried_into_the_alias(self):
        value = (
            '{"device_type":"type-VF","live_migratable":"true",'
            '"physical_network":"physnet2","product_id":"101e","vendor_id":"15b3"}'
        )
        entries = generate(records(("a", ["h1"], {"pci_flavor:vf": value})))
        self.assertEqual(
            [
                {
                    "name": "vf",
                    "vendor_id": "15b3",
                    "product_id": "101e",
                    "device_type": "type-VF",
                    "live_migratable": "true",
                }
            ],
            entries,
        )

    def test_conf_alias_lists_are_refused_as_nova_does(self):
        merged, refused = alias.merge(
            [
                alias.Entry(
                    "#1", '[{"name":"a","vendor_id":"10de","product_id":"20b5"}]'
                ),
                alias.Entry(
                    "#2", '{"name":"b","vendor_id":"10de","product_id":"20b5"}'
                ),
            ]
        )
        self.assertEqual(["b"], list(merged))
        self.assertEqual(1, len(refused))
        self.assertIn(
            "an alias must be one JSON object (Nova refuses lists)", str(refused[0])
        )


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
