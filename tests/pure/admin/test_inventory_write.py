"""``inventory_write.dumps`` writes exactly what
``json.dumps(doc, indent=1, sort_keys=True)`` writes (``inventory export``
output must not change)."""

import io
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregate_pci.admin import inventory_write
from tests.fixtures.inventory_docs import ALLOCATION

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(DOCS)
def test_same_text_as_json_dumps(doc):
    assert inventory_write.dumps(doc) == json.dumps(doc, indent=1, sort_keys=True)


def test_an_inventory_document():
    doc = {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": [{"name": "gpu", "hosts": ["c1", "c2"], "metadata": {}}],
        "hosts": {
            "c2": [],
            "c1": [{"vendor_id": "10de", "count": 1, "used": 0, "numa_node": None}],
        },
        "allocations": [ALLOCATION],
        "nova_flavors": [],
    }
    assert inventory_write.dumps(doc) == json.dumps(doc, indent=1, sort_keys=True)


@settings(max_examples=200, deadline=None)
@given(DOCS, DOCS, st.integers(min_value=1, max_value=4))
def test_streamed_shared_and_lazy_are_the_same_text(doc, part, flush_parts):
    # one dict object in several places and levels, a lazy list, small flushes
    pool = {"vendor_id": "10de", "count": 1, "tags": {"a": "b"}}
    whole = {"x": [pool, {"y": pool}], "z": part, "w": doc, "v": [pool]}
    lazy = dict(whole, v=inventory_write.LazyList([1], lambda _: pool))
    want = json.dumps(whole, indent=1, sort_keys=True)
    assert inventory_write.dumps(whole) == want
    assert inventory_write.dumps(lazy) == want
    out = io.StringIO()
    old = inventory_write.FLUSH_PARTS
    inventory_write.FLUSH_PARTS = flush_parts
    try:
        inventory_write.dump(lazy, out)
    finally:
        inventory_write.FLUSH_PARTS = old
    assert out.getvalue() == want


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "inv.json"
    inventory_write.write_file({"a": 1}, str(path))
    assert path.read_text() == json.dumps({"a": 1}, indent=1) + "\n"

    def boom(_):
        raise RuntimeError("interrupted")

    doc = {"a": [1], "b": inventory_write.LazyList(range(3), boom)}
    with pytest.raises(RuntimeError):
        inventory_write.write_file(doc, str(path))
    assert path.read_text() == json.dumps({"a": 1}, indent=1) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["inv.json"]


def test_a_device_path_is_written_in_place_not_replaced():
    inventory_write.write_file({"a": 1}, os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
