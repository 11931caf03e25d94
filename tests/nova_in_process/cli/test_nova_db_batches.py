"""``nova_db`` reads the cell database in pages and batches
(``cell_reads``): with pages of one compute node and batches of one uuid it
must read what it reads in one page, and both must equal Nova's own objects
read one node and one instance at a time (free pools, used devices, PCI
requests, names, projects and flavors)."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import collections
import json
import os
import subprocess
import sys

import fixtures
from nova import context as nova_context
from nova import objects

from aggregate_pci.admin.nova_io import (
    allocation_reads,
    api_reads,
    cell_reads,
    nova_db,
    pci_stats_column,
)
from tests.fixtures import nova_harness as support

#: ``aggregate-pci ARGV``, printing how many objects are frozen when the
#: read of Nova's databases starts and how many freezes the command made.
FREEZE_SPY = """
import gc, sys
from aggregate_pci.admin.nova_io import nova_db
from aggregate_pci.cli import shell
freezes = []
freeze = gc.freeze
gc.freeze = lambda: freezes.append(freeze())
read = nova_db.inventory
def spy(*args, **kwargs):
    print("frozen at the read:", gc.get_freeze_count())
    return read(*args, **kwargs)
nova_db.inventory = spy
status = shell.main(sys.argv[1:])
print("freezes during the command:", len(freezes))
sys.exit(status)
"""

GPU = ("10de", "1db4")
T4 = ("10de", "1eb8")


class BatchedReadsTest(support.CliTestBase):
    PCI_DEVICE_SPEC = [
        {"vendor_id": "10de", "product_id": "1db4"},
        {"vendor_id": "10de", "product_id": "1eb8", "physical_network": "net1"},
    ]
    PCI_ALIAS = [
        {"name": "gpu", "vendor_id": "10de", "product_id": "1db4",
         "device_type": "type-PCI"},
        {"name": "t4", "vendor_id": "10de", "product_id": "1eb8",
         "device_type": "type-PCI"},
    ]  # fmt: skip

    def setUp(self):
        super().setUp()
        for host in ("compute1", "compute2", "compute3"):
            self.start_compute(
                host,
                pci_info=support.gpu_host([(0x81, GPU), (0x82, GPU), (0x83, T4)]),
            )
        agg = self.make_aggregate("gpu-hosts", hosts=["compute1", "compute2"])
        self.set_metadata(
            agg["id"],
            {
                "pci_flavor:gpu": '{"vendor_id":"10de","product_id":"1db4"}',
                "pci_flavor:t4": '{"vendor_id":"10de","product_id":"1eb8"}',
            },
        )
        self.servers = [
            self.boot(self.nova_flavor("gpu:2", name="two-gpus")),
            self.boot(self.nova_flavor("gpu:1,t4:1", name="gpu-t4")),
            self.boot(self.nova_flavor("t4:1", name="one-t4")),
            self.boot(self.nova_flavor("gpu:1", name="one-gpu")),
        ]

    def read(self):
        by_provider = {}
        inv = nova_db.inventory(
            self.ctxt, with_flavors=True, with_allocations=True,
            by_provider=by_provider,
        )  # fmt: skip
        return inv.hosts, inv.allocations, by_provider

    def test_pages_of_one_read_what_one_page_reads(self):
        whole = self.read()
        self.assertEqual(4, len(whole[1]))
        self.useFixture(fixtures.MockPatchObject(cell_reads, "PAGE_NODES", 1))
        self.useFixture(fixtures.MockPatchObject(cell_reads, "BATCH_UUIDS", 1))
        self.useFixture(
            fixtures.MockPatchObject(allocation_reads, "ALLOCATION_STEP", 1)
        )
        self.assertEqual(whole, self.read())

    def test_what_nova_objects_read_one_by_one(self):
        hosts, allocations, _ = self.read()
        cell = self.cell_mappings["cell1"]
        with nova_context.target_cell(self.ctxt, cell) as cctxt:
            (page,) = list(cell_reads.node_pages(cctxt))
            stats = {n.id: n.pci_stats for n in page}
            for node in objects.ComputeNodeList.get_all(cctxt):
                free = [p.to_dict() for p in node.pci_device_pools or []]
                self.assertTrue(free)
                self.assertEqual(free, pci_stats_column.PoolsDecoder()(stats[node.id]))
                used = sorted(
                    (d.address, d.instance_uuid, d.request_id)
                    for d in objects.PciDeviceList.get_by_compute_node(cctxt, node.id)
                    if d.status in nova_db.USED_STATUSES
                )
                pools = hosts[node.host]
                self.assertEqual(len(used), sum(p["used"] for p in pools), node.host)
                self.assertEqual(
                    sum(p["count"] for p in free), sum(p["count"] for p in pools)
                )
            expected = {}
            for server in self.servers:
                inst = objects.Instance.get_by_uuid(
                    cctxt, server["id"], expected_attrs=["flavor"]
                )
                reqs = objects.InstancePCIRequests.get_by_instance_uuid(
                    cctxt, server["id"]
                )
                expected[server["id"]] = (
                    inst.display_name, inst.project_id, inst.flavor.name,
                    sorted((r.alias_name, r.count) for r in reqs.requests),
                )  # fmt: skip
        got = {
            a.instance: (a.name, a.project, a.nova_flavor, sorted(a.requests))
            for a in allocations
        }
        self.assertEqual(expected, got)

    def test_pool_formats_nova_would_coerce_go_through_nova(self):
        # the legacy list of dicts, and a numa_node Nova coerces from text
        legacy = json.dumps(
            [{"product_id": "1db4", "vendor_id": "10de", "numa_node": 0,
              "count": 2, "dev_type": "type-PCI"}]
        )  # fmt: skip
        pools = objects.PciDevicePoolList(
            objects=[objects.PciDevicePool(
                product_id="1db4", vendor_id="10de", numa_node=1,
                tags={"dev_type": "type-PCI"}, count=1)]
        )  # fmt: skip
        primitive = pools.obj_to_primitive()
        primitive["nova_object.data"]["objects"][0]["nova_object.data"]["numa_node"] = (
            "1"
        )
        from nova.objects import pci_device_pool

        for text in (
            legacy,
            json.dumps(primitive),
            json.dumps(pools.obj_to_primitive()),
        ):
            nova = [p.to_dict() for p in pci_device_pool.from_pci_stats(text)]
            self.assertEqual(nova, pci_stats_column.PoolsDecoder()(text))
            self.assertEqual(
                [list(p) for p in nova],
                [list(p) for p in pci_stats_column.PoolsDecoder()(text)],
            )

    def test_aggregates_as_nova_objects_give_them(self):
        self.make_aggregate("az-empty", metadata={"availability_zone": "az1"})
        self.make_aggregate("two", hosts=["compute3", "compute1"], metadata={"k": "v"})
        got = api_reads.aggregates(self.ctxt)
        nova = objects.AggregateList.get_all(self.ctxt)
        self.assertEqual(3, len(got))
        self.assertEqual(
            [(a.id, a.name, a.uuid, tuple(a.hosts), dict(a.metadata),
              a.availability_zone) for a in nova],
            [(a.id, a.name, a.uuid, a.hosts, a.metadata, a.availability_zone)
             for a in got],
        )  # fmt: skip

    def test_consumers_in_batches_of_one(self):
        uuids = [s["id"] for s in self.servers] + [
            "00000000-0000-4000-8000-00000000dead"
        ]

        def read():
            nodes, deleted = {}, set()
            found = nova_db.consumers(self.ctxt, uuids, nodes, deleted)
            return found, nodes, deleted

        whole = read()
        self.assertEqual({s["id"]: s["name"] for s in self.servers}, whole[0][0])
        self.assertEqual(len(self.servers), len(whole[1]))
        self.useFixture(fixtures.MockPatchObject(cell_reads, "BATCH_UUIDS", 1))
        self.assertEqual(whole, read())

    def test_explain_shares_equal_pools_and_its_replays_leave_them(self):
        import copy

        from aggregate_pci.admin.nova_io import nova_explain
        from aggregate_pci.scheduler import claim

        nodes = {}
        nova_db.inventory(self.ctxt, free_by_host=nodes)
        stats = nova_explain.pci_stats_by_host(nodes)
        by_key = {}
        for s in stats.values():
            for pool in s.pools:
                by_key.setdefault(json.dumps(pool, sort_keys=True), set()).add(id(pool))
        self.assertTrue(all(len(ids) == 1 for ids in by_key.values()), by_key)
        self.assertLess(len(by_key), sum(len(s.pools) for s in stats.values()))
        before = copy.deepcopy({h: s.pools for h, s in stats.items()})
        served, verdicts = 0, set()
        for spec in ("gpu:1", "t4:1", "gpu:2", "gpu:2,t4:1", "t4:2"):
            requests = nova_explain.pci_requests_of(spec)
            for s in stats.values():
                served += claim.replay_claim(s, requests).failed is None
                says = nova_explain.nova_filter_says(s, requests)
                # Nova's own support_requests (its deep copy) says the same
                nova = s.support_requests(requests, provider_mapping=None)
                self.assertEqual(nova, says == "passes", (spec, s.pools))
                verdicts.add(says)
        self.assertGreater(served, 0)
        self.assertEqual(2, len(verdicts))  # some hosts pass, some do not
        self.assertEqual(before, {h: s.pools for h, s in stats.items()})
        # a pool of two devices (one per address above: Nova drops a pool
        # it empties instead of counting it down), shared by two hosts
        from nova.pci import stats as pci_stats

        pool = {"vendor_id": "10de", "product_id": "1db4", "numa_node": 0,
                "dev_type": "type-PCI", "address": "0000:81:00.0", "count": 2}  # fmt: skip
        two = [pci_stats.PciDeviceStats(None, stats=[nova_explain._Pool(pool)])
               for _ in range(2)]  # fmt: skip
        requests = nova_explain.pci_requests_of("gpu:1")
        for s in two:
            self.assertIsNone(claim.replay_claim(s, requests).failed)
            self.assertEqual("passes", nova_explain.nova_filter_says(s, requests))
        self.assertEqual(2, pool["count"])

    def test_explain_builds_nova_filter_input_as_the_scheduler_does(self):
        from nova.pci import stats as pci_stats

        from aggregate_pci.admin.nova_io import nova_explain

        nodes = {}
        inv = nova_db.inventory(self.ctxt, free_by_host=nodes)
        self.assertEqual(set(inv.hosts), set(nodes))
        kept = nova_explain.pci_stats_by_host(nodes)
        cell = self.cell_mappings["cell1"]
        with nova_context.target_cell(self.ctxt, cell) as cctxt:
            computes = objects.ComputeNodeList.get_all(cctxt)
        self.assertEqual({c.host for c in computes}, set(kept))
        for compute in computes:
            # as HostState._update_from_compute_node builds it
            topology = objects.NUMATopology.obj_from_db_obj(compute.numa_topology)
            nova = pci_stats.PciDeviceStats(topology, stats=compute.pci_device_pools)
            mine = kept[compute.host]
            self.assertTrue(nova.pools, compute.host)
            self.assertEqual(nova.pools, mine.pools, compute.host)
            self.assertEqual(
                topology.obj_to_primitive(), mine.numa_topology.obj_to_primitive()
            )

    def test_allocations_without_names_read_no_server(self):
        named = nova_db.inventory(self.ctxt, with_allocations=True).allocations
        with fixtures.MockPatch(
            "aggregate_pci.admin.nova_io.instance_reads.servers",
            side_effect=AssertionError("servers read"),
        ):
            bare = nova_db.inventory(
                self.ctxt, with_allocations=True, with_names=False
            ).allocations
        self.assertTrue(all(a.name for a in named))
        self.assertEqual(
            [a.__class__(a.instance, a.host, a.requests, a.devices) for a in named],
            bare,
        )

    def test_without_pools_the_same_holdings_and_no_pool_read(self):
        by_provider = {}
        whole = nova_db.inventory(
            self.ctxt, with_allocations=True, by_provider=by_provider
        )
        decoded = []
        real_decode = pci_stats_column.PoolsDecoder.__call__

        def decode(decoder, text):
            decoded.append(text)
            return real_decode(decoder, text)

        bare_by_provider = {}
        with fixtures.MockPatchObject(
            pci_stats_column.PoolsDecoder, "__call__", decode
        ):
            bare = nova_db.inventory(
                self.ctxt,
                with_allocations=True,
                by_provider=bare_by_provider,
                pools="none",
            )
            self.assertEqual([], decoded)
            nova_db.inventory(self.ctxt)
            self.assertEqual(3, len(decoded))  # the spy sees reads with pools
        self.assertTrue(all(whole.hosts.values()))
        self.assertEqual(dict.fromkeys(whole.hosts, []), bare.hosts)
        self.assertEqual(4, len(whole.allocations))
        self.assertEqual(whole.allocations, bare.allocations)
        self.assertEqual(by_provider, bare_by_provider)
        self.assertEqual(6, sum(sum(p.values()) for p in by_provider.values()))

    def test_free_pools_count_what_all_pools_count_free(self):
        whole = nova_db.host_pools(self.ctxt)
        with fixtures.MockPatchObject(
            cell_reads, "used_devices", side_effect=AssertionError("used read")
        ):
            free = nova_db.host_pools(self.ctxt, pools="free")

        def counts(hosts, field):
            out = collections.Counter()
            for host, pools in hosts.items():
                for p in pools:
                    out[host, p["vendor_id"], p["product_id"]] += p.get(field, 0)
            return +out

        self.assertEqual(counts(whole, "count"), counts(free, "count"))
        self.assertEqual(3, len(free))
        self.assertEqual(9 - 6, sum(counts(free, "count").values()))
        self.assertEqual(6, sum(counts(whole, "used").values()))
        self.assertEqual({}, counts(free, "used"))

    def test_a_separate_process_freezes_what_loading_nova_made(self):
        """``--config-file``: what starting up and loading Nova made is frozen
        before the read (its collections do not walk it), once, and the
        command reads what it reads in-process."""
        conf = support.write_nova_conf(self)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        proc = subprocess.run(
            [sys.executable, "-c", FREEZE_SPY, "capacity", "--config-file", conf]
            + ["-f", "value"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        self.assertEqual(0, proc.returncode, proc.stderr)
        at_read, *rows, after = proc.stdout.splitlines()
        frozen = int(at_read.removeprefix("frozen at the read: "))
        self.assertGreater(frozen, 10000)
        self.assertEqual("freezes during the command: 1", after)
        rc, out, err = self.cli("capacity", "-f", "value")
        self.assertEqual(0, rc, err)
        self.assertEqual(out.splitlines(), rows)
