"""``inventory_write.dumps`` writes exactly what
``json.dumps(doc, indent=1, sort_keys=True)`` writes (``inventory export``
output must not change)."""

import json

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
