"""Property-based tests of aggregate_pci.codec.value (hypothesis): round
trips, and any text or JSON either parses or raises our error (names:
test_keys.py)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from aggregate_pci import codec
from aggregate_pci.codec import PciFlavorError

hex4 = st.text("0123456789abcdefABCDEF", min_size=4, max_size=4)
tag_value = st.text(
    st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12
)
match_obj = st.fixed_dictionaries(
    {"vendor_id": hex4, "product_id": hex4},
    optional={
        "device_type": st.sampled_from(codec.DEVICE_TYPES),
        "numa_policy": st.sampled_from(codec.NUMA_POLICIES),
        "physical_network": tag_value,
        "gpu_model": tag_value,
        "address": st.sampled_from(["0000:81:*", "0000:8[12]:00.?", "*"]),
    },
)
definition_doc = st.one_of(match_obj, st.lists(match_obj, min_size=1, max_size=3))


@given(definition_doc)
def test_round_trip(doc):
    """parse -> serialise -> parse is the identity; serialisation is stable."""
    value = json.dumps(doc)
    try:
        first = codec.parse_value(value)
    except PciFlavorError as exc:  # only allowed reason: Nova's length limit
        assert "Nova stores at most 255" in exc.reason
        return
    text = first.serialize()
    again = codec.parse_value(text)
    assert again == first
    assert again.serialize() == text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_our_error(text):
    try:
        definition = codec.parse_value(text, key="pci_flavor:x", aggregate="a")
    except PciFlavorError as exc:
        assert exc.key == "pci_flavor:x" and exc.aggregate == "a"
    else:
        assert codec.parse_value(definition.serialize()) == definition


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | hex4,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "vendor_id",
                    "product_id",
                    "device_type",
                    "numa_policy",
                    "address",
                    "count",
                    "x y",
                    "tag",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=8,
)


@given(json_values)
def test_arbitrary_json_parses_or_raises_our_error(doc):
    try:
        codec.parse_value(json.dumps(doc))
    except PciFlavorError:
        pass
