"""aggregate_pci.admin.nova_io.pci_stats_column (issue 21): the free pools
of ``pci_stats`` texts, each distinct pool text decoded once per decoder,
must equal what Nova's objects read from every text, whatever the decoder
saw before, including texts that do not split at Nova's pool marker."""

import json
import unittest
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nova import objects
from nova.objects import pci_device_pool
from oslo_serialization import jsonutils

from aggregate_pci.admin.nova_io import pci_stats_column

objects.register_all()

MARK = pci_stats_column._POOL_MARK
TAG_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["physnet1", "type-PCI", "0000:81:00.0", MARK, '"}, {"', "]}"]),
    st.text(max_size=6),
)
POOLS = st.builds(
    dict,
    product_id=st.sampled_from(["1db4", "1eb8"]),
    vendor_id=st.just("10de"),
    numa_node=st.sampled_from([None, 0, 1]),
    tags=st.dictionaries(
        st.sampled_from(["dev_type", "address", "physical_network", MARK]),
        TAG_VALUES,
        max_size=3,
    ),
    count=st.integers(0, 3),
)


def text_of(pools):
    """``pci_stats`` as Nova's compute writes it."""
    pool_list = objects.PciDevicePoolList(
        objects=[objects.PciDevicePool(**p) for p in pools]
    )
    return jsonutils.dumps(pool_list.obj_to_primitive())


def nova_reads(text):
    """What Nova's objects read, key order included (or the error)."""
    try:
        return [list(p.to_dict().items()) for p in pci_device_pool.from_pci_stats(text)]
    except Exception as exc:  # Nova refuses some shapes: so must the decoder
        return type(exc)


def decoder_reads(decode, text):
    try:
        return [list(p.items()) for p in decode(text)]
    except Exception as exc:
        return type(exc)


class PoolsDecoderTest(unittest.TestCase):
    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.lists(POOLS, max_size=4), min_size=1, max_size=4))
    def test_one_decoder_reads_every_text_as_nova_does(self, fleet):
        decode = pci_stats_column.PoolsDecoder()
        texts = [text_of(pools) for pools in fleet]
        for text in texts + texts[::-1]:  # the second pass reads from the memo
            self.assertEqual(nova_reads(text), decoder_reads(decode, text))

    def test_a_pool_in_the_middle_of_one_text_and_last_of_another(self):
        a = dict(product_id="1db4", vendor_id="10de", numa_node=0, tags={}, count=1)
        b = dict(a, count=2)
        decode = pci_stats_column.PoolsDecoder()
        for pools in ([a, b], [b, a], [a], [a, a], [b, a, b]):
            text = text_of(pools)
            self.assertEqual(nova_reads(text), decoder_reads(decode, text))

    def test_equal_pools_of_different_texts_are_one_dict(self):
        a = dict(product_id="1db4", vendor_id="10de", numa_node=0, tags={}, count=1)
        decode = pci_stats_column.PoolsDecoder()
        first = decode(text_of([a, dict(a, count=2)]))
        second = decode(text_of([dict(a, numa_node=1), a]))
        self.assertIs(first[0], second[1])
        self.assertEqual({**first[0], "count": 2}, first[1])

    def test_texts_that_do_not_split_into_whole_pools(self):
        a = dict(product_id="1db4", vendor_id="10de", numa_node=0, tags={}, count=1)
        primitive = objects.PciDevicePoolList(
            objects=[objects.PciDevicePool(**a), objects.PciDevicePool(**a)]
        ).obj_to_primitive()
        item = json.dumps(primitive["nova_object.data"]["objects"][0])
        head = json.dumps(primitive)[: json.dumps(primitive).index(MARK)]
        texts = [
            json.dumps(primitive, separators=(",", ":")),  # compact
            json.dumps(primitive, indent=1),  # not ", " between pools
            # the pools in the changes list, not in objects (Nova refuses it)
            head.replace('"objects": [', '"objects": []}, "nova_object.changes": [')
            + item
            + ", "
            + item
            + "]}",
            # a pool whose tag value is an object starting like a pool
            json.dumps(primitive).replace('"tags": {}', '"tags": {"x": %s}' % item, 1),
            # an extra key in the list's data
            json.dumps(primitive).replace('{"objects": [', '{"x": 1, "objects": [', 1),
            # cut after a pool's ", ": its last piece is a middle piece's text
            head + item + ", " + item + ", ",
            "",
            "[]",
            json.dumps([dict(a, dev_type="type-PCI")]),  # the legacy list of dicts
        ]
        decode = pci_stats_column.PoolsDecoder()
        decode(json.dumps(primitive))  # its pools are in the memo
        for text in texts:
            with self.subTest(text=text[:80]):
                self.assertEqual(nova_reads(text), decoder_reads(decode, text))

    def test_memo_restarts_past_its_limit_and_still_reads_right(self):
        decode = pci_stats_column.PoolsDecoder()
        with mock.patch.object(pci_stats_column, "MEMO_LIMIT", 1):
            for count in range(5):
                pools = [
                    dict(product_id="1db4", vendor_id="10de", numa_node=n,
                         tags={}, count=count)
                    for n in (0, 1)
                ]  # fmt: skip
                text = text_of(pools)
                self.assertEqual(nova_reads(text), decoder_reads(decode, text))
                self.assertLessEqual(max(map(len, decode._memos)), 2)
