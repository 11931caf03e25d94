"""Issue 21: reading Nova's databases, equal pools of different hosts are
one object (``inventory.merge_pools`` with ``shared``): sound only while no
command changes an inventory's pools.  Every command that reads an
inventory runs here on pools that are shared and refuse any change."""

import io
import json
import os
import tempfile
import unittest
from unittest import mock

from aggregate_pci.admin import inventory, inventory_stream
from aggregate_pci.cli import shell, sources

GPU = '{"vendor_id":"10de","product_id":"1db4"}'
ANY = '{"vendor_id":"10de","product_id":"1db4","address":"0000:8*"}'


class FrozenPool(dict):
    """A pool that raises on any change."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("a command changed an inventory pool")

    __setitem__ = __delitem__ = _refuse
    update = pop = popitem = setdefault = clear = _refuse
    __ior__ = _refuse


def frozen_shared(inv):
    """``inv`` with every pool frozen and equal pools one object."""
    shared = {}
    for host, pools in inv.hosts.items():
        inv.hosts[host] = [
            shared.setdefault(frozenset(p.items()), FrozenPool(p)) for p in pools
        ]
    assert len(shared) < sum(len(p) for p in inv.hosts.values())
    return inv


def pool(address, count, used, numa=0):
    return {"vendor_id": "10de", "product_id": "1db4", "dev_type": "type-PCI",
            "numa_node": numa, "address": address, "count": count, "used": used}  # fmt: skip


def doc():
    hosts = {
        "c%d" % i: [pool("0000:81:00.0", 1, 0), pool("0000:82:00.0", 0, 1, 1)]
        for i in range(4)
    }
    return {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": [
            {"name": "gpu", "hosts": ["c0", "c1", "c2"],
             "metadata": {"pci_flavor:gpu": GPU, "pci_flavor:slot8x": ANY}},
        ],
        "hosts": hosts,
        "nova_flavors": [
            {"name": "gpu.one", "id": "1",
             "extra_specs": {"pci_passthrough:alias": "gpu:1"}},
        ],
        "allocations": [
            {"instance": "i%d" % i, "host": "c%d" % i,
             "requests": [{"alias": "gpu", "count": 1}],
             "devices": [{"address": "0000:82:00.0", "vendor_id": "10de",
                          "product_id": "1db4", "dev_type": "type-PCI",
                          "numa_node": 1, "alias": "gpu", "tags": {}}]}
            for i in range(4)
        ],
    }  # fmt: skip


class SharedPoolsTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.path = os.path.join(tmp.name, "inv.json")
        with open(self.path, "w") as fh:
            json.dump(doc(), fh)
        real_load, real_stream = sources.load, inventory_stream.load
        for target, real in (
            (sources, real_load),
            (inventory_stream, real_stream),
        ):
            patcher = mock.patch.object(
                target,
                "load",
                side_effect=lambda *a, _real=real, **k: frozen_shared(_real(*a, **k)),
            )
            patcher.start()
            self.addCleanup(patcher.stop)

    def run_cli(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        rc = shell.main([*argv, "--inventory", self.path], stdout=out, stderr=err,
                        admin_factory=lambda: None)  # fmt: skip
        # 1 is a finding (c3 holds a device outside any PCI flavor, the
        # definitions overlap); a changed pool would be an unexpected error
        self.assertIn(rc, (0, 1), err.getvalue())
        self.assertNotIn("changed an inventory pool", err.getvalue())
        self.assertNotIn("nexpected", err.getvalue())
        return out.getvalue()

    def test_every_reading_command_leaves_the_pools_alone(self):
        commands = [
            ("capacity",),
            ("capacity", "--fit", "gpu.one"),
            ("explain", "--request", "gpu:1"),
            ("audit",),
            ("audit", "--summary"),
            ("check", "--offline"),
            ("exporter", "--once", "--textfile", os.path.join(self.dir, "m.prom")),
            ("exporter", "--once", "--audit", "--textfile",
             os.path.join(self.dir, "a.prom")),
        ]  # fmt: skip
        for argv in commands:
            with self.subTest(argv=argv):
                self.assertTrue(self.run_cli(*argv) or argv[0] == "exporter")
        self.assertTrue(sources.load.called and inventory_stream.load.called)

    def test_frozen_pools_refuse_a_change(self):
        inv = frozen_shared(
            inventory.Inventory([], {"a": [pool("x", 1, 0)], "b": [pool("x", 1, 0)]})
        )
        self.assertIs(inv.hosts["a"][0], inv.hosts["b"][0])
        with self.assertRaises(AssertionError):
            inv.hosts["a"][0]["count"] -= 1

    def test_merge_pools_shares_equal_pools_of_different_hosts(self):
        shared = {}
        a = inventory.merge_pools([pool("x", 1, 0)], [pool("y", 1, 0)], shared)
        b = inventory.merge_pools([pool("x", 1, 0)], [pool("y", 1, 0)], shared)
        c = inventory.merge_pools([pool("x", 2, 0)], [], shared)
        self.assertEqual(a, b)
        self.assertTrue(all(p is q for p, q in zip(a, b, strict=True)))
        self.assertIsNot(a[0], c[0])
        self.assertEqual(inventory.merge_pools([pool("x", 1, 0)],
                                               [pool("y", 1, 0)]), a)  # fmt: skip
