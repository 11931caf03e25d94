"""``nova_db`` over several cells (issue 21): one read decodes every
cell's ``pci_stats`` with one ``PoolsDecoder``, so computes alike in
different cells share their free pools (a decoder per cell made each cell's
copies, which every memo keyed by a pool's identity then missed: up to
0.9 s more per command at 10,000 hosts in 3 cells, docs/benchmarks.md),
and the pools read equal those of each cell alone."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

from nova import context as nova_context

from aggregate_pci.admin.nova_io import cell_reads, nova_db
from tests.fixtures import nova_harness as support

GPU = ("10de", "1db4")
T4 = ("10de", "1eb8")
#: compute1 in cell1 and compute2 in cell2, alike.
CELLS = {"compute1": "cell1", "compute2": "cell2"}


class TwoCellsTest(support.CliTestBase):
    NUMBER_OF_CELLS = 2
    PCI_DEVICE_SPEC = [
        {"vendor_id": "10de", "product_id": "1db4"},
        {"vendor_id": "10de", "product_id": "1eb8", "physical_network": "net1"},
    ]

    def setUp(self):
        super().setUp()
        for host, cell in CELLS.items():
            self.start_compute(
                host,
                pci_info=support.gpu_host([(0x81, GPU), (0x82, GPU), (0x83, T4)]),
                cell_name=cell,
            )

    def test_alike_computes_of_two_cells_share_their_free_pools(self):
        free_by_host = {}
        hosts = nova_db.host_pools(self.ctxt, free_by_host=free_by_host)
        self.assertEqual(set(CELLS), set(hosts))
        (cell1, _, free1), (cell2, _, free2) = (free_by_host[h] for h in CELLS)
        self.assertEqual((cell1.name, cell2.name), tuple(CELLS.values()))
        self.assertEqual(3, sum(p["count"] for p in free1))
        self.assertEqual(free1, free2)
        self.assertTrue(all(a is b for a, b in zip(free1, free2, strict=True)))
        self.assertEqual(hosts["compute1"], hosts["compute2"])

    def test_each_cell_reads_as_it_reads_alone(self):
        hosts = nova_db.host_pools(self.ctxt)
        for host, name in CELLS.items():
            cell = self.cell_mappings[name]
            with nova_context.target_cell(self.ctxt, cell) as cctxt:
                (page,) = list(cell_reads.guarded_node_pages(cell, cctxt))
            (node, free), *others = page
            self.assertEqual([], others)
            self.assertEqual(host, node.host)
            self.assertEqual(
                sorted(map(sorted, (p.items() for p in free))),
                sorted(
                    sorted((k, v) for k, v in p.items() if k != "used")
                    for p in hosts[host]
                ),
            )
