"""AggregatePciWeigher on an in-process Nova, PCI in Placement off and on.

The contested fleet: compute1 (64 GB: Nova's RAM weigher prefers it to
compute2's 16 GB) has A100s on buses 0x81 and 0x82, compute2 on 0x81 and
0x83.  PCI flavor ``gpu`` is any A100, ``gpu-x`` only an A100 on bus 0x82
(an address glob), both defined on one aggregate of both hosts.  The
stream ``gpu, gpu, gpu-x, gpu, gpu``: Nova's default weighers put both
first ``gpu`` on compute1, whose second claim takes the 0x82 A100, and
``gpu-x`` gets "No valid host" after 2 served; the weigher sends the second
``gpu`` to compute2 and serves 4, every device (the optimum), before the
fifth request finds the fleet full.
"""

import json
import time

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova.tests.fixtures import libvirt as fakelibvirt

from tests.fixtures import cli_run
from tests.fixtures import nova_harness as support
from tests.fixtures.nova_harness import GPU_A100

A100 = '{"product_id":"20b5","vendor_id":"10de"}'
A100_X = '{"address":"0000:82:*","product_id":"20b5","vendor_id":"10de"}'
WEIGHER = "aggregate_pci.weigher.AggregatePciWeigher"
ALL_WEIGHERS = "nova.scheduler.weights.all_weighers"


class ContestedBase(support.AggregatePciTestBase):
    """The contested fleet; ``WEIGHT_CLASSES`` picks the weighers."""

    PCI_DEVICE_SPEC = [{"vendor_id": "10de", "product_id": "20b5"}]
    PCI_ALIAS = [
        {
            "name": name,
            "vendor_id": GPU_A100[0],
            "product_id": GPU_A100[1],
            "device_type": "type-PCI",
        }
        for name in ("gpu", "gpu-x")
    ]
    WEIGHT_CLASSES = [ALL_WEIGHERS, WEIGHER]

    def setUp(self):
        self.flags(weight_classes=self.WEIGHT_CLASSES, group="filter_scheduler")
        super().setUp()
        big = fakelibvirt.HostInfo(
            cpu_nodes=2, cpu_cores=2, cpu_threads=2, kB_mem=64 * 1024 * 1024
        )
        small = fakelibvirt.HostInfo(cpu_nodes=2, cpu_cores=2, cpu_threads=2)
        self.start_compute(
            "compute1",
            host_info=big,
            pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_A100)]),
        )
        self.start_compute(
            "compute2",
            host_info=small,
            pci_info=support.gpu_host([(0x81, GPU_A100), (0x83, GPU_A100)]),
        )
        self.agg = self.make_aggregate(
            "gpus",
            ["compute1", "compute2"],
            {"pci_flavor:gpu": A100, "pci_flavor:gpu-x": A100_X},
        )
        self.gpu = self.nova_flavor("gpu:1")
        self.gpu_x = self.nova_flavor("gpu-x:1")

    def run_stream(self):
        """Boot gpu, gpu, gpu-x, gpu, gpu until the first "No valid host":
        the hosts of the servers served before it."""
        hosts = []
        for flavor in (self.gpu, self.gpu, self.gpu_x, self.gpu, self.gpu):
            body = self._build_server(flavor_id=flavor, networks="none")
            server = self.settled(self.api.post_server({"server": body}))
            if server["status"] == "ERROR":
                self.assertIn("No valid host", server["fault"]["message"])
                return hosts
            self.assertEqual("ACTIVE", server["status"])
            hosts.append(self.host_of(server))
        return hosts

    def settled(self, server):
        """The server once it has left BUILD."""
        for _ in range(100):
            server = self.api.get_server(server["id"])
            if server["status"] != "BUILD":
                return server
            time.sleep(0.1)
        self.fail("server %s stayed in BUILD" % server["id"])

    def assert_optimum(self, hosts):
        """All 4 served: without Placement in this order (the greedy claim
        takes bus 0x81 first); with it the order depends on which device
        Placement's first allocation candidate names (the one Nova
        allocates, which the weigher models), but each host serves 2."""
        if self.PCI_IN_PLACEMENT:
            self.assertEqual(
                ["compute1", "compute1", "compute2", "compute2"], sorted(hosts)
            )
        else:
            self.assertEqual(["compute1", "compute2", "compute1", "compute2"], hosts)

    def weigher(self):
        """Our weigher as the scheduler loaded it."""
        found = [
            w
            for w in self.scheduler.manager.host_manager.weighers
            if type(w).__name__ == "AggregatePciWeigher"
        ]
        self.assertEqual(1, len(found))
        return found[0]


class DefaultWeighersTest(ContestedBase):
    """Nova's default weighers alone: the fleet is contested."""

    WEIGHT_CLASSES = [ALL_WEIGHERS]

    def test_default_refuses_early(self):
        self.assertEqual(["compute1", "compute1"], self.run_stream())


