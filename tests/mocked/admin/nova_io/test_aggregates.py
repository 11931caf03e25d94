"""aggregate_pci.admin.nova_io.aggregates: AggregateAdmin over HTTP
(requests-mock): aggregates, their hosts, compute hosts; one call each,
idempotent, Nova's refusals named."""

from aggregate_pci.admin import errors
from tests.fixtures.fake_nova import A100, URL, AdminTestBase
from tests.fixtures.fake_nova import aggregate as agg


class AggregateAdminTest(AdminTestBase):
    """Aggregates and hosts: calls made, errors."""

    def test_list_aggregates_is_one_call_for_many(self):
        self.aggs[:] = [agg(i, "agg-%d" % i) for i in range(1000)]
        result = self.admin.list_aggregates()
        self.assertEqual(1000, len(result))
        self.assertEqual(1, len(self.calls()))

    def test_find_by_id_and_uuid(self):
        self.assertEqual("nic-hosts", self.admin.find_aggregate("2").name)
        self.assertEqual("nic-hosts", self.admin.find_aggregate("uuid-2").name)

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
