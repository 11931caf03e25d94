"""A REAL Prometheus scrapes ``aggregate-pci exporter`` serving the
in-process Nova's data (a separate process given a nova.conf on copies of its
databases); the values Prometheus answers on its HTTP API must equal
``capacity``'s numbers.  The example alert rules of docs/monitoring.md are
loaded into the same Prometheus and must evaluate without error.

Needs Debian's ``prometheus`` package (``apt-get install prometheus``;
.ci/run installs it): skipped without it, except under CI=true (fails).
"""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from aggregate_pci.admin.nova_io import client
from tests.fixtures import nova_harness as support
from tests.fixtures import paths
from tests.fixtures.cli_run import AGGREGATE_PCI
from tests.fixtures.nova_harness import GPU_A100, GPU_T4, write_nova_conf

ROOT = str(paths.ROOT)
A100 = '{"vendor_id":"10de","product_id":"20b5"}'
T4 = '{"vendor_id":"10de","product_id":"1eb8"}'
#: The exporter's --interval, and Prometheus's scrape and evaluation
#: interval (seconds).
INTERVAL = 2
PROM_INTERVAL = 1
#: The capacity series whose last good values a stuck exporter keeps serving.
DATA_SERIES = (
    '{__name__=~"aggregate_pci_(cloud_|host_)?devices_(free|used)'
    '|aggregate_pci_(cloud_|host_)?instances_fit"}'
)


def prometheus_binary():
    """The prometheus binary (Debian's package), or None."""
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc_alert_rules():
    """The ```yaml block after 'alert rules' in docs/monitoring.md."""
    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- alert-rules -->\s*```yaml\n(.*?)```", text, re.S)
    assert m, "docs/monitoring.md lost its alert rules block"
    return m.group(1)


def dashboard_exprs():
    """The PromQL of every panel of docs/monitoring.md's Grafana dashboard."""
    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- grafana-dashboard -->\s*```json\n(.*?)```", text, re.S)
    assert m, "docs/monitoring.md lost its dashboard block"
    return [t["expr"] for p in json.loads(m.group(1))["panels"] for t in p["targets"]]


