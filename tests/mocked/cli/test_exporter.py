"""``aggregate-pci exporter`` (aggregate_pci.cli.exporter) over an
inventory: the textfile written atomically, argument errors, and the HTTP
server in a separate process."""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.request

from aggregate_pci.cli import exporter as exporter_cli
from tests.fixtures import cli_run
from tests.fixtures.cli_run import AGGREGATE_PCI
from tests.fixtures.exporter_inventory import (
    inventory_doc,
    key,
    samples,
)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.inv = os.path.join(self.tmp, "inventory.json")
        with open(self.inv, "w") as f:
            json.dump(inventory_doc(), f)

    def capacity_rows(self):
        rc, out, err = cli_run.run(["capacity", "--inventory", self.inv, "-f", "json"])
        self.assertEqual(0, rc, err)
        return json.loads(out)

    def test_once_textfile(self):
        path = os.path.join(self.tmp, "pci.prom")
        rc, _, err = cli_run.run(
            ["exporter", "--inventory", self.inv, "--once", "--textfile", path]
        )
        self.assertEqual(0, rc, err)
        # pci.prom.lock: the flock of cron runs (issue 22); node_exporter
        # reads *.prom only.
        self.assertEqual(
            ["inventory.json", "pci.prom", "pci.prom.lock"],
            sorted(os.listdir(self.tmp)),
        )
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
        rc, _, err = cli_run.run(
            ["exporter", "--inventory", self.inv, "--once", "--textfile", path]
        )
        self.assertEqual(1, rc)
        self.assertIn("not valid JSON", err)
        self.assertIn("left as it was", err)
        self.assertEqual(before, (os.stat(path).st_mtime_ns, open(path).read()))

    def test_argument_errors(self):
        rc, _, err = cli_run.run(["exporter", "--inventory", self.inv, "--once"])
        self.assertEqual((1, "error: --once and --textfile go together\n"), (rc, err))
        rc, _, err = cli_run.run(["exporter", "--once", "--textfile", "x"])
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
