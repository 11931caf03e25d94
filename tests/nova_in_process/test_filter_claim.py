"""What the instance gets is what its PCI flavor says (issue 8), in both PCI
modes, read back from the cell DB.

Two hosts, each with a T4 and a V100 of the same vendor/product (10de:1db4),
in opposite slot orders: compute1 lists the T4 first (bus 0x81, V100 on
0x82), compute2 the V100 first (bus 0x83, T4 on 0x84).  ``[pci]
device_spec`` is one CONF for every in-process compute, so the ``gpu_model``
tag is given per device address.  With PCI in Placement off the compute
claims by the alias spec alone, greedily in pool order: only compute1 can
serve a flavor narrowed to the T4.  With PCI in Placement on, both can.
"""

import logging

import fixtures
import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova import objects

from tests.fixtures import nova_harness as support

V100_ID = T4_ID = ("10de", "1db4")
OTHER_ID = ("10de", "1eb8")
T4_ADDRESSES = {"0000:81:00.0", "0000:84:00.0"}
V100_ADDRESSES = {"0000:82:00.0", "0000:83:00.0"}

T4_TAG = '{"gpu_model":"t4","product_id":"1db4","vendor_id":"10de"}'
ANY_1DB4 = '{"product_id":"1db4","vendor_id":"10de"}'


def _spec(address, model):
    return {
        "vendor_id": "10de",
        "product_id": "1db4",
        "address": address,
        "gpu_model": model,
    }


class ClaimBase(support.AggregatePciTestBase):
    PCI_DEVICE_SPEC = [
        _spec("0000:81:*", "t4"),
        _spec("0000:82:*", "v100"),
        _spec("0000:83:*", "v100"),
        _spec("0000:84:*", "t4"),
        # Tagged too: Nova orders pools by their number of keys first, so
        # equally tagged devices keep their slot order.
        {"vendor_id": OTHER_ID[0], "product_id": OTHER_ID[1], "gpu_model": "other"},
    ]
    PCI_ALIAS = [
        {
            "name": "t4",
            "vendor_id": "10de",
            "product_id": "1db4",
            "device_type": "type-PCI",
        },
        {
            "name": "gpu",
            "vendor_id": "10de",
            "product_id": "1db4",
            "device_type": "type-PCI",
        },
    ]

    def setUp(self):
        super().setUp()
        self.debug_log = self.useFixture(
            fixtures.FakeLogger(
                name="aggregate_pci", level=logging.DEBUG, format="%(message)s"
            )
        )
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(0x81, T4_ID), (0x82, V100_ID)])
        )
        self.start_compute(
            "compute2", pci_info=support.gpu_host([(0x83, V100_ID), (0x84, T4_ID)])
        )

    # -- reading the cell DB ---------------------------------------------

    def claimed(self, server):
        """Addresses of the devices the cell DB records for the instance."""
        devs = objects.PciDeviceList.get_by_instance_uuid(self.ctxt, server["id"])
        return sorted(d.address for d in devs)

    def all_held(self):
        """{address: instance_uuid} of every allocated device, all hosts."""
        held = {}
        for cn in objects.ComputeNodeList.get_all(self.ctxt):
            for dev in objects.PciDeviceList.get_by_compute_node(self.ctxt, cn.id):
                if dev.instance_uuid:
                    held[dev.address] = dev.instance_uuid
        return held

    def assert_no_v100_held(self):
        held = self.all_held()
        self.assertFalse(
            V100_ADDRESSES & set(held), "an instance holds a V100: %r" % held
        )

    def assert_no_reschedule(self, server):
        """One build attempt on one compute, no fault: the scheduler chose
        a host whose claim serves the request."""
        # the server is ACTIVE before compute records the build event's
        # result: wait for it (Nova's own poll, 5 s), then count attempts
        self._wait_for_instance_action_event(
            server, "create", "compute__do_build_and_run_instance", "success"
        )
        events = []
        for action in self.api.get_instance_actions(server["id"]):
            detail = self.api.get_instance_action_details(
                server["id"], action["request_id"]
            )
            events += detail["events"]
        builds = [
            e for e in events if e["event"] == "compute__do_build_and_run_instance"
        ]
        self.assertEqual(1, len(builds), events)
        self.assertEqual("Success", builds[0]["result"], events)
        self.assertNotIn("fault", self.api.get_server(server["id"]))
        self.assertNotIn("Failed to allocate PCI devices", self.stdlog.logger.output)

    def multi_create(self, flavor, count, expected_state):
        body = self._build_server(flavor_id=flavor, networks="none")
        body["min_count"] = count
        body["max_count"] = count
        body["return_reservation_id"] = True
        resv = self.api.post_server({"server": body})["reservation_id"]
        servers = self.api.get_servers(
            detail=True, search_opts={"reservation_id": resv}
        )
        return [self._wait_for_state_change(s, expected_state) for s in servers]

    def refusals(self, host):
        return [
            line
            for line in self.debug_log.output.splitlines()
            if line.startswith("host %s rejected:" % host)
        ]