class PrometheusScrapeTest(support.CliTestBase):
    def setUp(self):
        super().setUp()
        self.prometheus = prometheus_binary()
        if self.prometheus is None:
            message = (
                "Debian's prometheus package is not installed "
                "(apt-get install -y prometheus; .ci/run does)"
            )
            if os.environ.get("CI") == "true":
                self.fail(message + ": required under CI=true")
            self.skipTest(message)
        self.start_compute(
            "compute1",
            pci_info=support.gpu_host(
                [(0x81, GPU_A100), (0x82, GPU_A100), (0x83, GPU_T4)]
            ),
        )
        self.start_compute("compute2", pci_info=support.gpu_host([(0x81, GPU_A100)]))
        self.admin = client.PciFlavorAdmin(self.keystone_session())
        rack1 = self.admin.create_aggregate("gpu-rack1")
        rack2 = self.admin.create_aggregate("gpu-rack2")
        for agg, hosts in ((rack1, ("compute1", "compute2")), (rack2, ("compute2",))):
            for host in hosts:
                self.admin.add_host(agg, host)
        self.admin.create_pci_flavor("a100", "gpu-rack1", A100)
        self.admin.create_pci_flavor("t4", "gpu-rack1", T4)
        self.admin.create_pci_flavor("a100", "gpu-rack2", A100)
        self.flavor_ids = {
            name: self._create_flavor(
                name=name, extra_spec={"pci_passthrough:alias": spec}
            )
            for name, spec in (("gpu.a100", "a100:1"), ("gpu.a100-t4", "a100:1,t4:1"))
        }
        for _ in range(2):
            self.boot(self.flavor_ids["gpu.a100"])
        # a bad key written past our client's validation
        self.set_metadata(rack2.id, {"pci_flavor:broken": '{"vendor_id": 10}'})
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def cli_json(self, *argv):
        """The JSON ``aggregate-pci ARGV`` prints, asserting it succeeded."""
        rc, out, err = self.cli(*argv)
        self.assertEqual(0, rc, err)
        return json.loads(out)

    def start_exporter(self, conf, alias_conf):
        log = open(os.path.join(self.tmp, "exporter.log"), "w+")
        self.addCleanup(log.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        proc = subprocess.Popen(
            [
                AGGREGATE_PCI,
                "exporter",
                "--config-file",
                conf,
                "--nova-conf",
                alias_conf,
                "--per-host",
                "--listen",
                "127.0.0.1:0",
                "--interval",
                str(INTERVAL),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        self.addCleanup(self.stop, proc)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log.seek(0)
            m = re.search(r"serving http://(127\.0\.0\.1:\d+)/metrics", log.read())
            if m:
                return m.group(1)
            self.assertIsNone(proc.poll(), "exporter exited: %s" % self.read(log))
            time.sleep(0.2)
        self.fail("exporter did not start: %s" % self.read(log))

    @staticmethod
    def read(f):
        f.seek(0)
        return f.read()

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)

    def start_prometheus(self, target):
        port = free_port()
        rules = os.path.join(self.tmp, "rules.yml")
        with open(rules, "w") as f:
            f.write(doc_alert_rules())
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n  scrape_interval: %ds\n  scrape_timeout: %ds\n"
                "  evaluation_interval: %ds\n"
                "rule_files: [%s]\n"
                "scrape_configs:\n  - job_name: aggregate-pci\n"
                "    static_configs:\n      - targets: ['%s']\n"
                % (
                    PROM_INTERVAL,
                    PROM_INTERVAL,
                    PROM_INTERVAL,
                    json.dumps(rules),
                    target,
                )
            )
        log = open(os.path.join(self.tmp, "prometheus.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            [
                self.prometheus,
                "--config.file=" + config,
                "--storage.tsdb.path=" + os.path.join(self.tmp, "data"),
                "--web.listen-address=127.0.0.1:%d" % port,
                "--log.level=warn",
            ],
            stdout=log,
            stderr=log,
        )
        self.addCleanup(self.stop, proc)
        self.prom_url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "prometheus exited: %s" % self.read(log))
            try:
                with urllib.request.urlopen(self.prom_url + "/-/ready", timeout=5):
                    return
            except OSError:
                time.sleep(0.3)
        self.fail("prometheus not ready: %s" % self.read(log))

    def prom_api(self, path, **params):
        url = "%s/api/v1/%s?%s" % (self.prom_url, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        self.assertEqual("success", body["status"], body)
        return body["data"]

    def query(self, promql, drop=("__name__", "job", "instance")):
        """{frozenset(labels without those in ``drop``): value}."""
        data = self.prom_api("query", query=promql)
        self.assertEqual("vector", data["resultType"])
        return {
            frozenset((k, v) for k, v in r["metric"].items() if k not in drop): float(
                r["value"][1]
            )
            for r in data["result"]
        }

    def start_exporter_and_prometheus(self):
        """The exporter on the in-process Nova (``--nova-conf`` the returned
        alias file) scraped by Prometheus, once Prometheus has ``up 1``."""
        conf = write_nova_conf(self)
        alias_conf = os.path.join(self.tmp, "alias.conf")
        with open(alias_conf, "w") as f:
            f.write(
                "[pci]\n"
                'alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5"}\n'
                'alias = {"name": "legacy", "vendor_id": "8086", "product_id": "1"}\n'
            )
        target = self.start_exporter(conf, alias_conf)
        self.start_prometheus(target)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.query("aggregate_pci_up == 1 and aggregate_pci_refreshes_total"):
                break
            time.sleep(0.5)
        self.assertEqual({frozenset(): 1.0}, self.query("aggregate_pci_up"))
        return alias_conf

    def test_prometheus_values_equal_capacity(self):
        self.start_exporter_and_prometheus()

        rows = self.cli_json("capacity", "-f", "json")
        self.assertTrue(rows)
        scopes = {
            "total": ("aggregate_pci_cloud_devices_", ()),
            "aggregate": ("aggregate_pci_devices_", ("aggregate",)),
            "host": ("aggregate_pci_host_devices_", ("host",)),
        }
        for column in ("free", "used"):
            expected = {}
            for r in rows:
                prefix, label = scopes[r["Scope"]]
                labels = [("pci_flavor", r["PCI Flavor"])]
                labels += [(name, r["Name"]) for name in label]
                expected[(prefix, frozenset(labels))] = float(r[column.capitalize()])
            got = {
                (prefix, labels): value
                for prefix, _ in scopes.values()
                for labels, value in self.query(prefix + column).items()
            }
            self.assertEqual(expected, got, column)
        # the figures themselves: 3 A100s, 2 used by the servers
        self.assertEqual(
            {frozenset({("pci_flavor", "a100")}): 1.0},
            self.query("aggregate_pci_cloud_devices_free{pci_flavor='a100'}"),
        )

        for name in self.flavor_ids:
            fit = {
                r["Name"]: r["Instances"]
                for r in self.cli_json("capacity", "--fit", name, "-f", "json")
            }
            self.assertEqual(
                {frozenset({("nova_flavor", name)}): float(fit.pop("*"))},
                self.query(
                    "aggregate_pci_cloud_instances_fit{nova_flavor='%s'}" % name
                ),
            )
            self.assertEqual(
                {
                    frozenset({("nova_flavor", name), ("host", h)}): float(n)
                    for h, n in fit.items()
                },
                self.query("aggregate_pci_host_instances_fit{nova_flavor='%s'}" % name),
            )
            per_agg = self.query("aggregate_pci_instances_fit{nova_flavor='%s'}" % name)
            self.assertEqual(
                float(fit.get("compute1", 0) + fit.get("compute2", 0)),
                per_agg[frozenset({("nova_flavor", name), ("aggregate", "gpu-rack1")})],
            )
        self.assertEqual(
            {
                frozenset(
                    {("aggregate", "gpu-rack2"), ("key", "pci_flavor:broken")}
                ): 1.0
            },
            self.query("aggregate_pci_invalid_definitions"),
        )
        self.assertEqual(
            {frozenset({("pci_flavor", "t4")}): 1.0},
            self.query("aggregate_pci_alias_missing"),
        )
        self.assertEqual(
            {frozenset({("alias", "legacy")}): 1.0},
            self.query("aggregate_pci_alias_without_pci_flavor"),
        )
        self.assertEqual({}, self.query("aggregate_pci_alias_drift"))

        # docs/monitoring.md's alert rules: loaded, evaluated, no errors; the
        # "fewer than 2 more instances" alert fires for gpu-rack1 (1 A100 free)
        # Rules are evaluated on Prometheus's own interval, possibly before
        # the first scrape: wait (bounded) until an evaluation after it
        # shows the alert, pending or firing.
        wanted = {"aggregate": "gpu-rack1", "nova_flavor": "gpu.a100"}
        deadline = time.monotonic() + 90
        while True:
            groups = self.prom_api("rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            alerts = self.prom_api("alerts")["alerts"]
            low = [
                {k: a["labels"].get(k) for k in wanted}
                for a in alerts
                if a["labels"]["alertname"] == "PciFlavorLowCapacity"
            ]
            evaluated = rules and all(
                r.get("lastEvaluation", "0001").startswith("20") for r in rules
            )
            if (evaluated and wanted in low) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertTrue(rules)
        for rule in rules:
            self.assertEqual("ok", rule["health"], rule)
        self.assertIn(wanted, low, alerts)
        # the Grafana dashboard's queries parse and evaluate
        for expr in dashboard_exprs():
            self.prom_api("query", query=expr.replace("$__rate_interval", "1m"))

    @staticmethod
    def unblock(fifo):
        """Let a reader blocked on ``fifo`` go on (it reads an empty file)."""
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader: nothing is blocked on it
            pass

    def test_stuck_refresh_sets_up_0_and_fires_the_doc_alert(self):
        """A refresh that hangs past --interval (its nova.conf read blocks,
        as on a hung NFS mount: no --timeout bounds it): Prometheus sees
        ``aggregate_pci_up`` 0 with the last good capacity values, and
        docs/monitoring.md's PciExporterFailing fires in time."""
        alias_conf = self.start_exporter_and_prometheus()
        keep_name = ("job", "instance")
        good = self.query(DATA_SERIES, drop=keep_name)
        self.assertEqual(
            1.0,
            good[
                frozenset(
                    {
                        ("__name__", "aggregate_pci_cloud_devices_free"),
                        ("pci_flavor", "a100"),
                    }
                )
            ],
        )
        rule = [
            r
            for g in self.prom_api("rules")["groups"]
            for r in g["rules"]
            if r["name"] == "PciExporterFailing"
        ]
        self.assertEqual(1, len(rule), "docs/monitoring.md lost PciExporterFailing")
        hold = float(rule[0]["duration"])  # the doc's for:, as Prometheus loaded it
        # the doc's arithmetic: 60 s interval + 15 s scrape + 15 s evaluation
        # + for: fits in two 60 s intervals of the hung refresh's start
        self.assertLessEqual(
            60 + 2 * 15 + hold, 2 * 60, "docs/monitoring.md: PciExporterFailing"
        )
        # From the hang: the next refresh starts within one INTERVAL (one
        # starts every INTERVAL s; the one in flight read the old file) and
        # overruns one INTERVAL later, so /metrics says up 0 within
        # 2 * INTERVAL; Prometheus scrapes it within PROM_INTERVAL, the next
        # evaluation (within PROM_INTERVAL) makes the alert pending and it
        # fires at the first evaluation `for:` after that.  Plus 5 s for
        # scrape latency and polling on a busy CPU.
        bound = hold + 2 * INTERVAL + 2 * PROM_INTERVAL + 5
        fifo = os.path.join(self.tmp, "hung.conf")
        os.mkfifo(fifo)
        os.replace(fifo, alias_conf)  # the next read of it blocks in open()
        hung_at = time.monotonic()
        self.addCleanup(self.unblock, alias_conf)
        stuck = running = fired = None
        while fired is None and time.monotonic() < hung_at + bound:
            if stuck is None:
                # one instant: the data series, only while up is 0 (a series
                # the exporter stopped serving would be stale, so absent)
                stuck = (
                    self.query(
                        DATA_SERIES + " and on() (aggregate_pci_up == 0)",
                        drop=keep_name,
                    )
                    or None
                )
                running = self.query("aggregate_pci_refresh_running_seconds")
            failing = [
                a
                for a in self.prom_api("alerts")["alerts"]
                if a["labels"]["alertname"] == "PciExporterFailing"
            ]
            if any(a["state"] == "firing" for a in failing):
                fired = time.monotonic() - hung_at
            time.sleep(0.5)
        self.assertIsNotNone(
            stuck, "Prometheus never saw aggregate_pci_up 0 within %.0f s" % bound
        )
        self.assertEqual(good, stuck)
        self.assertGreater(running[frozenset()], INTERVAL)
        self.assertIsNotNone(
            fired,
            "PciExporterFailing (for: %gs) not firing %.0f s after the refresh "
            "hung: %s" % (hold, bound, failing),
        )
        self.assertGreaterEqual(fired, hold)
        self.assertEqual({frozenset(): 0.0}, self.query("aggregate_pci_up"))
        self.assertEqual(good, self.query(DATA_SERIES, drop=keep_name))
