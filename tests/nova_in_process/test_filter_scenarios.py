"""AggregatePciFilter on a real in-process Nova: narrowing keys, overlapping
flavors, multi-create, bad metadata, runtime changes (Placement PCI off)."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

from tests.fixtures import nova_harness as support
from tests.fixtures.nova_harness import GPU_A100, GPU_T4

A100 = '{"product_id":"20b5","vendor_id":"10de"}'
T4 = '{"product_id":"1eb8","vendor_id":"10de"}'
NV_ANY = "[%s,%s]" % (A100, T4)


class NarrowingTest(support.AggregatePciTestBase):
    # gpu_model is a custom tag that [pci] device_spec puts on the A100s of
    # bus 0x81 only; the pool of bus 0x82 carries no such tag.
    PCI_DEVICE_SPEC = [
        {
            "vendor_id": "10de",
            "product_id": "20b5",
            "address": "0000:81:*",
            "gpu_model": "a100-80g",
        },
        {"vendor_id": "10de", "product_id": "20b5", "address": "0000:82:*"},
        {"vendor_id": "10de", "product_id": "1eb8"},
    ]

    def setUp(self):
        super().setUp()
        self.start_compute("compute1", pci_info=support.gpu_host([(0x81, GPU_A100)]))
        self.start_compute(
            "compute2", pci_info=support.gpu_host([(0x82, GPU_A100), (0x83, GPU_A100)])
        )
        self.agg = self.make_aggregate("gpu", ["compute1", "compute2"])

    def test_address_glob(self):
        self.set_metadata(
            self.agg["id"], {"pci_flavor:a100": A100[:-1] + ',"address":"0000:81:*"}'}
        )
        flavor = self.nova_flavor("a100:1")
        self.assertEqual("compute1", self.host_of(self.boot(flavor)))
        # compute2 has two free A100s, but not on bus 0x81.
        self.boot(flavor, expected_state="ERROR")

    def test_custom_tag(self):
        self.set_metadata(
            self.agg["id"], {"pci_flavor:a100": A100[:-1] + ',"gpu_model":"A100-80G"}'}
        )
        flavor = self.nova_flavor("a100:1")
        self.assertEqual("compute1", self.host_of(self.boot(flavor)))
        self.boot(flavor, expected_state="ERROR")


class OverlapAndMultiCreateTest(support.AggregatePciTestBase):
    PCI_ALIAS = support.AggregatePciTestBase.PCI_ALIAS + [
        {
            "name": "nv-any",
            "vendor_id": "10de",
            "product_id": "20b5",
            "device_type": "type-PCI",
        },
        {
            "name": "nv-any",
            "vendor_id": "10de",
            "product_id": "1eb8",
            "device_type": "type-PCI",
        },
    ]

    def test_two_overlapping_flavors_requested_together(self):
        # compute1: one A100 + one T4 (in the aggregate): a100:1 + nv-any:1
        # fits only by giving the T4 to nv-any.  compute2: two T4s (in the
        # aggregate): nv-any fits, a100 does not.  compute3: outside.
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_T4)])
        )
        self.start_compute(
            "compute2", pci_info=support.gpu_host([(0x81, GPU_T4), (0x82, GPU_T4)])
        )
        self.start_compute(
            "compute3", pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_A100)])
        )
        self.make_aggregate(
            "gpu",
            ["compute1", "compute2"],
            {"pci_flavor:a100": A100, "pci_flavor:nv-any": NV_ANY},
        )
        flavor = self.nova_flavor("a100:1,nv-any:1")
        self.assertEqual("compute1", self.host_of(self.boot(flavor)))
        self.boot(flavor, expected_state="ERROR")
        # nv-any alone still fits on compute2.
        self.assertEqual(
            "compute2", self.host_of(self.boot(self.nova_flavor("nv-any:2")))
        )

    def _multi_create(self, flavor, count, expected_state):
        body = self._build_server(flavor_id=flavor, networks="none")
        body["min_count"] = count
        body["max_count"] = count
        body["return_reservation_id"] = True
        resv = self.api.post_server({"server": body})["reservation_id"]
        servers = self.api.get_servers(
            detail=True, search_opts={"reservation_id": resv}
        )
        return [self._wait_for_state_change(s, expected_state) for s in servers]

    def test_multi_create_sees_shrinking_pools(self):
        self.start_compute(
            "compute1",
            pci_info=support.gpu_host([(0x81 + i, GPU_A100) for i in range(4)]),
        )
        self.start_compute(
            "compute2",
            pci_info=support.gpu_host([(0x81 + i, GPU_A100) for i in range(4)]),
        )
        self.make_aggregate("gpu", ["compute1"], {"pci_flavor:a100": A100})
        flavor = self.nova_flavor("a100:2")
        servers = self._multi_create(flavor, 2, "ACTIVE")
        self.assertEqual(["compute1", "compute1"], [self.host_of(s) for s in servers])
        self.boot(self.nova_flavor("a100:1"), expected_state="ERROR")

    def test_multi_create_more_than_fits_fails(self):
        self.start_compute(
            "compute1",
            pci_info=support.gpu_host([(0x81 + i, GPU_A100) for i in range(3)]),
        )
        self.start_compute(
            "compute2",
            pci_info=support.gpu_host([(0x81 + i, GPU_A100) for i in range(4)]),
        )
        self.make_aggregate("gpu", ["compute1"], {"pci_flavor:a100": A100})
        servers = self._multi_create(self.nova_flavor("a100:2"), 2, "ERROR")
        self.assertEqual(2, len(servers))
        self.assertIn("No valid host", servers[0]["fault"]["message"])


class BadMetadataAndRuntimeTest(support.AggregatePciTestBase):
    def setUp(self):
        super().setUp()
        for host in ("compute1", "compute2", "compute3"):
            self.start_compute(
                host,
                pci_info=support.gpu_host(
                    [(0x81, GPU_A100), (0x82, GPU_A100), (0x83, GPU_T4)]
                ),
            )

    def test_bad_value_fails_closed_for_its_flavor_only(self):
        self.make_aggregate(
            "bad",
            ["compute1"],
            {
                "pci_flavor:a100": '{"vendor_id":"10de","product_id":"20b5x"}',
                "pci_flavor:t4": T4,
            },
        )
        self.make_aggregate("good", ["compute2"], {"pci_flavor:a100": A100})
        a100 = self.nova_flavor("a100:1")
        hosts = {self.host_of(self.boot(a100)) for _ in range(2)}
        self.assertEqual({"compute2"}, hosts)
        # compute2's A100s are used; compute1's only definition is bad.
        self.boot(a100, expected_state="ERROR")
        # The same aggregate's good t4 definition keeps working.
        self.assertEqual("compute1", self.host_of(self.boot(self.nova_flavor("t4:1"))))
        warnings = [
            line
            for line in self.stdlog.logger.output.splitlines()
            if "ignoring bad PCI flavor metadata" in line
        ]
        self.assertEqual(1, len(warnings), warnings)
        self.assertIn("aggregate 'bad', key 'pci_flavor:a100'", warnings[0])

    def test_metadata_and_membership_changes_apply_to_next_request(self):
        agg = self.make_aggregate("gpu", ["compute1"], {"pci_flavor:a100": A100})
        a100 = self.nova_flavor("a100:1")
        self.assertEqual("compute1", self.host_of(self.boot(a100)))
        self.assertEqual("compute1", self.host_of(self.boot(a100)))
        self.boot(a100, expected_state="ERROR")
        # Add compute2 to the aggregate: it serves the next request.
        self.admin_api.add_host_to_aggregate(agg["id"], "compute2")
        self.assertEqual("compute2", self.host_of(self.boot(a100)))
        # Redefine a100 to match the T4 devices instead (a changed value must
        # not be served from a stale cache).  Nova's claim takes devices by
        # the [pci] alias (A100s), so no instance could hold a T4 through it:
        # no host serves it now, though compute2 still has a free A100 that a
        # stale A100 definition would accept.  (Before the claim check this
        # booted onto compute2 and got the A100 its flavor excluded.)
        self.set_metadata(agg["id"], {"pci_flavor:a100": T4})
        self.boot(a100, expected_state="ERROR")
        # Back to the A100 definition: compute2's free A100 serves it.
        self.set_metadata(agg["id"], {"pci_flavor:a100": A100})
        self.assertEqual("compute2", self.host_of(self.boot(a100)))
        # Remove compute1 and compute2: nothing defines a100 for any host
        # while the key still exists on the (now empty) aggregate.
        self.admin_api.remove_host_from_aggregate(agg["id"], "compute1")
        self.admin_api.remove_host_from_aggregate(agg["id"], "compute2")
        self.boot(a100, expected_state="ERROR")


class ReversedOrderOverlapTest(OverlapAndMultiCreateTest):
    """Same scenarios with AggregatePciFilter after PciPassthroughFilter:
    the decisions must not depend on the order."""

    ADDITIONAL_FILTERS = [
        "NUMATopologyFilter",
        "PciPassthroughFilter",
        "AggregatePciFilter",
    ]