class NarrowedFlavorLegacyTest(ClaimBase):
    """PCI in Placement off: the claim takes the first matching pool."""

    def _check_t4_only_on_compute1(self):
        flavor = self.nova_flavor("t4:1")
        server = self.boot(flavor)
        self.assertEqual("compute1", self.host_of(server))
        self.assertEqual(["0000:81:00.0"], self.claimed(server))
        self.assert_no_reschedule(server)
        # compute1's T4 is used; compute2's claim would take its V100 first.
        self.boot(flavor, expected_state="ERROR")
        self.assert_no_v100_held()
        why = self.refusals("compute2")
        self.assertTrue(why, self.debug_log.output)
        self.assertIn("would take 0000:83:00.0", why[-1])
        self.assertIn("gpu_model=v100", why[-1])

    def test_tag_narrowing(self):
        self.make_aggregate("gpu", ["compute1", "compute2"], {"pci_flavor:t4": T4_TAG})
        self._check_t4_only_on_compute1()

    def test_address_glob_narrowing(self):
        # Each host's own definition names its T4's slot.
        self.make_aggregate(
            "gpu1",
            ["compute1"],
            {"pci_flavor:t4": ANY_1DB4[:-1] + ',"address":"0000:81:*"}'},
        )
        self.make_aggregate(
            "gpu2",
            ["compute2"],
            {"pci_flavor:t4": ANY_1DB4[:-1] + ',"address":"0000:84:*"}'},
        )
        self._check_t4_only_on_compute1()

    def test_multi_create_two_with_one_serving_t4(self):
        self.make_aggregate("gpu", ["compute1", "compute2"], {"pci_flavor:t4": T4_TAG})
        flavor = self.nova_flavor("t4:1")
        servers = self.multi_create(flavor, 2, "ERROR")
        self.assertEqual(2, len(servers))
        self.assertIn("No valid host", servers[0]["fault"]["message"])
        self.assert_no_v100_held()
        # One alone fits, on the host listing its T4 first.
        (server,) = self.multi_create(flavor, 1, "ACTIVE")
        self.assertEqual(["0000:81:00.0"], self.claimed(server))

    def test_unnarrowed_flavor_needs_no_claim_replay(self):
        self.make_aggregate(
            "gpu", ["compute1", "compute2"], {"pci_flavor:gpu": ANY_1DB4}
        )
        calls = []
        from aggregate_pci.scheduler import claim

        orig = claim.replay_claim

        def counting(*args, **kwargs):
            calls.append(args)
            return orig(*args, **kwargs)

        self.useFixture(
            fixtures.MonkeyPatch("aggregate_pci.scheduler.claim.replay_claim", counting)
        )
        flavor = self.nova_flavor("gpu:1")
        hosts = {self.host_of(self.boot(flavor)) for _ in range(4)}
        self.assertEqual({"compute1", "compute2"}, hosts)
        self.assertEqual([], calls)


class NarrowedFlavorPlacementTest(ClaimBase):
    """PCI in Placement on: the candidates are pruned and the claim follows
    them, so both hosts serve the T4 whatever the slot order."""

    PCI_IN_PLACEMENT = True

    def _check_both_hosts_serve(self):
        flavor = self.nova_flavor("t4:1")
        servers = [self.boot(flavor) for _ in range(2)]
        self.assertEqual(
            ["compute1", "compute2"], sorted(self.host_of(s) for s in servers)
        )
        for server in servers:
            self.assertEqual(1, len(self.claimed(server)))
            self.assertIn(self.claimed(server)[0], T4_ADDRESSES)
            self.assert_no_reschedule(server)
        self.boot(flavor, expected_state="ERROR")
        self.assert_no_v100_held()

    def test_tag_narrowing(self):
        self.make_aggregate("gpu", ["compute1", "compute2"], {"pci_flavor:t4": T4_TAG})
        self._check_both_hosts_serve()

    def test_address_glob_narrowing(self):
        self.make_aggregate(
            "gpu1",
            ["compute1"],
            {"pci_flavor:t4": ANY_1DB4[:-1] + ',"address":"0000:81:*"}'},
        )
        self.make_aggregate(
            "gpu2",
            ["compute2"],
            {"pci_flavor:t4": ANY_1DB4[:-1] + ',"address":"0000:84:*"}'},
        )
        self._check_both_hosts_serve()

    def test_multi_create_two(self):
        self.make_aggregate("gpu", ["compute1", "compute2"], {"pci_flavor:t4": T4_TAG})
        servers = self.multi_create(self.nova_flavor("t4:1"), 2, "ACTIVE")
        self.assertEqual(
            ["compute1", "compute2"], sorted(self.host_of(s) for s in servers)
        )
        self.assertEqual(T4_ADDRESSES, {a for s in servers for a in self.claimed(s)})
        self.assert_no_v100_held()

    def test_multi_create_two_on_one_host_with_one_t4(self):
        self.make_aggregate("gpu", ["compute2"], {"pci_flavor:t4": T4_TAG})
        servers = self.multi_create(self.nova_flavor("t4:1"), 2, "ERROR")
        self.assertIn("No valid host", servers[0]["fault"]["message"])
        self.assert_no_v100_held()


