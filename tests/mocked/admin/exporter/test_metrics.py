"""The Prometheus exporter over inventories: the metrics equal capacity's
numbers, alias drift, a failed refresh keeps the last good values, one
refresh in flight, the textfile written atomically, and the HTTP server in a
separate process."""

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aggregate_pci.admin import inventory, models
from aggregate_pci.admin.capacity import headroom, report
from aggregate_pci.admin.exporter import metrics_server
from aggregate_pci.cli import exporter as exporter_cli
from aggregate_pci.cli import shell
from tests.fixtures import paths

AGGREGATE_PCI = os.path.join(os.path.dirname(sys.executable), "aggregate-pci")
A100 = '{"vendor_id":"10de","product_id":"20b5"}'
T4 = '{"vendor_id":"10de","product_id":"1eb8"}'
ANY_NV = '[{"vendor_id":"10de","product_id":"20b5"},{"vendor_id":"10de","product_id":"1eb8"}]'


def pool(product, count, used, address):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "numa_node": 0,
        "address": address,
        "count": count,
        "used": used,
    }


def inventory_doc():
    """Two racks; c2 in both; 'gpu' is A100 on rack1 and A100|T4 on rack2."""
    return {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": [
            {
                "name": "rack1",
                "hosts": ["c1", "c2"],
                "metadata": {
                    "pci_flavor:a100": A100,
                    "pci_flavor:gpu": A100,
                    "pci_flavor:broken": '{"vendor_id": 10}',
                },
            },
            {
                "name": "rack2",
                "hosts": ["c2", "c3"],
                "metadata": {"pci_flavor:t4": T4, "pci_flavor:gpu": ANY_NV},
            },
        ],
        "hosts": {
            "c1": [pool("20b5", 3, 1, "0000:81:00.0")],
            "c2": [
                pool("20b5", 1, 1, "0000:81:00.0"),
                pool("1eb8", 2, 0, "0000:82:00.0"),
            ],
            "c3": [pool("1eb8", 1, 2, "0000:82:00.0")],
        },
        "nova_flavors": [
            {
                "name": "g.a100",
                "id": "1",
                "extra_specs": {"pci_passthrough:alias": "a100:2"},
            },
            {
                "name": "g.mix",
                "id": "2",
                "extra_specs": {"pci_passthrough:alias": "a100:1,t4:1"},
            },
            {
                "name": "g.gpu",
                "id": "3",
                "extra_specs": {"pci_passthrough:alias": "gpu:1"},
            },
            {
                "name": "g.none",
                "id": "4",
                "extra_specs": {"pci_passthrough:alias": "nope:1"},
            },
        ],
    }


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def scrape(exp):
    return samples(generate_latest(metrics_server.registry(exp)).decode())


def key(name, **labels):
    return ("aggregate_pci_" + name, frozenset(labels.items()))


