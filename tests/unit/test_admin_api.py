"""PciFlavorAdmin over HTTP (requests-mock): calls made, errors, microversion."""

import json
import unittest

import requests_mock
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci import alias
from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client
from tests.unit.fakes import A100, URL, FakeNova
from tests.unit.fakes import aggregate as agg


class AdminApiTest(unittest.TestCase):
    def setUp(self):
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        sess = ks_session.Session(auth=noauth.NoAuth(endpoint=URL))
        self.admin = client.PciFlavorAdmin(sess, connect_retries=0)
        self.nova = FakeNova(
            self.mock,
            [
                agg(
                    1,
                    "gpu-hosts",
                    ["c1", "c2"],
                    {"pci_flavor:a100": A100, "other": "x"},
                ),
                agg(2, "nic-hosts", ["c3"]),
            ],
        )
        self.aggs = self.nova.aggregates

    def calls(self, method=None):
        return [
            r for r in self.mock.request_history if method is None or r.method == method
        ]

    def test_microversion_header(self):
        self.admin.list_aggregates()
        headers = self.calls()[0].headers
        self.assertEqual(client.API_VERSION, headers["X-OpenStack-Nova-API-Version"])
        self.assertEqual(
            "compute " + client.API_VERSION, headers["OpenStack-API-Version"]
        )

    def test_list_aggregates_is_one_call_for_many(self):
        self.aggs[:] = [agg(i, "agg-%d" % i) for i in range(1000)]
        result = self.admin.list_aggregates()
        self.assertEqual(1000, len(result))
        self.assertEqual(1, len(self.calls()))

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

    def test_find_by_id_and_uuid(self):
        self.assertEqual("nic-hosts", self.admin.find_aggregate("2").name)
        self.assertEqual("nic-hosts", self.admin.find_aggregate("uuid-2").name)

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

    def test_unreachable(self):
        import requests

        self.mock.get(
            URL + "/os-aggregates", exc=requests.exceptions.ConnectionError("refused")
        )
        with self.assertRaises(errors.Unreachable) as ctx:
            self.admin.list_aggregates()
        self.assertIn("unreachable", str(ctx.exception))

    def test_server_error(self):
        self.mock.get(
            URL + "/os-aggregates",
            status_code=500,
            json={"computeFault": {"code": 500, "message": "boom"}},
        )
        with self.assertRaises(errors.AdminError) as ctx:
            self.admin.list_aggregates()
        self.assertIn("HTTP 500", str(ctx.exception))

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

    def test_add_host_idempotent(self):
        self.mock.post(
            URL + "/os-aggregates/1/action", json={"aggregate": self.aggs[0]}
        )
        self.assertFalse(self.admin.add_host("gpu-hosts", "c1"))
        self.assertEqual([], self.calls("POST"))
        self.assertTrue(self.admin.add_host("gpu-hosts", "c9"))
        self.assertEqual({"add_host": {"host": "c9"}}, self.calls("POST")[0].json())

    def test_add_host_to_aggregate_object_is_one_call(self):
        gpu = self.admin.list_aggregates()[0]
        self.mock.reset_mock()
        self.mock.post(
            URL + "/os-aggregates/1/action", json={"aggregate": self.aggs[0]}
        )
        self.assertTrue(self.admin.add_host(gpu, "c9"))
        self.assertEqual(["POST"], [r.method for r in self.calls()])
        self.assertFalse(self.admin.add_host(gpu, "c1", dry_run=True))
        self.assertTrue(self.admin.add_host(gpu, "c8", dry_run=True))
        self.assertEqual(1, len(self.calls()))

    def test_add_host_already_there_since_read_is_no_change(self):
        gpu = self.admin.list_aggregates()[0]
        self.aggs[0]["hosts"].append("c9")  # someone else added it
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=409,
            json={"conflictingRequest": {"code": 409, "message": "already there"}},
        )
        self.assertFalse(self.admin.add_host(gpu, "c9"))

    def test_add_host_other_conflict_names_host_and_aggregate(self):
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=409,
            json={
                "conflictingRequest": {
                    "code": 409,
                    "message": "Cannot add host to aggregate 1. Reason: "
                    "One or more hosts already in "
                    "availability zone(s) ['az1'].",
                }
            },
        )
        with self.assertRaises(errors.Conflict) as ctx:
            self.admin.add_host("gpu-hosts", "c9")
        msg = str(ctx.exception)
        self.assertIn("add host 'c9' to aggregate 'gpu-hosts'", msg)
        self.assertIn("availability zone", msg)
        self.assertIn("HTTP 409", msg)

    def test_add_unknown_host(self):
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=404,
            json={
                "itemNotFound": {
                    "code": 404,
                    "message": "Compute host c9 could not be found.",
                }
            },
        )
        with self.assertRaises(errors.NotFound) as ctx:
            self.admin.add_host("gpu-hosts", "c9")
        self.assertIn("add host 'c9' to aggregate 'gpu-hosts'", str(ctx.exception))
        self.assertIn("Compute host c9 could not be found", str(ctx.exception))

    def test_list_compute_hosts_is_one_call_for_compute_services(self):
        def reply(request, context):
            return {
                "services": [
                    {
                        "id": i,
                        "binary": "nova-compute",
                        "host": "c%d" % i,
                        "zone": "nova",
                        "status": "enabled",
                        "state": "up",
                    }
                    for i in range(300)
                ]
                + [
                    # a disabled, down compute is still one Nova accepts
                    {
                        "id": 300,
                        "binary": "nova-compute",
                        "host": "c1",
                        "zone": "nova",
                        "status": "disabled",
                        "state": "down",
                    }
                ]
            }

        self.mock.get(URL + "/os-services", json=reply)
        hosts = self.admin.list_compute_hosts()
        self.assertEqual(frozenset("c%d" % i for i in range(300)), hosts)
        self.assertEqual(1, len(self.calls()))
        self.assertEqual({"binary": ["nova-compute"]}, self.calls()[0].qs)

    def test_list_compute_hosts_forbidden_is_admin_role_required(self):
        self.mock.get(
            URL + "/os-services",
            status_code=403,
            json={
                "forbidden": {
                    "code": 403,
                    "message": "Policy doesn't allow os_compute_api:os-services:list",
                }
            },
        )
        with self.assertRaises(errors.NotAdmin) as ctx:
            self.admin.list_compute_hosts()
        msg = str(ctx.exception)
        self.assertIn("admin role required", msg)
        self.assertIn("list compute services", msg)
        self.assertIn("HTTP 403", msg)

    def test_list_compute_hosts_errors(self):
        import requests

        self.mock.get(
            URL + "/os-services", exc=requests.exceptions.ConnectionError("refused")
        )
        with self.assertRaises(errors.Unreachable) as ctx:
            self.admin.list_compute_hosts()
        self.assertIn("cannot list compute services", str(ctx.exception))
        self.mock.get(
            URL + "/os-services",
            status_code=500,
            json={"computeFault": {"code": 500, "message": "boom"}},
        )
        with self.assertRaises(errors.AdminError) as ctx:
            self.admin.list_compute_hosts()
        self.assertIn(
            "Nova failed to list compute services: boom (HTTP 500)", str(ctx.exception)
        )

    def test_remove_host_idempotent_and_one_call(self):
        gpu = self.admin.list_aggregates()[0]
        self.mock.reset_mock()
        self.mock.post(
            URL + "/os-aggregates/1/action", json={"aggregate": self.aggs[0]}
        )
        self.assertFalse(self.admin.remove_host(gpu, "c9"))
        self.assertTrue(self.admin.remove_host(gpu, "c1", dry_run=True))
        self.assertEqual([], self.calls())
        self.assertTrue(self.admin.remove_host(gpu, "c1"))
        self.assertEqual(
            [{"remove_host": {"host": "c1"}}], [r.json() for r in self.calls()]
        )
        self.assertFalse(self.admin.remove_host("nic-hosts", "c9"))
        self.assertEqual(["POST", "GET"], [r.method for r in self.calls()])

    def test_remove_host_gone_since_read_is_no_change(self):
        gpu = self.admin.list_aggregates()[0]
        self.aggs[0]["hosts"].remove("c2")
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=404,
            json={
                "itemNotFound": {
                    "code": 404,
                    "message": "Cannot remove host c2 in aggregate 1",
                }
            },
        )
        self.assertFalse(self.admin.remove_host(gpu, "c2"))

    def test_remove_host_from_vanished_aggregate(self):
        gpu = self.admin.list_aggregates()[0]
        del self.aggs[0]
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=404,
            json={
                "itemNotFound": {
                    "code": 404,
                    "message": "Aggregate 1 could not be found.",
                }
            },
        )
        with self.assertRaises(errors.NotFound) as ctx:
            self.admin.remove_host(gpu, "c2")
        self.assertIn(
            "aggregate 'gpu-hosts' (id 1) no longer exists", str(ctx.exception)
        )

    def test_remove_host_errors(self):
        with self.assertRaises(errors.NotFound) as ctx:
            self.admin.remove_host("nope", "c1")
        self.assertIn("aggregate 'nope' not found", str(ctx.exception))
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=403,
            json={"forbidden": {"code": 403, "message": "no"}},
        )
        with self.assertRaises(errors.NotAdmin) as ctx:
            self.admin.remove_host("gpu-hosts", "c1")
        self.assertIn("remove host 'c1' from aggregate 'gpu-hosts'", str(ctx.exception))
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=409,
            json={"conflictingRequest": {"code": 409, "message": "placement conflict"}},
        )
        with self.assertRaises(errors.Conflict) as ctx:
            self.admin.remove_host("gpu-hosts", "c1")
        self.assertIn("placement conflict", str(ctx.exception))
        self.assertEqual(["c1", "c2"], self.aggs[0]["hosts"])

    def test_create_aggregate_idempotent(self):
        # an existing one: the create's 409, then one read
        self.assertEqual(1, self.admin.create_aggregate("gpu-hosts").id)
        self.assertEqual(["POST", "GET"], [r.method for r in self.calls()])
        self.mock.reset_mock()
        self.assertIsNone(self.admin.create_aggregate("new", dry_run=True))
        self.assertEqual(["GET"], [r.method for r in self.calls()])
        self.mock.reset_mock()
        created = self.admin.create_aggregate("new")
        self.assertEqual(
            (3, "new", (), {}),
            (created.id, created.name, created.hosts, created.metadata),
        )
        self.assertEqual(["POST"], [r.method for r in self.calls()])
        self.assertEqual(3, self.admin.create_aggregate("new", dry_run=True).id)

    def test_create_aggregate_in_another_zone_refused(self):
        self.aggs[0]["availability_zone"] = "az1"
        self.mock.post(
            URL + "/os-aggregates",
            status_code=409,
            json={"conflictingRequest": {"code": 409, "message": "exists"}},
        )
        with self.assertRaises(errors.Conflict) as ctx:
            self.admin.create_aggregate("gpu-hosts", availability_zone="az2")
        self.assertIn(
            "aggregate 'gpu-hosts' already exists in availability "
            "zone 'az1', not 'az2'",
            str(ctx.exception),
        )

    def test_create_aggregate_conflict_without_that_name(self):
        self.mock.post(
            URL + "/os-aggregates",
            status_code=409,
            json={
                "conflictingRequest": {
                    "code": 409,
                    "message": "Not all "
                    "aggregates have been migrated to the "
                    "API database",
                }
            },
        )
        with self.assertRaises(errors.Conflict) as ctx:
            self.admin.create_aggregate("new")
        self.assertIn("cannot create aggregate 'new'", str(ctx.exception))
        self.assertIn("migrated to the API database", str(ctx.exception))

    def test_create_aggregate_forbidden_and_bad_name(self):
        self.mock.post(
            URL + "/os-aggregates",
            status_code=403,
            json={"forbidden": {"code": 403, "message": "no"}},
        )
        with self.assertRaises(errors.NotAdmin) as ctx:
            self.admin.create_aggregate("new")
        self.assertIn("admin role required", str(ctx.exception))
        self.assertIn("create aggregate 'new'", str(ctx.exception))
        self.mock.post(
            URL + "/os-aggregates",
            status_code=400,
            json={"badRequest": {"code": 400, "message": "Invalid input"}},
        )
        with self.assertRaises(errors.InvalidInput) as ctx:
            self.admin.create_aggregate(" ")
        self.assertIn("Nova refused to create aggregate", str(ctx.exception))
        self.assertEqual(["POST", "POST"], [r.method for r in self.calls()])

    def mock_delete(self, agg_id, **kwargs):
        self.mock.delete(URL + "/os-aggregates/%d" % agg_id, **kwargs)

    def test_delete_aggregate(self):
        self.aggs.append(agg(3, "empty"))
        self.assertTrue(self.admin.delete_aggregate("empty", dry_run=True))
        self.assertEqual([], self.calls("DELETE"))
        self.assertTrue(self.admin.delete_aggregate("empty"))
        self.assertEqual(1, len(self.calls("DELETE")))
        self.assertFalse(self.admin.delete_aggregate("empty"))
        self.assertEqual(1, len(self.calls("DELETE")))

    def test_delete_aggregate_object_is_one_call_and_gone_is_no_change(self):
        self.aggs.append(agg(3, "empty"))
        empty = self.admin.list_aggregates()[-1]
        self.mock.reset_mock()
        self.assertTrue(self.admin.delete_aggregate(empty))
        self.assertEqual(["DELETE"], [r.method for r in self.calls()])
        self.mock_delete(
            3,
            status_code=404,
            json={
                "itemNotFound": {
                    "code": 404,
                    "message": "Aggregate 3 could not be found.",
                }
            },
        )
        self.assertFalse(self.admin.delete_aggregate(empty))

    def test_delete_aggregate_refuses_hosts(self):
        with self.assertRaises(errors.NotEmpty) as ctx:
            self.admin.delete_aggregate("nic-hosts")
        self.assertIn("aggregate 'nic-hosts' still has host(s) c3", str(ctx.exception))
        self.assertIsInstance(ctx.exception, errors.Conflict)
        with self.assertRaises(errors.NotEmpty):
            self.admin.delete_aggregate("nic-hosts", dry_run=True)
        self.assertEqual([], self.calls("DELETE"))

    def test_delete_aggregate_refuses_metadata_not_allowed(self):
        self.aggs.append(
            agg(3, "meta", metadata={"pci_flavor:a100": A100, "owner": "ops"})
        )
        with self.assertRaises(errors.NotEmpty) as ctx:
            self.admin.delete_aggregate("meta")
        msg = str(ctx.exception)
        self.assertIn(
            "aggregate 'meta' still has metadata owner=ops, pci_flavor:a100=%s" % A100,
            msg,
        )
        self.assertIn("nothing was deleted", msg)
        with self.assertRaises(errors.NotEmpty) as ctx:  # value differs
            self.admin.delete_aggregate(
                "meta", may_drop={"pci_flavor:a100": A100, "owner": "someone-else"}
            )
        self.assertIn("owner=ops", str(ctx.exception))
        self.assertNotIn("pci_flavor:a100", str(ctx.exception))
        self.assertEqual([], self.calls("DELETE"))
        self.assertTrue(
            self.admin.delete_aggregate(
                "meta", may_drop={"pci_flavor:a100": A100, "owner": "ops"}
            )
        )
        self.assertEqual(1, len(self.calls("DELETE")))

    def test_delete_aggregate_nova_errors(self):
        self.aggs.append(agg(3, "empty"))
        self.mock_delete(
            3,
            status_code=400,
            json={
                "badRequest": {"code": 400, "message": "Host aggregate is not empty"}
            },
        )
        with self.assertRaises(errors.InvalidInput) as ctx:
            self.admin.delete_aggregate("empty")
        self.assertIn(
            "Nova refused to delete aggregate 'empty': Host "
            "aggregate is not empty (HTTP 400)",
            str(ctx.exception),
        )
        self.mock_delete(
            3, status_code=403, json={"forbidden": {"code": 403, "message": "no"}}
        )
        with self.assertRaises(errors.NotAdmin) as ctx:
            self.admin.delete_aggregate("empty")
        self.assertIn("delete aggregate 'empty'", str(ctx.exception))

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

    def test_parse_alias_spec(self):
        self.assertEqual({"a": 1, "b": 2}, alias.parse_request("a, b:2"))
        self.assertEqual({}, alias.parse_request(None))
