#!/usr/bin/env python3
"""Benchmark: migrate 1,000 PCI flavors onto 200 aggregates of an in-process
Nova (the test harness); print API calls and time.  Not a timed test.

    OS_WSGI__API_PASTE_CONFIG=<venv>/etc/nova/api-paste.ini \\
        python tools/bench/migrate.py [FLAVORS] [AGGREGATES] [HOSTS]
"""

# Nova's threading mode needs this to be the module's first import; the
# isort split keeps ruff from sorting it below the standard library.
import nova.tests.functional  # noqa: F401

# isort: split

import collections
import os
import sys
import tempfile
import time
import unittest

from keystoneauth1 import session as ks_session

from aggregate_pci.admin.nova_io import client
from aggregate_pci.demo.embedded_nova import AggregatePciTestBase
from aggregate_pci.migrate import apply, sources, target_choice, undo

FLAVORS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
AGGREGATES = int(sys.argv[2]) if len(sys.argv) > 2 else 200
#: Compute hosts for the scenario that creates aggregates and adds hosts;
#: each new aggregate gets HOSTS_PER_AGGREGATE of them.
HOSTS = int(sys.argv[3]) if len(sys.argv) > 3 else 10
HOSTS_PER_AGGREGATE = 2


class CountingSession(ks_session.Session):
    """Counts requests by method and what they do."""

    calls: collections.Counter

    def request(self, url, method, *args, **kwargs):
        what = url.split("/")[-1]
        if what == "action":
            what = next(iter(kwargs.get("json") or {"action": None}))
        elif what.isdigit():
            what = "os-aggregates/ID"
        self.calls[(method, what)] += 1
        return super().request(url, method, *args, **kwargs)


class BenchMigrate(AggregatePciTestBase):
    def source(self):
        import sqlalchemy as sa

        tmp = tempfile.mkdtemp()
        url = "sqlite:///" + os.path.join(tmp, "flavors.db")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE pci_flavors (id INTEGER PRIMARY KEY, name "
                "VARCHAR(255) UNIQUE, description TEXT, spec TEXT, created_at "
                "DATETIME, updated_at DATETIME, deleted INTEGER NOT NULL DEFAULT 0)"
            )
            conn.execute(
                sa.text("INSERT INTO pci_flavors (id, name, spec) VALUES (:i, :n, :s)"),
                [
                    {
                        "i": i,
                        "n": "f%04d" % i,
                        "s": '{"vendor_id":"10de","product_id":"%04x"}' % i,
                    }
                    for i in range(FLAVORS)
                ],
            )
        engine.dispose()
        return sources.read_table(url), os.path.join(tmp, "journal")

    def run_bench(self, title, data, targets, journal):
        plain = self.keystone_session()
        sess = CountingSession(
            auth=plain.auth, additional_headers=plain.additional_headers
        )
        sess.calls = collections.Counter()
        admin = client.PciFlavorAdmin(sess)
        print(title)
        for label in ("first run", "second run"):
            sess.calls.clear()
            start = time.perf_counter()
            report = apply.migrate(admin, data, targets, journal)
            elapsed = time.perf_counter() - start
            assert report.ok, report
            print(
                "  %s: %d changes, %d API calls (%s), %.2f s"
                % (
                    label,
                    len(report.applied),
                    sum(sess.calls.values()),
                    counts(sess.calls),
                    elapsed,
                )
            )
        sess.calls.clear()
        start = time.perf_counter()
        undone = undo.undo(admin, journal)
        assert undone.ok, undone
        print(
            "  undo: %d changes, %d API calls (%s), %.2f s"
            % (
                len(undone.applied),
                sum(sess.calls.values()),
                counts(sess.calls),
                time.perf_counter() - start,
            )
        )

    def test_1_existing_aggregates(self):
        for i in range(AGGREGATES):
            self.admin_api.post_aggregate({"aggregate": {"name": "agg-%03d" % i}})
        data, journal = self.source()
        targets = target_choice.targets_from_mapping(
            {name: "agg-%03d" % (int(name[1:]) % AGGREGATES) for name in data.flavors},
            data.flavors,
        )
        self.run_bench(
            "%d flavors onto %d existing aggregates:" % (len(data.flavors), AGGREGATES),
            data,
            targets,
            journal,
        )

    def test_2_created_aggregates_with_hosts(self):
        hosts = ["compute%02d" % i for i in range(HOSTS)]
        for host in hosts:
            self.start_compute(host)
        data, journal = self.source()
        mapping, agg_hosts = {}, {}
        for name in data.flavors:
            i = int(name[1:]) % AGGREGATES
            agg = "pci-flavor-group-%03d" % i
            mapping[name] = [agg]
            agg_hosts[agg] = [
                hosts[(i + j) % HOSTS] for j in range(HOSTS_PER_AGGREGATE)
            ]
        targets = target_choice.Targets(mapping, agg_hosts)
        self.run_bench(
            "%d flavors onto %d aggregates created by the run, %d "
            "hosts added to each:"
            % (len(data.flavors), AGGREGATES, HOSTS_PER_AGGREGATE),
            data,
            targets,
            journal,
        )


def counts(calls):
    return ", ".join("%s %s: %d" % (m, p, c) for (m, p), c in sorted(calls.items()))


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=0).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(BenchMigrate)
    )
    sys.exit(0 if result.wasSuccessful() else 1)
