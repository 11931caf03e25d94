#!/usr/bin/env python3
"""Benchmark: migrate 1,000 PCI flavors onto 200 aggregates of an in-process
Nova (the test harness); print API calls and time.  Not a timed test.

    OS_WSGI__API_PASTE_CONFIG=<venv>/etc/nova/api-paste.ini \\
        python tools/bench_migrate.py [FLAVORS] [AGGREGATES]
"""

import collections
import os
import sys
import tempfile
import time
import unittest

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import api
from aggregate_pci.harness import AggregatePciTestBase
from aggregate_pci.migrate import apply, plan, sources

FLAVORS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
AGGREGATES = int(sys.argv[2]) if len(sys.argv) > 2 else 200


class CountingSession(ks_session.Session):
    """Counts requests by method and path."""

    calls: collections.Counter

    def request(self, url, method, *args, **kwargs):
        self.calls[(method, url.split("/")[-1] if "action" not in url
                    else "action")] += 1
        return super().request(url, method, *args, **kwargs)


class BenchMigrate(AggregatePciTestBase):

    def test_bench(self):
        import sqlalchemy as sa

        for i in range(AGGREGATES):
            self.admin_api.post_aggregate({"aggregate": {"name": "agg-%03d" % i}})
        tmp = tempfile.mkdtemp()
        url = "sqlite:///" + os.path.join(tmp, "flavors.db")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE pci_flavors (id INTEGER PRIMARY KEY, name "
                "VARCHAR(255) UNIQUE, description TEXT, spec TEXT, created_at "
                "DATETIME, updated_at DATETIME, deleted INTEGER NOT NULL DEFAULT 0)")
            conn.execute(sa.text(
                "INSERT INTO pci_flavors (id, name, spec) VALUES (:i, :n, :s)"),
                [{"i": i, "n": "f%04d" % i, "s": '{"vendor_id":"10de",'
                  '"product_id":"%04x"}' % i} for i in range(FLAVORS)])
        engine.dispose()
        data = sources.read_table(url)
        targets = plan.targets_from_mapping(
            {name: "agg-%03d" % (int(name[1:]) % AGGREGATES)
             for name in data.flavors}, data.flavors)
        plain = self.keystone_session()
        sess = CountingSession(auth=plain.auth,
                               additional_headers=plain.additional_headers)
        sess.calls = collections.Counter()
        admin = api.PciFlavorAdmin(sess)
        journal = os.path.join(tmp, "journal")
        for label in ("first run", "second run"):
            sess.calls.clear()
            start = time.perf_counter()
            report = apply.migrate(admin, data, targets, journal)
            elapsed = time.perf_counter() - start
            assert report.ok, report
            print("%s: %d flavors onto %d aggregates: %d changes, %d API calls "
                  "(%s), %.2f s" % (
                      label, len(data.flavors), AGGREGATES, len(report.applied),
                      sum(sess.calls.values()),
                      ", ".join("%s %s: %d" % (m, p, c) for (m, p), c in
                                sorted(sess.calls.items())), elapsed))
        sess.calls.clear()
        start = time.perf_counter()
        undone = apply.undo(admin, journal)
        assert undone.ok, undone
        print("undo: %d restores, %d API calls, %.2f s" % (
            len(undone.applied), sum(sess.calls.values()),
            time.perf_counter() - start))


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=0).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(BenchMigrate))
    sys.exit(0 if result.wasSuccessful() else 1)