class WeigherTest(ContestedBase):
    def test_serves_the_optimum(self):
        self.assert_optimum(self.run_stream())

    def test_non_pci_request_is_neutral(self):
        weigher = self.weigher()
        seen = []
        orig = weigher.weigh_objects

        def spy(objs, spec):
            weights = orig(objs, spec)
            seen.append(weights)
            return weights

        weigher.weigh_objects = spy
        plain = self._create_flavor(name="plain")
        server = self.boot(plain)
        # The same host Nova's weighers pick without ours (the bigger one).
        self.assertEqual("compute1", self.host_of(server))
        self.assertEqual([[0.0, 0.0]], seen)

    def test_aggregate_multiplier_zero_turns_it_off(self):
        self.set_metadata(self.agg["id"], {"aggregate_pci_weight_multiplier": "0"})
        self.assertEqual(["compute1", "compute1"], self.run_stream())

    def test_aggregate_multiplier_turns_it_on(self):
        self.flags(weight_multiplier=0.0, group="aggregate_pci")
        self.set_metadata(self.agg["id"], {"aggregate_pci_weight_multiplier": "10"})
        self.assert_optimum(self.run_stream())

    def test_hostile_metadata_never_raises(self):
        # A multiplier that is no number or not finite (the weigher falls
        # back to the option, weigh.host_multiplier), and a bad PCI flavor value on
        # another aggregate of compute2: the weigher still works.
        other = self.make_aggregate("other", ["compute2"])
        bad = {"aggregate_pci_weight_multiplier": "abc", "pci_flavor:gpu": "{"}
        self.set_metadata(other["id"], bad)
        self.assert_optimum(self.run_stream())
        manager = self.scheduler.manager.host_manager
        for value in ("abc", "inf", "-inf", "nan"):
            self.set_metadata(other["id"], {"aggregate_pci_weight_multiplier": value})
            host_states = list(manager.get_host_states_by_uuids(self.ctxt, None, None))
            self.assertEqual(2, len(host_states))
            for hs in host_states:
                self.assertEqual(10.0, self.weigher().weight_multiplier(hs), value)


class ExplainAgreesTest(ContestedBase):
    """``explain`` (online, on this Nova's databases) ranks first the host
    where the weigher then sends the boot, along the contested stream (PCI
    in Placement off: explain replays the greedy claim, as the weigher
    does; with it the weigher reads Placement's candidates, which explain
    does not query)."""

    def explain_ranks(self, alias_spec):
        """{host: rank} of the hosts ``explain --request`` lets pass."""
        rc, out, err = cli_run.run(
            ["explain", "--request", alias_spec, "-f", "json"], None, self.ctxt
        )
        self.assertEqual(0, rc, err)
        self.assertIn("the compute's claim replayed with Nova's pool logic", err)
        return {r["Host"]: r["Rank"] for r in json.loads(out) if r["Rank"]}

    def test_explain_rank_one_is_where_the_weigher_boots(self):
        seen = []
        for flavor, alias_spec in (
            (self.gpu, "gpu:1"),
            (self.gpu, "gpu:1"),
            (self.gpu_x, "gpu-x:1"),
            (self.gpu, "gpu:1"),
        ):
            ranks = self.explain_ranks(alias_spec)
            server = self.settled(
                self.api.post_server(
                    {"server": self._build_server(flavor_id=flavor, networks="none")}
                )
            )
            self.assertEqual("ACTIVE", server["status"])
            host = self.host_of(server)
            self.assertEqual(1, ranks[host], (alias_spec, ranks, host))
            seen.append((ranks, host))
        # the second gpu: explain prefers compute2 alone (compute1's claim
        # would take the 0x82 A100 gpu-x needs), and the weigher sends it there
        self.assertEqual(({"compute1": 2, "compute2": 1}, "compute2"), seen[1])

    def test_explain_reads_the_option_and_the_aggregate_multiplier(self):
        self.flags(weight_multiplier=3.0, group="aggregate_pci")
        self.boot(self.gpu)  # on compute1: the second gpu is contested
        rc, out, err = cli_run.run(
            ["explain", "--request", "gpu:1", "--long", "-f", "json"], None, self.ctxt
        )
        self.assertEqual(0, rc, err)
        self.assertIn("weight_multiplier = 3 (the given nova.conf)", err)
        rows = {r["Host"]: r for r in json.loads(out)}
        self.assertEqual(
            ("3 (option)", 3.0, 1),
            tuple(rows["compute2"][k] for k in ("Multiplier", "Weight", "Rank")),
        )
        self.set_metadata(self.agg["id"], {"aggregate_pci_weight_multiplier": "0"})
        rc, out, err = cli_run.run(
            ["explain", "--request", "gpu:1", "--long", "-f", "json"], None, self.ctxt
        )
        rows = {r["Host"]: r for r in json.loads(out)}
        self.assertEqual("0 (aggregate gpus)", rows["compute2"]["Multiplier"])
        self.assertEqual({1}, {r["Rank"] for r in rows.values()})


class PlacementDefaultWeighersTest(DefaultWeighersTest):
    PCI_IN_PLACEMENT = True


class PlacementWeigherTest(WeigherTest):
    PCI_IN_PLACEMENT = True