class SnapshotTest(unittest.TestCase):
    def setUp(self):
        self.inv = inventory.from_json(inventory_doc())
        self.records = [
            r for a in self.inv.aggregates for r in models.pci_flavor_records(a)
        ]

    def exporter(self, **kw):
        exp = metrics_server.Exporter(lambda: self.inv, **kw)
        self.assertTrue(exp.refresh())
        return exp

    def test_devices_equal_capacity_rows(self):
        got = scrape(self.exporter(per_host=True))
        rows = report.capacity(self.records, self.inv.hosts)
        self.assertTrue(rows)
        for r in rows:
            if r.scope == "total":
                labels = {"pci_flavor": r.flavor}
            elif r.scope == "aggregate":
                labels = {"pci_flavor": r.flavor, "aggregate": r.name}
            else:
                labels = {"pci_flavor": r.flavor, "host": r.name}
            prefix = {"total": "cloud_", "aggregate": "", "host": "host_"}[r.scope]
            self.assertEqual(r.free, got[key(prefix + "devices_free", **labels)], r)
            self.assertEqual(r.used, got[key(prefix + "devices_used", **labels)], r)
        # spot checks by hand: gpu on c2 is the OR (A100|T4): 3 free, 1 used
        self.assertEqual(3, got[key("host_devices_free", pci_flavor="gpu", host="c2")])
        self.assertEqual(4, got[key("cloud_devices_free", pci_flavor="a100")])
        self.assertEqual(
            4, got[key("devices_free", pci_flavor="gpu", aggregate="rack2")]
        )
        n_series = len(
            [k for k in got if k[0].startswith("aggregate_pci_host_devices")]
        )
        self.assertEqual(2 * len([r for r in rows if r.scope == "host"]), n_series)

    def test_no_per_host_series_without_the_flag(self):
        got = scrape(self.exporter())
        self.assertFalse([k for k in got if "_host_" in k[0]])
        self.assertIn(key("devices_free", pci_flavor="a100", aggregate="rack1"), got)

    def test_instances_fit_equal_report_fit(self):
        got = scrape(self.exporter(per_host=True))
        for name, request in (
            ("g.a100", {"a100": 2}),
            ("g.mix", {"a100": 1, "t4": 1}),
            ("g.gpu", {"gpu": 1}),
        ):
            per_host, total = headroom.fit(self.records, self.inv.hosts, request)
            self.assertEqual(total, got[key("cloud_instances_fit", nova_flavor=name)])
            for host, n in per_host.items():
                self.assertEqual(
                    n, got[key("host_instances_fit", nova_flavor=name, host=host)]
                )
        # by hand: a100:2 fits once on c1 (3 free), c2 has 1 free -> 0
        self.assertEqual(1, got[key("cloud_instances_fit", nova_flavor="g.a100")])
        self.assertEqual(
            1, got[key("instances_fit", nova_flavor="g.a100", aggregate="rack1")]
        )
        # a100+t4 fits only on c2 (in both racks); counted in each rack
        self.assertEqual(
            1, got[key("instances_fit", nova_flavor="g.mix", aggregate="rack1")]
        )
        self.assertEqual(
            1, got[key("instances_fit", nova_flavor="g.mix", aggregate="rack2")]
        )
        # gpu:1 -> c1 3 + c2 3 (OR) + c3 1 = 7; rack2 = c2 + c3 = 4
        self.assertEqual(7, got[key("cloud_instances_fit", nova_flavor="g.gpu")])
        self.assertEqual(
            4, got[key("instances_fit", nova_flavor="g.gpu", aggregate="rack2")]
        )
        # a request naming an undefined PCI flavor: unmanaged, not exported
        self.assertFalse([k for k in got if ("nova_flavor", "g.none") in k[1]])

    def test_invalid_definitions(self):
        got = scrape(self.exporter())
        bad = {k: v for k, v in got.items() if "invalid_definitions" in k[0]}
        self.assertEqual(
            {key("invalid_definitions", aggregate="rack1", key="pci_flavor:broken"): 1},
            bad,
        )

    def test_alias_metrics(self):
        got = scrape(self.exporter())
        self.assertEqual(0, got[key("alias_checked")])
        self.assertFalse([k for k in got if "alias_missing" in k[0]])
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                "[pci]\n"
                'alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5"}\n'
                'alias = {"name": "t4", "vendor_id": "10de", "product_id": "ffff"}\n'
                'alias = {"name": "old", "vendor_id": "8086", "product_id": "1"}\n'
                'alias = {"name": "worse", "vendor_id": "8086", "bogus": "1"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        got = scrape(self.exporter(nova_conf=f.name))
        self.assertEqual(1, got[key("alias_checked")])

        def ones(name, label):
            return sorted(
                dict(k[1])[label] for k, v in got.items() if k[0] == name and v == 1
            )

        # gpu: no alias; t4: alias differs; a100 matches; old: no flavor
        self.assertEqual(["gpu"], ones("aggregate_pci_alias_missing", "pci_flavor"))
        self.assertEqual(["t4"], ones("aggregate_pci_alias_drift", "pci_flavor"))
        self.assertEqual(
            ["old"], ones("aggregate_pci_alias_without_pci_flavor", "alias")
        )
        self.assertEqual(1, got[key("alias_invalid_entries")])

    def test_every_metric_has_help(self):
        text = generate_latest(metrics_server.registry(self.exporter())).decode()
        for fam in text_string_to_metric_families(text):
            self.assertTrue(fam.documentation, fam.name)
            self.assertTrue(fam.name.startswith("aggregate_pci_"), fam.name)


