"""AggregatePciFilter on a real in-process Nova: scoping and exhaustion."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

from tests.fixtures import nova_harness as support
from tests.fixtures.nova_harness import GPU_A100


class ScopingTest(support.AggregatePciTestBase):
    def setUp(self):
        super().setUp()
        # Both hosts have two A100s; only compute1 is in the aggregate.
        for host in ("compute1", "compute2"):
            self.start_compute(
                host, pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_A100)])
            )
        self.agg = self.make_aggregate(
            "gpu-hosts",
            ["compute1"],
            {"pci_flavor:a100": '{"product_id":"20b5","vendor_id":"10de"}'},
        )
        self.flavor = self.nova_flavor("a100:1")

    def test_scoped_to_aggregate_and_exhausted(self):
        first = self.boot(self.flavor)
        second = self.boot(self.flavor)
        self.assertEqual("compute1", self.host_of(first))
        self.assertEqual("compute1", self.host_of(second))
        # compute1's two A100s are used; compute2 still has two free ones but
        # is outside the defining aggregate: no valid host.
        failed = self.boot(self.flavor, expected_state="ERROR")
        self.assertIn("No valid host", failed["fault"]["message"])
        self.assertGreater(self.filter_calls["filter_all"], 0)

    def test_unmanaged_alias_is_left_to_nova(self):
        self.set_metadata(self.agg["id"], {"pci_flavor:a100": None})
        servers = [self.boot(self.flavor) for _ in range(3)]
        self.assertEqual({"compute1", "compute2"}, {self.host_of(s) for s in servers})


class ReversedOrderScopingTest(ScopingTest):
    ADDITIONAL_FILTERS = [
        "NUMATopologyFilter",
        "PciPassthroughFilter",
        "AggregatePciFilter",
    ]
