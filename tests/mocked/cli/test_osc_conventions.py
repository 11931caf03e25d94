"""OpenStackClient's conventions (issue 20), in both front ends: show
commands name their fields in lower case, list-valued fields are JSON/YAML
lists while tables keep one readable cell."""

import json
import unittest

import requests_mock
import yaml

from tests.fixtures import cli_run
from tests.fixtures.fake_nova import A100, T4, FakeNova, admin_factory, aggregate


class OscConventionsTest(unittest.TestCase):
    front_end = "aggregate-pci"

    def setUp(self):
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.nova = FakeNova(
            self.mock,
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


class OpenStackOscConventionsTest(OscConventionsTest):
    front_end = "openstack"


if __name__ == "__main__":
    unittest.main()
