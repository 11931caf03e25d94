"""aggregate_pci.admin.exporter.metrics over inventories: the metrics equal
capacity's numbers, alias drift, every metric has help, and the monitoring
page names only metrics the exporter has."""

import json
import os
import re
import tempfile
import unittest

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aggregate_pci.admin import inventory_read, models
from aggregate_pci.admin.capacity import headroom, report
from aggregate_pci.admin.exporter import metrics_server
from tests.fixtures import paths
from tests.fixtures.exporter_inventory import (
    inventory_doc,
    key,
    scrape,
)


class SnapshotTest(unittest.TestCase):
    def setUp(self):
        self.inv = inventory_read.from_json(inventory_doc())
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


class MonitoringDocTest(unittest.TestCase):
    """docs/monitoring.md: the dashboard JSON parses; the dashboard, the
    alert rules and the metrics table name only metrics the exporter has."""

    def setUp(self):
        root = str(paths.ROOT)
        with open(os.path.join(root, "docs", "monitoring.md"), encoding="utf-8") as f:
            self.text = f.read()
        inv = inventory_read.from_json(inventory_doc())
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
