"""aggregate_pci.admin.nova_io.client: PciFlavorAdmin over HTTP
(requests-mock): PCI flavor writes and reads, Nova flavors, the
microversion."""

import json

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client
from tests.fixtures.fake_nova import A100, URL, AdminTestBase


class PciFlavorAdminTest(AdminTestBase):
    """PCI flavors and Nova flavors: calls made, errors."""

    def test_microversion_header(self):
        self.admin.list_aggregates()
        headers = self.calls()[0].headers
        self.assertEqual(client.API_VERSION, headers["X-OpenStack-Nova-API-Version"])
        self.assertEqual(
            "compute " + client.API_VERSION, headers["OpenStack-API-Version"]
        )

    def test_list_flavors_parses_and_reports_errors(self):
        self.aggs[1]["metadata"]["pci_flavor:bad"] = '{"vendor_id":"10de"}'
        records = {(r.aggregate, r.name): r for r in self.admin.list_pci_flavors()}
        self.assertEqual({("gpu-hosts", "a100"), ("nic-hosts", "bad")}, set(records))
        good = records[("gpu-hosts", "a100")]
        self.assertEqual(("c1", "c2"), good.hosts)
        self.assertEqual(A100, good.definition.serialize())
        bad = records[("nic-hosts", "bad")]
        self.assertIsNone(bad.definition)
        self.assertIn("aggregate 'nic-hosts', key 'pci_flavor:bad'", bad.error)
        self.assertIn("missing required field 'product_id'", bad.error)

    def test_create_flavor_one_write_canonical(self):
        change = self.admin.create_pci_flavor(
            "vf", "nic-hosts", '{"vendor_id":"15B3", "product_id":"101e"}'
        )
        self.assertTrue(change.applied)
        self.assertIsNone(change.old)
        self.assertEqual('{"product_id":"101e","vendor_id":"15b3"}', change.new)
        posts = self.calls("POST")
        self.assertEqual(1, len(posts))
        self.assertEqual(
            {
                "set_metadata": {
                    "metadata": {
                        "pci_flavor:vf": '{"product_id":"101e","vendor_id":"15b3"}'
                    }
                }
            },
            posts[0].json(),
        )

    def test_create_same_definition_again_changes_nothing(self):
        change = self.admin.create_pci_flavor(
            "a100", "gpu-hosts", '{"vendor_id":"10DE","product_id":"20b5"}'
        )
        self.assertFalse(change.applied)
        self.assertFalse(change.changes_anything)
        self.assertEqual([], self.calls("POST"))

    def test_create_refuses_different_definition_without_replace(self):
        with self.assertRaises(errors.Conflict) as ctx:
            self.admin.create_pci_flavor(
                "a100", "gpu-hosts", '{"vendor_id":"10de","product_id":"1db4"}'
            )
        msg = str(ctx.exception)
        self.assertIn("aggregate 'gpu-hosts', key 'pci_flavor:a100'", msg)
        self.assertIn("--replace", msg)
        self.assertEqual([], self.calls("POST"))

    def test_create_replace(self):
        change = self.admin.create_pci_flavor(
            "a100",
            "gpu-hosts",
            '{"vendor_id":"10de","product_id":"1db4"}',
            replace=True,
        )
        self.assertTrue(change.applied)
        self.assertEqual(A100, change.old)
        # the unrelated key is untouched: only our key is sent
        self.assertEqual(
            ["pci_flavor:a100"],
            list(self.calls("POST")[0].json()["set_metadata"]["metadata"]),
        )

    def test_create_refuses_case_insensitive_collision(self):
        with self.assertRaises(errors.Conflict) as ctx:
            self.admin.create_pci_flavor("A100", "gpu-hosts", A100)
        self.assertIn("case-insensitively", str(ctx.exception))
        self.assertEqual([], self.calls("POST"))

    def test_dry_run_makes_no_write(self):
        change = self.admin.create_pci_flavor(
            "t4", "gpu-hosts", '{"vendor_id":"10de","product_id":"1eb8"}', dry_run=True
        )
        self.assertFalse(change.applied)
        self.assertTrue(change.changes_anything)
        self.assertEqual([], self.calls("POST"))

    def test_invalid_value_refused_before_any_call(self):
        with self.assertRaises(errors.InvalidInput) as ctx:
            self.admin.create_pci_flavor("a100", "gpu-hosts", '{"vendor_id":"10de"}')
        self.assertIn(
            "aggregate 'gpu-hosts', key 'pci_flavor:a100'", str(ctx.exception)
        )
        self.assertEqual([], self.calls())
        long = json.dumps(
            {"vendor_id": "10de", "product_id": "20b5", "gpu_model": "x" * 300}
        )
        with self.assertRaises(errors.InvalidInput) as ctx:
            self.admin.create_pci_flavor("a100", "gpu-hosts", long)
        self.assertIn("Nova stores at most 255", str(ctx.exception))
        with self.assertRaises(errors.InvalidInput):
            self.admin.create_pci_flavor("-bad", "gpu-hosts", A100)
        self.assertEqual([], self.calls())

    def test_unknown_aggregate(self):
        with self.assertRaises(errors.NotFound) as ctx:
            self.admin.create_pci_flavor("a100", "nope", A100)
        self.assertIn("aggregate 'nope' not found", str(ctx.exception))
        self.assertEqual([], self.calls("POST"))

    def test_forbidden_is_admin_role_required(self):
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=403,
            json={
                "forbidden": {
                    "code": 403,
                    "message": "Policy doesn't allow "
                    "os_compute_api:os-aggregates:set_metadata",
                }
            },
        )
        with self.assertRaises(errors.NotAdmin) as ctx:
            self.admin.create_pci_flavor(
                "t4", "gpu-hosts", '{"vendor_id":"10de","product_id":"1eb8"}'
            )
        msg = str(ctx.exception)
        self.assertIn("admin role required", msg)
        self.assertIn("aggregate 'gpu-hosts'", msg)
        self.assertIn("pci_flavor:t4", msg)

    def test_forbidden_on_list(self):
        self.mock.get(
            URL + "/os-aggregates",
            status_code=403,
            json={"forbidden": {"code": 403, "message": "no"}},
        )
        with self.assertRaises(errors.NotAdmin):
            self.admin.list_pci_flavors()

    def test_delete_only_own_key_everywhere(self):
        self.aggs[1]["metadata"]["pci_flavor:a100"] = A100
        self.aggs[1]["metadata"]["pci_flavor:a1000"] = A100
        changes = self.admin.delete_pci_flavor("a100")
        self.assertEqual({"gpu-hosts", "nic-hosts"}, {c.aggregate for c in changes})
        self.assertTrue(all(c.applied and c.new is None for c in changes))
        for post in self.calls("POST"):
            self.assertEqual(
                {"pci_flavor:a100": None}, post.json()["set_metadata"]["metadata"]
            )
        self.assertIn("pci_flavor:a1000", self.aggs[1]["metadata"])
        self.assertIn("other", self.aggs[0]["metadata"])

    def test_delete_partial_failure_reports_applied(self):
        self.aggs[1]["metadata"]["pci_flavor:a100"] = A100
        self.mock.post(
            URL + "/os-aggregates/2/action",
            status_code=403,
            json={"forbidden": {"code": 403, "message": "no"}},
        )
        with self.assertRaises(errors.NotAdmin) as ctx:
            self.admin.delete_pci_flavor("a100")
        self.assertEqual(
            [("gpu-hosts", True)],
            [(c.aggregate, c.applied) for c in ctx.exception.changes],
        )

    def test_delete_missing_is_unchanged(self):
        (change,) = self.admin.delete_pci_flavor("t4", aggregate="gpu-hosts")
        self.assertEqual(
            ("gpu-hosts", None, None, False),
            (change.aggregate, change.old, change.new, change.applied),
        )
        self.assertEqual([], self.admin.delete_pci_flavor("t4"))
        self.assertEqual([], self.calls("POST"))

    def test_nova_flavors_paginated_with_specs(self):
        self.nova.page_size = 1
        self.nova.flavors[:] = [
            {
                "id": "1",
                "name": "f1",
                "extra_specs": {"pci_passthrough:alias": "a100:2"},
            },
            {"id": "2", "name": "f2", "extra_specs": {}},
        ]
        flavors = self.admin.list_nova_flavors()
        self.assertEqual(["f1", "f2"], [f.name for f in flavors])
        self.assertEqual({"a100": 2}, flavors[0].alias_requests())
        self.assertEqual(3, len(self.calls("GET")))
        for request in self.calls("GET"):
            self.assertEqual(["none"], request.qs["is_public"])
