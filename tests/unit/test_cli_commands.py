"""The cliff commands end to end over requests-mock: output, exit status,
dry-run, errors on stderr."""

import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest

import requests_mock
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin.nova_io import client, translate
from aggregate_pci.cli import shell
from tests.unit.fakes import A100, URL, FakeNova, aggregate

AGGREGATE_PCI = os.path.join(os.path.dirname(sys.executable), "aggregate-pci")


class CliTest(unittest.TestCase):
    def setUp(self):
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.nova = FakeNova(
            self.mock,
            [aggregate(1, "gpu-hosts", ["c1"], {"pci_flavor:a100": A100}, uuid="u1")],
            flavors=[
                {
                    "id": "10",
                    "name": "gpu.small",
                    "extra_specs": {"pci_passthrough:alias": "a100:1"},
                }
            ],
        )
        self.aggs = self.nova.aggregates
        self.flavors = self.nova.flavors

    def run_cli(self, *argv):
        sess = ks_session.Session(auth=noauth.NoAuth(endpoint=URL))
        out, err = io.StringIO(), io.StringIO()
        rc = shell.main(
            list(argv),
            stdout=out,
            stderr=err,
            admin_factory=lambda: client.PciFlavorAdmin(sess, connect_retries=0),
        )
        return rc, out.getvalue(), err.getvalue()

    def posts(self):
        return [r for r in self.mock.request_history if r.method == "POST"]

    def test_create_with_options_json_output(self):
        rc, out, err = self.run_cli(
            "flavor",
            "create",
            "vf2",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "15B3",
            "--product-id",
            "101e",
            "--device-type",
            "type-VF",
            "--match",
            "physical_network=physnet2",
            "-f",
            "json",
        )
        self.assertEqual(0, rc, err)
        data = json.loads(out)
        self.assertEqual("created", data["Result"])
        value = (
            '{"device_type":"type-VF","physical_network":"physnet2",'
            '"product_id":"101e","vendor_id":"15b3"}'
        )
        self.assertEqual(value, data["New Value"])
        self.assertEqual(value, self.aggs[0]["metadata"]["pci_flavor:vf2"])

    def test_create_dry_run(self):
        rc, out, _ = self.run_cli(
            "flavor",
            "create",
            "t4",
            "--aggregate",
            "gpu-hosts",
            "--spec",
            '{"vendor_id":"10de","product_id":"1eb8"}',
            "--dry-run",
            "-f",
            "value",
            "-c",
            "Result",
        )
        self.assertEqual(0, rc)
        self.assertEqual("would be created (dry run)", out.strip())
        self.assertEqual([], self.posts())

    def test_create_conflict_exit_1_changes_nothing(self):
        rc, out, err = self.run_cli(
            "flavor",
            "create",
            "a100",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "10de",
            "--product-id",
            "1db4",
        )
        self.assertEqual(1, rc)
        self.assertIn("error: aggregate 'gpu-hosts', key 'pci_flavor:a100'", err)
        self.assertIn("--replace", err)
        self.assertNotIn("Traceback", err)
        self.assertEqual([], self.posts())

    def test_create_invalid_before_any_call(self):
        rc, _, err = self.run_cli(
            "flavor",
            "create",
            "x",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "10de",
            "--product-id",
            "20b",
        )
        self.assertEqual(1, rc)
        self.assertIn(
            "aggregate 'gpu-hosts', key 'pci_flavor:x': field "
            "'product_id' must be exactly 4 hex digits",
            err,
        )
        self.assertEqual([], self.mock.request_history)

    def test_list_and_show(self):
        self.aggs[0]["metadata"]["pci_flavor:bad"] = "{"
        rc, out, _ = self.run_cli("flavor", "list", "-f", "json")
        self.assertEqual(0, rc)
        rows = {r["PCI Flavor"]: r for r in json.loads(out)}
        self.assertEqual(A100, rows["a100"]["Definition"])
        self.assertEqual("c1", rows["a100"]["Hosts"])
        self.assertIn("not valid JSON", rows["bad"]["Error"])
        rc, out, _ = self.run_cli("flavor", "show", "a100", "-f", "json")
        shown = json.loads(out)
        self.assertEqual({"gpu-hosts": A100}, shown["definitions"])
        self.assertEqual("c1", shown["hosts"])
        rc, _, err = self.run_cli("flavor", "show", "nope")
        self.assertEqual(1, rc)
        self.assertIn("no aggregate defines PCI flavor 'nope'", err)

    def test_delete(self):
        # gpu.small requests a100: un-managing it takes --yes (issue 20)
        rc, out, _ = self.run_cli("flavor", "delete", "a100", "--yes", "-f", "json")
        self.assertEqual(0, rc)
        self.assertEqual("deleted", json.loads(out)[0]["Result"])
        self.assertNotIn("pci_flavor:a100", self.aggs[0]["metadata"])

    def test_forbidden(self):
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=403,
            json={"forbidden": {"code": 403, "message": "Policy"}},
        )
        rc, _, err = self.run_cli("flavor", "delete", "a100", "--yes")
        self.assertEqual(1, rc)
        self.assertIn("error: admin role required", err)

    def test_alias_config(self):
        rc, out, _ = self.run_cli("alias-config")
        self.assertEqual(0, rc)
        self.assertEqual(
            '[pci]\nalias = {"name": "a100", "product_id": "20b5", '
            '"vendor_id": "10de"}\n',
            out,
        )

    def test_check_exit_status(self):
        rc, out, err = self.run_cli("check", "-f", "json")
        self.assertEqual(0, rc, out)
        self.assertEqual([], json.loads(out))
        self.flavors[0]["extra_specs"]["pci_passthrough:alias"] = "ghost:1"
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                '[pci]\nalias = {"name": "a100", "vendor_id": "10de", '
                '"product_id": "20b5"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name, "-f", "json")
        self.assertEqual(1, rc)
        subjects = {(i["Severity"], i["Subject"]) for i in json.loads(out)}
        self.assertIn(("error", "PCI flavor 'ghost'"), subjects)
        self.assertIn(("warning", "PCI flavor 'a100'"), subjects)
        self.assertIn("1 error(s)", err)

    def test_check_reads_deprecated_pci_alias_as_nova_does(self):
        # Nova still reads ``[DEFAULT] pci_alias``; check must see those
        # aliases too, not report "boots will fail" for them.
        self.flavors[0]["extra_specs"]["pci_passthrough:alias"] = "legacy:1"
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                '[DEFAULT]\npci_alias = {"name": "legacy", '
                '"vendor_id": "8086", "product_id": "1572"}\n'
                'pci_alias = {"name": "a100", "vendor_id": '
                '"10de", "product_id": "20b5"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name, "-f", "json")
        issues = {(i["Severity"], i["Subject"]): i["Problem"] for i in json.loads(out)}
        self.assertNotIn(("error", "PCI flavor 'legacy'"), issues)
        self.assertIn("it is unmanaged", issues[("warning", "PCI flavor 'legacy'")])
        self.assertEqual(0, rc, out)

    def test_check_missing_nova_conf(self):
        rc, _, err = self.run_cli("check", "--nova-conf", "/nonexistent/nova.conf")
        self.assertEqual(1, rc)
        self.assertIn("cannot read nova.conf '/nonexistent/nova.conf'", err)

    def test_capacity_from_inventory(self):
        inv = {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [
                {
                    "name": "gpu-hosts",
                    "hosts": ["c1", "c2"],
                    "metadata": {"pci_flavor:a100": A100},
                }
            ],
            "hosts": {
                "c1": [
                    {
                        "vendor_id": "10de",
                        "product_id": "20b5",
                        "address": "0000:81:00.0",
                        "count": 2,
                        "used": 1,
                    }
                ],
                "c2": [
                    {
                        "vendor_id": "10de",
                        "product_id": "20b5",
                        "address": "0000:81:00.0",
                        "count": 0,
                        "used": 1,
                    }
                ],
            },
            "nova_flavors": [
                {
                    "name": "gpu.two",
                    "id": "7",
                    "extra_specs": {"pci_passthrough:alias": "a100:2"},
                }
            ],
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(inv, f)
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("capacity", "--inventory", f.name, "-f", "json")
        self.assertEqual(0, rc, err)
        rows = {
            (r["Scope"], r["Name"]): (r["Matching"], r["Used"], r["Free"])
            for r in json.loads(out)
        }
        self.assertEqual(
            {
                ("total", "*"): (4, 2, 2),
                ("aggregate", "gpu-hosts"): (4, 2, 2),
                ("host", "c1"): (3, 1, 2),
                ("host", "c2"): (1, 1, 0),
            },
            rows,
        )
        rc, out, err = self.run_cli(
            "capacity", "--inventory", f.name, "--fit", "gpu.two", "-f", "json"
        )
        self.assertEqual(0, rc, err)
        fits = {(r["Scope"], r["Name"]): r["Instances"] for r in json.loads(out)}
        self.assertEqual(
            {("total", "*"): 1, ("host", "c1"): 1, ("host", "c2"): 0}, fits
        )
        self.assertEqual([], self.mock.request_history)  # offline

    def test_capacity_bad_inventory(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(
                {
                    "format": "aggregate-pci-inventory",
                    "version": 1,
                    "hosts": {"c1": [{"count": -1}]},
                },
                f,
            )
        self.addCleanup(os.unlink, f.name)
        rc, _, err = self.run_cli("capacity", "--inventory", f.name)
        self.assertEqual(1, rc)
        self.assertIn("host 'c1', pool 0: 'count' must be a non-negative integer", err)

    def test_demo_registered(self):
        rc, out, err = self.run_cli("help", "demo")
        self.assertEqual(0, rc, err)
        self.assertIn("Run the end-to-end demo on an in-process Nova", out)
        # The scenario is fixed: no options that would do nothing.
        self.assertNotIn("--hosts", out)


def free_port():
    """A local TCP port nothing listens on (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def run_process(*argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    return subprocess.run(
        [AGGREGATE_PCI] + list(argv),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


class CliProcessTest(unittest.TestCase):
    """The installed ``aggregate-pci`` in a process: what an operator sees."""

    def test_no_traceback_by_default_traceback_with_debug(self):
        proc = run_process("capacity", "--inventory", "/nonexistent/inv.json")
        self.assertEqual(1, proc.returncode)
        self.assertEqual(
            "error: cannot read inventory '/nonexistent/inv.json': "
            "No such file or directory\n",
            proc.stderr,
        )
        proc = run_process(
            "--debug", "capacity", "--inventory", "/nonexistent/inv.json"
        )
        self.assertEqual(1, proc.returncode)
        self.assertIn("Traceback (most recent call last)", proc.stderr)
        self.assertIn("AdminError: cannot read inventory", proc.stderr)

    def test_unreachable_endpoint_retried_one_line(self):
        sock, port = free_port()
        self.addCleanup(sock.close)
        url = "http://127.0.0.1:%d/v2.1" % port
        proc = run_process("--os-endpoint", url, "--os-token", "t", "flavor", "list")
        self.assertEqual(1, proc.returncode)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertEqual(translate.CONNECT_RETRIES, proc.stderr.count("Retrying in"))
        last = proc.stderr.strip().splitlines()[-1]
        self.assertTrue(
            last.startswith(
                "error: cannot list host aggregates: the "
                "Compute API is unreachable after 3 "
                "retries"
            ),
            last,
        )
        self.assertIn(url, last)
        self.assertEqual("", proc.stdout)


class CliReportsTest(CliTest):
    def test_partial_write_reported_also_with_debug(self):
        self.aggs.append(
            {
                "id": 2,
                "name": "more-gpus",
                "uuid": "u2",
                "hosts": ["c2"],
                "metadata": {"pci_flavor:a100": A100},
                "availability_zone": None,
            }
        )
        self.mock.post(
            URL + "/os-aggregates/2/action",
            status_code=500,
            json={"computeFault": {"code": 500, "message": "boom"}},
        )
        for debug in ([], ["--debug"]):
            self.aggs[0]["metadata"]["pci_flavor:a100"] = A100
            rc, _, err = self.run_cli(*debug, "flavor", "delete", "a100", "--yes")
            self.assertEqual(1, rc)
            self.assertIn(
                "applied before the failure: aggregate 'gpu-hosts', "
                "key 'pci_flavor:a100'",
                err,
                debug,
            )

    def test_progress_on_stderr_for_many_hosts_only(self):
        for n_hosts, shown in ((999, False), (2500, True)):
            hosts = ["h%05d" % i for i in range(n_hosts)]
            inv = {
                "format": "aggregate-pci-inventory",
                "version": 1,
                "aggregates": [
                    {
                        "name": "gpu-hosts",
                        "hosts": hosts,
                        "metadata": {"pci_flavor:a100": A100},
                    }
                ],
                "hosts": {
                    h: [
                        {
                            "vendor_id": "10de",
                            "product_id": "20b5",
                            "count": 1,
                            "used": 0,
                        }
                    ]
                    for h in hosts
                },
            }
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(inv, f)
            self.addCleanup(os.unlink, f.name)
            rc, out, err = self.run_cli(
                "capacity", "--inventory", f.name, "--no-hosts", "-f", "json"
            )
            self.assertEqual(0, rc, err)
            self.assertEqual(n_hosts, json.loads(out)[0]["Free"])
            if shown:
                self.assertEqual(
                    "\rcapacity: 1000/2500 hosts\rcapacity: 2000/2500 "
                    "hosts\rcapacity: 2500/2500 hosts\n",
                    err,
                )
            else:
                self.assertEqual("", err)


class SuggestedCommandsTest(unittest.TestCase):
    def test_every_suggested_aggregate_pci_command_exists(self):
        """Error messages point only at commands that exist."""
        from stevedore import extension

        registered = {
            name.replace("_", " ")
            for name in extension.ExtensionManager(shell.COMMAND_GROUP).names()
        }
        root = os.path.dirname(os.path.dirname(os.path.dirname(client.__file__)))
        sources = [
            os.path.join(top, n)
            for top, _, names in os.walk(os.path.join(root, "admin"))
            for n in names
            if n.endswith(".py")
        ]
        sources += [
            os.path.join(root, "cli", n)
            for n in ("common.py", "flavor.py", "check.py", "capacity.py", "shell.py")
        ]
        mentioned = set()
        for path in sources:
            with open(path, encoding="utf-8") as f:
                # join implicitly concatenated literals split over lines
                text = re.sub(r'"\s*\n\s*"', "", f.read())
            mentioned.update(re.findall(r"'aggregate-pci ([a-z-]+(?: [a-z-]+)?)", text))
        self.assertTrue(mentioned)
        for words in sorted(mentioned):
            self.assertTrue(
                words in registered or words.split()[0] in registered,
                "error messages suggest 'aggregate-pci %s', which is "
                "not a command" % words,
            )
