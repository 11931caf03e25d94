"""OpenStackClient's conventions (issue 20), in both front ends: show
commands name their fields in lower case, list-valued fields are JSON/YAML
lists while tables keep one readable cell."""

import json
import os
import tempfile
import unittest
from unittest import mock

import yaml

from aggregate_pci.cli import flavor
from tests.fixtures import cli_run, fake_nova
from tests.fixtures.fake_nova import A100, T4, admin_factory, aggregate

#: Every command both front ends offer, as ``aggregate-pci`` names it.
COMMANDS = (
    "flavor create", "flavor list", "flavor show", "flavor delete", "check",
    "alias-config", "capacity", "explain", "inventory export", "audit",
    "migrate", "exporter", "flavor set", "flavor unset",
)  # fmt: skip


class OscConventionsTest(unittest.TestCase):
    front_end = "aggregate-pci"

    def setUp(self):
        self.nova = fake_nova.start(
            self,
            [
                aggregate(1, "rack1", ["c1", "c2"], {"pci_flavor:a100": A100}),
                aggregate(2, "rack2", ["c3"], {"pci_flavor:a100": A100}),
            ],
        )

    def run_cli(self, *argv):
        return cli_run.run_front_end(self.front_end, argv, admin_factory())

    def test_create_names_its_fields_in_lower_case(self):
        rc, out, err = self.run_cli(
            "flavor", "create", "t4", "--aggregate", "rack2", "--spec", T4, "-f", "json"
        )
        self.assertEqual(0, rc, err)
        self.assertEqual(
            {
                "aggregate": "rack2",
                "key": "pci_flavor:t4",
                "old_value": "",
                "new_value": T4,
                "result": "created",
            },
            json.loads(out),
        )
        rc, out, err = self.run_cli(
            "flavor", "create", "t4", "--aggregate", "rack2", "--spec", T4,
            "-f", "value", "-c", "result",
        )  # fmt: skip
        self.assertEqual((0, "unchanged"), (rc, out.strip()), err)

    def test_show_fields_are_lower_case_and_lists_are_lists(self):
        rc, out, err = self.run_cli("flavor", "show", "a100", "-f", "json")
        self.assertEqual(0, rc, err)
        shown = json.loads(out)
        self.assertEqual(
            ["aggregates", "conflicts", "definitions", "errors", "hosts", "name"],
            sorted(shown),
        )
        self.assertEqual(["rack1", "rack2"], shown["aggregates"])
        self.assertEqual(["c1", "c2", "c3"], shown["hosts"])
        rc, out, err = self.run_cli("flavor", "show", "a100", "-f", "yaml")
        self.assertEqual(0, rc, err)
        self.assertEqual(["c1", "c2", "c3"], yaml.safe_load(out)["hosts"])
        # people read one cell
        rc, out, err = self.run_cli(
            "flavor", "show", "a100", "-f", "value", "-c", "hosts"
        )
        self.assertEqual((0, "c1,c2,c3"), (rc, out.strip()), err)

    def test_list_gives_hosts_as_a_list(self):
        rc, out, err = self.run_cli("flavor", "list", "-f", "json")
        self.assertEqual(0, rc, err)
        hosts = {r["Aggregate"]: r["Hosts"] for r in json.loads(out)}
        self.assertEqual({"rack1": ["c1", "c2"], "rack2": ["c3"]}, hosts)
        rc, out, err = self.run_cli("flavor", "list", "-f", "yaml")
        self.assertEqual(["c1", "c2"], yaml.safe_load(out)[0]["Hosts"])
        rc, out, err = self.run_cli("flavor", "list", "-f", "value", "-c", "Hosts")
        self.assertEqual((0, ["c1,c2", "c3"]), (rc, out.split()), err)

    def write_inventory(self):
        """An inventory whose vm1 holds a V100 while 'gpu' now means T4s,
        and whose vm2 (another project) holds a T4."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "inv.json")

        def alloc(uuid, name, project, address, model):
            return {
                "instance": uuid, "host": "c1", "name": name,
                "project": project, "nova_flavor": "gpu.small",
                "requests": [{"alias": "gpu", "count": 1}],
                "devices": [{"address": address, "vendor_id": "10de",
                             "product_id": "1db4", "dev_type": "type-PCI",
                             "tags": {"gpu_model": model}}],
            }  # fmt: skip

        doc = {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [{"name": "rack1", "hosts": ["c1"], "metadata": {
                "pci_flavor:gpu":
                    '{"vendor_id":"10de","product_id":"1db4","gpu_model":"t4"}'}}],
            "hosts": {"c1": [{"vendor_id": "10de", "product_id": "1db4",
                              "dev_type": "type-PCI", "count": 0, "used": 2}]},
            "nova_flavors": [],
            "allocations": [
                alloc("u-1", "vm1", "p-1", "0000:81:00.0", "v100"),
                alloc("u-2", "vm2", "p-2", "0000:82:00.0", "t4"),
            ],
        }  # fmt: skip
        with open(path, "w") as fh:
            json.dump(doc, fh)
        return path

    def test_audit_rows_name_server_project_nova_flavor_and_the_fix(self):
        inv = self.write_inventory()
        rc, out, err = self.run_cli(
            "audit", "--inventory", inv, "--all-projects", "-f", "json"
        )
        self.assertEqual(1, rc, err)
        rows = {r["Server"]: r for r in json.loads(out)}
        self.assertEqual(
            {"vm1": ("u-1", "p-1", "gpu.small", "no"),
             "vm2": ("u-2", "p-2", "gpu.small", "yes")},
            {n: (r["Instance"], r["Project"], r["Nova Flavor"], r["Match"])
             for n, r in rows.items()},
        )  # fmt: skip
        self.assertEqual({"gpu_model": "v100"}, rows["vm1"]["Tags"])
        self.assertEqual(
            "cold-migrate it ('openstack server migrate', then 'openstack "
            "server resize confirm'): the scheduler then picks a matching device",
            rows["vm1"]["To Fix"],
        )
        self.assertEqual("", rows["vm2"]["To Fix"])
        # --project narrows; the other project's server is fine
        rc, out, err = self.run_cli(
            "audit", "--inventory", inv, "--project", "p-2", "-f", "json"
        )
        self.assertEqual((0, ["vm2"]), (rc, [r["Server"] for r in json.loads(out)]))
        # people read the tags as one cell
        rc, out, err = self.run_cli(
            "audit", "--inventory", inv, "-f", "value", "-c", "Server", "-c", "Tags"
        )
        self.assertEqual(["vm1 gpu_model=v100", "vm2 gpu_model=t4"], out.splitlines())

    def test_help_states_the_exit_codes_the_commands_return(self):
        for command in COMMANDS:
            with self.subTest(command=command):
                rc, out, err = self.run_cli(*command.split(), "--help")
                self.assertEqual(0, rc, err)
                text = " ".join(out.split())
                self.assertRegex(
                    text,
                    r"Exit status: 0 [^;]*; 1 [^;]+; 2 bad options \(usage\); "
                    r"130 interrupted",
                )
        rc, out, _ = self.run_cli("explain", "--help")
        self.assertIn("1 no host can take the request", " ".join(out.split()))
        # what the epilogs state is what the commands return
        with self.assertRaises(SystemExit) as usage:
            self.run_cli("flavor", "list", "--no-such-option")
        self.assertEqual(2, usage.exception.code)
        with mock.patch.object(
            flavor.ListPciFlavor, "take_action", side_effect=KeyboardInterrupt
        ):
            rc, _, _ = self.run_cli("flavor", "list")
        self.assertEqual(130, rc)
        rc, _, err = self.run_cli("flavor", "show", "nope")
        self.assertEqual(1, rc, err)

    def metadata(self, agg_id):
        return dict(self.nova.aggs[agg_id]["metadata"])

    def test_set_replaces_one_aggregates_definition(self):
        narrowed = '{"device_type":"type-PCI","product_id":"20b5","vendor_id":"10de"}'
        argv = ("flavor", "set", "a100", "--aggregate", "rack2",
                "--vendor-id", "10de", "--product-id", "20b5",
                "--device-type", "type-PCI", "--allow-different")  # fmt: skip
        rc, out, err = self.run_cli(*argv, "--dry-run", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertEqual(
            ("would be replaced (dry run)", A100, narrowed),
            (json.loads(out)["result"], json.loads(out)["old_value"],
             json.loads(out)["new_value"]),
        )  # fmt: skip
        self.assertEqual(A100, self.metadata(2)["pci_flavor:a100"])
        rc, out, err = self.run_cli(*argv, "-f", "value", "-c", "result")
        self.assertEqual((0, "replaced"), (rc, out.strip()), err)
        self.assertEqual(narrowed, self.metadata(2)["pci_flavor:a100"])
        self.assertEqual(A100, self.metadata(1)["pci_flavor:a100"])
        # the same again changes nothing; a new name is created
        rc, out, err = self.run_cli(*argv, "-f", "value", "-c", "result")
        self.assertEqual((0, "unchanged"), (rc, out.strip()), err)
        rc, out, err = self.run_cli(
            "flavor", "set", "t4", "--aggregate", "rack1", "--spec", T4,
            "-f", "value", "-c", "result",
        )  # fmt: skip
        self.assertEqual((0, "created"), (rc, out.strip()), err)
        # the safe-edit guard of create still holds
        rc, out, err = self.run_cli(
            "flavor", "set", "t4", "--aggregate", "rack2", "--spec", A100
        )
        self.assertEqual(1, rc, out)
        self.assertIn("--allow-different", err)
        with self.assertRaises(SystemExit):  # set always replaces
            self.run_cli(*argv, "--replace")

    def test_unset_removes_it_from_one_aggregate(self):
        argv = ("flavor", "unset", "a100", "--aggregate", "rack2")
        rc, out, err = self.run_cli(*argv, "--dry-run", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertEqual(
            [("rack2", "would be deleted (dry run)")],
            [(r["Aggregate"], r["Result"]) for r in json.loads(out)],
        )
        self.assertIn("pci_flavor:a100", self.metadata(2))
        rc, out, err = self.run_cli(*argv, "-f", "value", "-c", "Result")
        self.assertEqual((0, "deleted"), (rc, out.strip()), err)
        self.assertNotIn("pci_flavor:a100", self.metadata(2))
        self.assertIn("pci_flavor:a100", self.metadata(1))
        rc, out, err = self.run_cli(*argv, "-f", "value", "-c", "Result")
        self.assertEqual((0, "unchanged"), (rc, out.strip()), err)
        with self.assertRaises(SystemExit) as usage:  # one aggregate, named
            self.run_cli("flavor", "unset", "a100")
        self.assertEqual(2, usage.exception.code)


class OpenStackOscConventionsTest(OscConventionsTest):
    front_end = "openstack"


if __name__ == "__main__":
    unittest.main()
