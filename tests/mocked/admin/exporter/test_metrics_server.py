"""aggregate_pci.admin.exporter.metrics_server: a failed refresh keeps the
last good values, one refresh in flight, refreshes on the interval."""

import threading
import time
import unittest

from aggregate_pci.admin import inventory_read
from aggregate_pci.admin.exporter import metrics_server
from tests.fixtures.exporter_inventory import (
    inventory_doc,
    key,
    scrape,
)


class RefreshTest(unittest.TestCase):
    def test_failed_refresh_keeps_last_good_values(self):
        inv = inventory_read.from_json(inventory_doc())
        calls = []
        logged = []

        def load():
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("database is gone")
            return inv

        exp = metrics_server.Exporter(load, log=logged.append)
        self.assertTrue(exp.refresh())
        first = scrape(exp)
        self.assertEqual(1, first[key("up")])
        self.assertFalse(exp.refresh())
        second = scrape(exp)
        self.assertEqual(0, second[key("up")])
        self.assertEqual(1, second[key("refresh_failures_total")])
        self.assertEqual(2, second[key("refreshes_total")])
        self.assertIn("database is gone", logged[-1])
        self.assertIn("last good values", logged[-1])
        data = {k: v for k, v in first.items() if "devices" in k[0] or "fit" in k[0]}
        self.assertTrue(data)
        for k, v in data.items():
            self.assertEqual(v, second[k], k)
        self.assertEqual(
            first[key("last_success_timestamp_seconds")],
            second[key("last_success_timestamp_seconds")],
        )
        self.assertTrue(exp.refresh())
        self.assertEqual(1, scrape(exp)[key("up")])

    def test_first_refresh_failing_exports_only_status(self):
        def load():
            raise OSError("no such file")

        exp = metrics_server.Exporter(load, log=lambda m: None)
        self.assertFalse(exp.refresh())
        got = scrape(exp)
        self.assertEqual(0, got[key("up")])
        self.assertFalse([k for k in got if "devices" in k[0]])
        self.assertNotIn(key("last_success_timestamp_seconds"), got)

    def test_one_refresh_in_flight(self):
        inv = inventory_read.from_json(inventory_doc())
        entered, release = threading.Event(), threading.Event()
        calls = []

        def slow_load():
            calls.append(1)
            entered.set()
            release.wait(10)
            return inv

        exp = metrics_server.Exporter(slow_load)
        t = threading.Thread(target=exp.refresh)
        t.start()
        self.assertTrue(entered.wait(10))
        self.assertFalse(exp.refresh())  # refused while the first runs
        release.set()
        t.join(10)
        self.assertEqual(1, len(calls))
        self.assertEqual(1, exp.refreshes)
        self.assertEqual(1, exp.up)

    def test_run_refreshes_on_the_interval_until_stopped(self):
        inv = inventory_read.from_json(inventory_doc())
        exp = metrics_server.Exporter(lambda: inv)
        stop = threading.Event()
        t = threading.Thread(target=exp.run, args=(0.05, stop))
        t.start()
        deadline = time.monotonic() + 10
        while exp.refreshes < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertGreaterEqual(exp.refreshes, 3)