class RefreshTest(unittest.TestCase):
    def test_failed_refresh_keeps_last_good_values(self):
        inv = inventory.from_json(inventory_doc())
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
        inv = inventory.from_json(inventory_doc())
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
        inv = inventory.from_json(inventory_doc())
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


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.inv = os.path.join(self.tmp, "inventory.json")
        with open(self.inv, "w") as f:
            json.dump(inventory_doc(), f)

    def cli(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        rc = shell.main(list(argv), stdout=out, stderr=err)
        return rc, out.getvalue(), err.getvalue()

    def capacity_rows(self):
        rc, out, err = self.cli("capacity", "--inventory", self.inv, "-f", "json")
        self.assertEqual(0, rc, err)
        return json.loads(out)

    def test_once_textfile(self):
        path = os.path.join(self.tmp, "pci.prom")
        rc, _, err = self.cli(
            "exporter", "--inventory", self.inv, "--once", "--textfile", path
        )
        self.assertEqual(0, rc, err)
        self.assertEqual(["inventory.json", "pci.prom"], sorted(os.listdir(self.tmp)))
        with open(path) as f:
            got = samples(f.read())
        for r in self.capacity_rows():
            if r["Scope"] == "aggregate":
                self.assertEqual(
                    r["Free"],
                    got[
                        key(
                            "devices_free",
                            pci_flavor=r["PCI Flavor"],
                            aggregate=r["Name"],
                        )
                    ],
                )
        self.assertEqual(1, got[key("up")])
        self.assertFalse([k for k in got if k[0].startswith("process_")])

        # sources unreadable: exit 1, one line, the file left as it was
        before = os.stat(path).st_mtime_ns, open(path).read()
        with open(self.inv, "w") as f:
            f.write("{not json")
        rc, _, err = self.cli(
            "exporter", "--inventory", self.inv, "--once", "--textfile", path
        )
        self.assertEqual(1, rc)
        self.assertIn("not valid JSON", err)
        self.assertIn("left as it was", err)
        self.assertEqual(before, (os.stat(path).st_mtime_ns, open(path).read()))

    def test_argument_errors(self):
        rc, _, err = self.cli("exporter", "--inventory", self.inv, "--once")
        self.assertEqual((1, "error: --once and --textfile go together\n"), (rc, err))
        rc, _, err = self.cli("exporter", "--once", "--textfile", "x")
        self.assertEqual(1, rc)
        self.assertIn("give --inventory FILE or --config-file", err)
        self.assertEqual(
            ("127.0.0.1", 9715), exporter_cli.parse_listen("127.0.0.1:9715")
        )
        self.assertEqual(("::1", 80), exporter_cli.parse_listen("[::1]:80"))
        self.assertEqual(("0.0.0.0", 9715), exporter_cli.parse_listen(":9715"))
        for bad in ("9715", "host:", "h:99999", "h:x"):
            with self.assertRaises(argparse.ArgumentTypeError, msg=bad):
                exporter_cli.parse_listen(bad)

    def test_http_server_process(self):
        proc = subprocess.Popen(
            [
                AGGREGATE_PCI,
                "exporter",
                "--inventory",
                self.inv,
                "--listen",
                "127.0.0.1:0",
                "--interval",
                "0.2",
                "--per-host",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.kill)
        line = proc.stderr.readline()
        m = re.search(r"serving (http://127\.0\.0\.1:\d+/metrics)", line)
        self.assertTrue(m, line)
        url = m.group(1)

        def get():
            with urllib.request.urlopen(url, timeout=10) as resp:
                return samples(resp.read().decode())

        got = get()
        self.assertEqual(1, got[key("up")])
        self.assertIn(("process_resident_memory_bytes", frozenset()), got)
        for r in self.capacity_rows():
            if r["Scope"] == "host":
                self.assertEqual(
                    r["Used"],
                    got[
                        key(
                            "host_devices_used",
                            pci_flavor=r["PCI Flavor"],
                            host=r["Name"],
                        )
                    ],
                )
        # break the source: up goes 0, the data stays as it was
        with open(self.inv, "w") as f:
            f.write("{not json")
        deadline = time.monotonic() + 20
        while get()[key("up")] != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        later = get()
        self.assertEqual(0, later[key("up")])
        for k, v in got.items():
            if k[0].startswith("aggregate_pci_") and (
                "devices" in k[0] or "fit" in k[0]
            ):
                self.assertEqual(v, later[k], k)
        self.assertIn(
            "refresh failed, serving the last good values", proc.stderr.readline()
        )
        proc.terminate()
        proc.wait(30)


class MonitoringDocTest(unittest.TestCase):
    """docs/monitoring.md: the dashboard JSON parses; the dashboard, the
    alert rules and the metrics table name only metrics the exporter has."""

    def setUp(self):
        root = str(paths.ROOT)
        with open(os.path.join(root, "docs", "monitoring.md"), encoding="utf-8") as f:
            self.text = f.read()
        inv = inventory.from_json(inventory_doc())
        exp = metrics_server.Exporter(lambda: inv, per_host=True)
        exp.refresh()
        self.known = {
            fam.name + suffix
            for fam in exp.collect()
            for suffix in (("_total",) if fam.type == "counter" else ("",))
        }

    def test_dashboard_parses_and_names_known_metrics(self):
        m = re.search(
            r"<!-- grafana-dashboard -->\s*```json\n(.*?)```", self.text, re.S
        )
        self.assertTrue(m)
        dashboard = json.loads(m.group(1))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 6)
        used = {n for e in exprs for n in re.findall(r"aggregate_pci_\w+", e)}
        self.assertTrue(used)
        self.assertEqual(set(), used - self.known)

    def test_alerts_and_table_name_known_metrics(self):
        m = re.search(r"<!-- alert-rules -->\s*```yaml\n(.*?)```", self.text, re.S)
        self.assertTrue(m)
        used = set(re.findall(r"aggregate_pci_\w+", m.group(1)))
        used |= set(re.findall(r"`(aggregate_pci_\w+)`", self.text))
        self.assertEqual(set(), used - self.known)
        self.assertEqual(set(), self.known - used, "undocumented metrics")
