"""aggregate_pci.admin.capacity.report: devices per PCI flavor by host,
aggregate and total, overlaps counted once."""

import unittest

from aggregate_pci.admin import interned, models
from aggregate_pci.admin.capacity import headroom, report
from tests.fixtures.records import A100, NV_ANY, T4, pool, records


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


class SharedPoolObjectsTest(unittest.TestCase):
    """Readers share equal pools across hosts; ``_host_counts`` remembers
    pool objects by identity (``interned.ByIdentity``, up to
    ``ID_MEMO_LIMIT``), as ``headroom.fit_many`` does: both must give what
    unshared copies give, within the limit and past it."""

    def test_shared_objects_count_as_copies(self):
        from unittest import mock

        recs = records(
            ("a", ["h%d" % i for i in range(8)], {"pci_flavor:gpu": A100}),
            ("b", ["h%d" % i for i in range(4, 12)], {"pci_flavor:t4": T4}),
        )
        objects = [
            pool("20b5", "0000:81:00.0", free=1, used=1),
            pool("20b5", "0000:81:00.0", free=2),
            pool("1eb8", "0000:82:00.0", free=0, used=3),
            pool("1eb8", "0000:83:00.0", free=4),
        ]
        shared = {
            "h%d" % i: [objects[(i + k) % 4] for k in range(i % 3 + 1)]
            for i in range(12)
        }
        copies = {h: [dict(p) for p in pools] for h, pools in shared.items()}
        expected = report.capacity(recs, copies)
        self.assertEqual(expected, report.capacity(recs, shared))
        with mock.patch.object(interned, "ID_MEMO_LIMIT", 2):
            self.assertEqual(expected, report.capacity(recs, shared))
        # capacity --fit and the exporter's fit: the same on both
        fits = {"one": {"gpu": 1}, "two": {"gpu": 1, "t4": 1}, "t4s": {"t4": 2}}
        fitted = headroom.fit_many(recs, copies, fits)
        self.assertTrue(any(total for _, total in fitted.values()))
        self.assertEqual(fitted, headroom.fit_many(recs, shared, fits))
        with mock.patch.object(interned, "ID_MEMO_LIMIT", 2):
            self.assertEqual(fitted, headroom.fit_many(recs, shared, fits))
        used = {r.name: r.used for r in expected if r.scope == "host"}
        self.assertEqual(1, used["h2"])  # gpu only: its T4 pools are outside b
