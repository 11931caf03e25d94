"""Property-based tests of the codec and the matching core (hypothesis)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregate_pci import codec, matching
from aggregate_pci.codec import PciFlavorError
from tests import reference
from tests.fixtures import host_by_host as capacity

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


@given(st.text(max_size=80))
def test_arbitrary_names_are_valid_or_refused(name):
    try:
        key = codec.make_key(name)
    except PciFlavorError:
        return
    assert codec.name_from_key(key) == name
    assert len(key) <= codec.MAX_KEY_LENGTH


# -- feasibility and capacity against brute force --------------------------

PRODUCTS = ["0001", "0002", "0003"]
pool_st = st.fixed_dictionaries(
    {
        "vendor_id": st.just("10de"),
        "product_id": st.sampled_from(PRODUCTS),
        "dev_type": st.sampled_from(["type-PCI", "type-VF"]),
        "count": st.integers(0, 3),
        "address": st.sampled_from(["0000:81:00.0", "0000:82:00.0"]),
    }
)
small_match = st.fixed_dictionaries(
    {"vendor_id": st.just("10de"), "product_id": st.sampled_from(PRODUCTS)},
    optional={
        "device_type": st.sampled_from(["type-PCI", "type-VF"]),
        "address": st.sampled_from(["0000:81:*", "0000:8?:00.0"]),
    },
)
small_def = st.lists(small_match, min_size=1, max_size=3).map(
    lambda objs: codec.definition_from_json(objs)
)
request_st = st.lists(st.tuples(small_def, st.integers(0, 3)), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(pool_st, max_size=4), request_st)
def test_feasible_agrees_with_brute_force(pools, requests):
    reqs = [(matching.compile_definition(d), c) for d, c in requests]
    if sum(c for _, c in reqs) > 8:
        return
    assert matching.feasible(pools, reqs) == reference.feasible(pools, reqs)


@settings(max_examples=150, deadline=None)
@given(st.lists(pool_st, max_size=4), request_st)
def test_max_flow_agrees_with_brute_force(pools, requests):
    reqs = [(matching.compile_definition(d), c) for d, c in requests]
    if sum(c for _, c in reqs) > 8:
        return
    supply = matching.group_supply(pools, [p for p, _ in reqs])
    demands = [c for _, c in reqs]
    flow_ok = matching._max_flow(supply, demands) == sum(demands)
    assert flow_ok == reference.feasible(pools, reqs)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(pool_st, max_size=3),
    st.lists(st.tuples(small_def, st.integers(1, 2)), min_size=1, max_size=2),
)
def test_instances_fit_agrees_with_brute_force(pools, requests):
    if sum(p["count"] for p in pools) > 7:
        return
    defs = {"f%d" % i: d for i, (d, _) in enumerate(requests)}
    want = {"f%d" % i: c for i, (_, c) in enumerate(requests)}
    reqs = [(matching.compile_definition(defs[n]), want[n]) for n in sorted(want)]
    assert capacity.instances_fit(pools, defs, want) == reference.max_instances(
        pools, reqs
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(pool_st, max_size=4), small_def)
def test_free_by_flavor_agrees_with_brute_force(pools, definition):
    pred = matching.compile_definition(definition)
    expected = sum(1 for i in reference.devices(pools) if pred(pools[i]))
    assert capacity.free_by_flavor(pools, {"x": definition}) == {"x": expected}