class OverlapLegacyTest(ClaimBase):
    """Two requested flavors that overlap ("t4" narrowed to the T4, "gpu"
    any 10de:1db4), in both alias orders.  Nova may record the T4 against
    "gpu" and the V100 against "t4": the instance still holds exactly what
    its flavors ask for, so every host that can serve keeps serving."""

    def setUp(self):
        super().setUp()
        self.make_aggregate(
            "gpu",
            ["compute1", "compute2"],
            {"pci_flavor:t4": T4_TAG, "pci_flavor:gpu": ANY_1DB4},
        )

    def _check_order(self, alias):
        flavor = self.nova_flavor(alias)
        servers = [self.boot(flavor) for _ in range(2)]
        self.assertEqual(
            ["compute1", "compute2"], sorted(self.host_of(s) for s in servers)
        )
        for server in servers:
            held = set(self.claimed(server))
            self.assertEqual(1, len(held & T4_ADDRESSES), held)
            self.assertEqual(1, len(held & V100_ADDRESSES), held)
            self.assert_no_reschedule(server)

    def test_t4_then_gpu(self):
        self._check_order("t4:1,gpu:1")

    def test_gpu_then_t4(self):
        self._check_order("gpu:1,t4:1")


class OverlapPlacementTest(OverlapLegacyTest):
    PCI_IN_PLACEMENT = True


class GreedyOrderLegacyTest(ClaimBase):
    """Where Nova's greedy claim in the flavor's alias order fails although
    an assignment exists, the host is refused up front: no boot ends in a
    claim failure or a reschedule."""

    PCI_ALIAS = ClaimBase.PCI_ALIAS + [
        {
            "name": "nv-any",
            "vendor_id": "10de",
            "product_id": "1db4",
            "device_type": "type-PCI",
        },
        {
            "name": "nv-any",
            "vendor_id": OTHER_ID[0],
            "product_id": OTHER_ID[1],
            "device_type": "type-PCI",
        },
    ]

    def setUp(self):
        super().setUp()
        # compute3: a 10de:1db4 T4 first, then a 10de:1eb8 card.
        self.start_compute(
            "compute3", pci_info=support.gpu_host([(0x81, T4_ID), (0x85, OTHER_ID)])
        )
        nv_any = "[%s,%s]" % (
            ANY_1DB4,
            '{"product_id":"1eb8","vendor_id":"10de"}',
        )
        # "gpu" narrowed to the T4 tag, so the claim is replayed here.
        self.make_aggregate(
            "gpu", ["compute3"], {"pci_flavor:gpu": T4_TAG, "pci_flavor:nv-any": nv_any}
        )

    def test_greedy_failure_refused_up_front(self):
        # nv-any takes the first pool (the 1db4), gpu finds none left.
        server = self.boot(self.nova_flavor("nv-any:1,gpu:1"), expected_state="ERROR")
        self.assertIn("No valid host", server["fault"]["message"])
        events = []
        for action in self.api.get_instance_actions(server["id"]):
            events += self.api.get_instance_action_details(
                server["id"], action["request_id"]
            )["events"]
        self.assertEqual(
            [],
            [e for e in events if e["event"] == "compute__do_build_and_run_instance"],
        )
        self.assertNotIn("Failed to allocate PCI devices", self.stdlog.logger.output)
        why = self.refusals("compute3")
        self.assertTrue(why, self.debug_log.output)
        self.assertIn("claim would fail", why[-1])
        # The other order is served greedily on the same host.
        server = self.boot(self.nova_flavor("gpu:1,nv-any:1"))
        self.assertEqual("compute3", self.host_of(server))
        self.assertEqual(["0000:81:00.0", "0000:85:00.0"], self.claimed(server))
        self.assert_no_reschedule(server)
