"""aggregate_pci.admin.capacity.headroom: how many more instances of a
request fit, exactly, per host and over the fleet."""

import unittest

from aggregate_pci.admin import models
from aggregate_pci.admin.capacity import headroom
from tests.fixtures.records import A100, NV_ANY, T4, pool, records


class FitTest(unittest.TestCase):
    def test_fit_exact_with_overlap(self):
        recs = records(
            ("a", ["h1"], {"pci_flavor:a100": A100, "pci_flavor:any": NV_ANY})
        )
        pools = {"h1": [pool("20b5", "0000:81:00.0"), pool("1eb8", "0000:82:00.0")]}
        per_host, total = headroom.fit(recs, pools, {"any": 1, "a100": 1})
        self.assertEqual(({"h1": 1}, 1), (per_host, total))
        per_host, total = headroom.fit(recs, pools, {"a100": 2})
        self.assertEqual(0, total)


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
