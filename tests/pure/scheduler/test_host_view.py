"""aggregate_pci.scheduler.host_view's cache (issue 22): a cloud with more
distinct ``pci_flavor:*`` values than ``parse_cache_size`` must not re-parse
them all on every Neutron-port request (plain LRU evicts each value before
its next use when one request reads them in a cycle)."""

import unittest
from unittest import mock

from aggregate_pci import codec
from aggregate_pci.scheduler import host_view, ports

SIZE = 64


def value(i, net="physnet1"):
    return (
        '{"vendor_id":"15b3","product_id":"101e","physical_network":"%s",'
        '"address":"0000:%02x:%02x.%d"}' % (net, i // 256, i // 8 % 32, i % 8)
    )


class ParseCountTest(unittest.TestCase):
    def setUp(self):
        self.cache = host_view.DefinitionCache(SIZE)
        patcher = mock.patch.object(
            host_view.codec, "parse_value", side_effect=codec.parse_value
        )
        self.parse = patcher.start()
        self.addCleanup(patcher.stop)

    def parses(self, values):
        """Values parsed by one port request's scan of ``values``."""
        self.parse.reset_mock()
        found = ports.managed_physnets(list(values), self.cache.parse)
        self.assertTrue(found)
        return self.parse.call_count

    def test_more_values_than_the_cache_keep_most_hits(self):
        values = [value(i) for i in range(2 * SIZE)]
        self.assertEqual(2 * SIZE, self.parses(values))
        for _ in range(5):
            # plain LRU: all 128 again; here the 64 held keep hitting but
            # for the few new ones let in at the top (1 in ADMIT_EVERY)
            self.assertLessEqual(self.parses(values), SIZE + SIZE // 4)
        self.assertEqual(SIZE, self.cache.memory()["parsed"])

    def test_values_that_fit_are_parsed_once(self):
        values = [value(i) for i in range(SIZE)]
        self.assertEqual(SIZE, self.parses(values))
        self.assertEqual(0, self.parses(values))

    def test_new_values_displace_stale_ones_in_a_full_cache(self):
        self.parses([value(i) for i in range(SIZE)])  # full of old values
        new = [value(i, "physnet2") for i in range(10)]
        counts = [self.parses(new) for _ in range(40)]
        self.assertEqual(10, counts[0])
        self.assertEqual(0, counts[-1], counts)
