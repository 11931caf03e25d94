"""Safe PCI flavor edits (issue 20), in both front ends: ``flavor create``
refuses a definition differing from the name's other definitions unless
--allow-different; ``flavor delete`` names the Nova flavors and instances
using the name, refuses to un-manage a requested name unless --yes, and a
repeated delete is ``unchanged`` with exit 0."""

import json
import os
import tempfile
import unittest

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin.nova_io import client
from tests.fixtures import cli_run, fake_nova
from tests.fixtures.fake_nova import A100, T4, URL, aggregate

A100_VF = '{"device_type":"type-VF","product_id":"20b5","vendor_id":"10de"}'


def server(name, alias_spec):
    return {
        "id": "id-" + name,
        "name": name,
        "flavor": {
            "original_name": "gpu.small",
            "extra_specs": {"pci_passthrough:alias": alias_spec},
        },
    }


class SafeEditsTest(unittest.TestCase):
    front_end = "aggregate-pci"

    def setUp(self):
        self.nova = fake_nova.start(
            self,
            [
                aggregate(1, "rack1", ["c1"], {"pci_flavor:a100": A100}),
                aggregate(2, "rack2", ["c2"], {"pci_flavor:t4": T4}),
            ],
            flavors=[
                {
                    "id": "10",
                    "name": "gpu.small",
                    "extra_specs": {"pci_passthrough:alias": "a100:1"},
                }
            ],
            servers=[server("vm1", "a100:1"), server("vm2", "t4:1")],
        )

    def run_cli(self, *argv):
        sess = ks_session.Session(auth=noauth.NoAuth(endpoint=URL))
        factory = lambda: client.PciFlavorAdmin(sess, connect_retries=0)  # noqa: E731
        return cli_run.run_front_end(self.front_end, argv, factory)

    def metadata(self, agg_id):
        return dict(self.nova.aggs[agg_id]["metadata"])

    def test_create_refuses_a_differing_definition_naming_the_aggregates(self):
        rc, out, err = self.run_cli(
            "flavor", "create", "a100", "--aggregate", "rack2", "--spec", A100_VF
        )
        self.assertEqual(1, rc, out + err)
        (line,) = err.strip().splitlines()
        self.assertIn("defined differently on aggregate(s) rack1", line)
        self.assertIn("'alias-config' would fail", line)
        self.assertIn("--allow-different", line)
        self.assertEqual({"pci_flavor:t4": T4}, self.metadata(2))

    def test_create_allow_different_and_equal_definitions(self):
        rc, _, err = self.run_cli(
            "flavor",
            "create",
            "a100",
            "--aggregate",
            "rack2",
            "--spec",
            A100_VF,
            "--allow-different",
        )
        self.assertEqual(0, rc, err)
        self.assertEqual(A100_VF, self.metadata(2)["pci_flavor:a100"])
        rc, _, err = self.run_cli(
            "flavor", "create", "t4", "--aggregate", "rack1", "--spec", T4
        )
        self.assertEqual(0, rc, err)

    def test_delete_of_a_requested_last_definition_needs_yes(self):
        rc, out, err = self.run_cli("flavor", "delete", "a100")
        self.assertEqual(1, rc, out + err)
        self.assertIn("Nova flavor(s) gpu.small request it", err)
        self.assertIn("1 instance(s) hold it (vm1 (id-vm1))", err)
        self.assertIn("--yes", err.strip().splitlines()[-1])
        self.assertEqual({"pci_flavor:a100": A100}, self.metadata(1))
        rc, out, err = self.run_cli("flavor", "delete", "a100", "--yes", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertEqual(["deleted"], [r["Result"] for r in json.loads(out)])
        self.assertEqual({}, self.metadata(1))

    def test_delete_keeping_another_definition_needs_no_yes(self):
        self.nova.aggs[2]["metadata"]["pci_flavor:a100"] = A100
        rc, out, err = self.run_cli("flavor", "delete", "a100", "--aggregate", "rack1")
        self.assertEqual(0, rc, err)
        self.assertIn("Nova flavor(s) gpu.small request it", err)
        self.assertEqual(
            {"pci_flavor:a100": A100, "pci_flavor:t4": T4}, self.metadata(2)
        )

    def test_check_spells_its_fix_in_this_front_end(self):
        # issue 19: the library's finding names a command; the front end
        # spells it ("aggregate-pci flavor create" / "openstack pci flavor create").
        self.nova.flavors[0]["extra_specs"]["pci_passthrough:alias"] = "ghost:1"
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                '[pci]\nalias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        check = ["check"] if self.front_end == "aggregate-pci" else ["flavor", "check"]
        rc, out, err = self.run_cli(*check, "--nova-conf", f.name, "-f", "json")
        self.assertEqual(1, rc, out + err)
        problems = {i["Subject"]: i["Problem"] for i in json.loads(out)}
        prefix = (
            "aggregate-pci flavor"
            if self.front_end == "aggregate-pci"
            else "openstack pci flavor"
        )
        self.assertIn(
            "boots will fail; define it with '%s create ghost --aggregate AGG ...'"
            % prefix,
            problems["PCI flavor 'ghost'"],
        )

    def test_repeated_delete_is_unchanged_and_exits_0(self):
        for argv in (
            ("flavor", "delete", "t4"),
            ("flavor", "delete", "t4", "--aggregate", "rack2"),
        ):
            with self.subTest(argv=argv):
                rc, out, err = self.run_cli(*argv, "-f", "json")
                self.assertEqual(0, rc, err)
                self.assertIn(json.loads(out)[0]["Result"], ("deleted", "unchanged"))
        rc, out, err = self.run_cli("flavor", "delete", "t4", "-f", "json")
        self.assertEqual(
            (0, ["unchanged"]), (rc, [r["Result"] for r in json.loads(out)])
        )
        rc, out, err = self.run_cli(
            "flavor", "delete", "t4", "--aggregate", "rack2", "-f", "value"
        )
        self.assertEqual((0, "rack2 pci_flavor:t4   unchanged"), (rc, out.strip()))


class OpenStackSafeEditsTest(SafeEditsTest):
    front_end = "openstack"


if __name__ == "__main__":
    unittest.main()
