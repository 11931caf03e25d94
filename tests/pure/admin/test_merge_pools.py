"""aggregate_pci.admin.inventory.merge_pools (issue 21): with ``shared``
and ``known`` remembered over a whole read, every host's merged pools
equal what a call without them gives, key order included, whatever pool
objects repeat across hosts."""

import unittest

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregate_pci.admin import inventory
from aggregate_pci.admin.interned import ByIdentity

#: Pool objects hosts repeat (readers share equal pools), with values a
#: set-of-items key would confuse (True == 1) and two key orders.
OBJECTS = [
    {"vendor_id": "10de", "product_id": "1db4", "address": "a", "count": 1},
    {"vendor_id": "10de", "product_id": "1db4", "address": "a", "count": 2},
    {"product_id": "1db4", "vendor_id": "10de", "address": "a", "count": 1},
    {"vendor_id": "10de", "product_id": "1db4", "address": "b", "count": 0},
    {"vendor_id": "10de", "product_id": "1db4", "numa_node": 1, "count": 1},
    {"vendor_id": "10de", "product_id": "1db4", "numa_node": True, "count": 1},
    {"vendor_id": "10de", "product_id": "1eb8", "address": "a", "count": 3},
]
HOSTS = st.lists(
    st.tuples(
        st.lists(st.sampled_from(range(len(OBJECTS))), max_size=4),
        st.lists(st.sampled_from(range(len(OBJECTS))), max_size=4),
    ),
    min_size=1,
    max_size=6,
)


def items(pools):
    return [list(p.items()) for p in pools]


class MergePoolsMemoTest(unittest.TestCase):
    @settings(max_examples=300)
    @given(HOSTS)
    def test_memos_over_a_read_change_nothing(self, hosts):
        shared, known = {}, ByIdentity()
        for free, used in hosts:
            free = [OBJECTS[i] for i in free]
            used = [OBJECTS[i] for i in used]
            plain = inventory.merge_pools(free, used)
            memo = inventory.merge_pools(free, used, shared, known)
            self.assertEqual(items(plain), items(memo))
            # equal results are one object (numa_node True and 1 are not equal)
            again = inventory.merge_pools(free, used, shared, known)
            self.assertTrue(all(a is b for a, b in zip(memo, again, strict=True)))

    def test_a_pool_object_merged_again_after_another_takes_its_id(self):
        known = ByIdentity()
        first = {"vendor_id": "10de", "product_id": "1db4", "count": 1}
        inventory.merge_pools([first], [], None, known)
        del first  # its id may now name another dict: known holds it
        second = {"vendor_id": "10de", "product_id": "1eb8", "count": 2}
        merged = inventory.merge_pools([second], [], None, known)
        self.assertEqual(
            [{"vendor_id": "10de", "product_id": "1eb8", "count": 2, "used": 0}], merged
        )
