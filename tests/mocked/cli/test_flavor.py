"""``aggregate-pci flavor create|list|show|delete`` (aggregate_pci.cli.flavor)
over requests-mock: output, exit status, dry-run, errors on stderr, partial
writes and progress."""

import io
import json
import os
import tempfile

from aggregate_pci.cli import shell
from tests.fixtures.fake_nova import A100, URL, CliTestBase


class Terminal(io.StringIO):
    """A captured stderr that says it is a terminal."""

    def isatty(self):
        return True


class FlavorTest(CliTestBase):
    """create, list, show, delete; Nova's refusals."""

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
        self.assertEqual("created", data["result"])
        value = (
            '{"device_type":"type-VF","physical_network":"physnet2",'
            '"product_id":"101e","vendor_id":"15b3"}'
        )
        self.assertEqual(value, data["new_value"])
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
            "result",
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
        self.assertEqual(["c1"], rows["a100"]["Hosts"])
        self.assertIn("not valid JSON", rows["bad"]["Error"])
        rc, out, _ = self.run_cli("flavor", "show", "a100", "-f", "json")
        shown = json.loads(out)
        self.assertEqual({"gpu-hosts": A100}, shown["definitions"])
        self.assertEqual(["c1"], shown["hosts"])
        self.assertEqual(["gpu-hosts"], shown["aggregates"])
        rc, _, err = self.run_cli("flavor", "show", "nope")
        self.assertEqual(1, rc)
        self.assertIn("no aggregate defines PCI flavor 'nope'", err)

    def test_delete(self):
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


class FlavorReportsTest(CliTestBase):
    """Partial writes and progress as the operator sees them."""

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
            argv = ["capacity", "--inventory", f.name, "--no-hosts", "-f", "json"]
            # a log file or a pipe gets no progress at all
            rc, out, err = self.run_cli(*argv)
            self.assertEqual((0, ""), (rc, err))
            self.assertEqual(n_hosts, json.loads(out)[0]["Free"])
            out_tty, err_tty = io.StringIO(), Terminal()
            rc = shell.main(argv, stdout=out_tty, stderr=err_tty)
            self.assertEqual(0, rc, err_tty.getvalue())
            if shown:
                self.assertEqual(
                    "\rcapacity: 1000/2500 hosts\rcapacity: 2000/2500 "
                    "hosts\rcapacity: 2500/2500 hosts\n",
                    err_tty.getvalue(),
                )
            else:
                self.assertEqual("", err_tty.getvalue())
