"""Property-based tests of aggregate_pci.matching (hypothesis): feasibility
and capacity against brute force (the reference)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregate_pci import codec, matching
from tests import reference
from tests.fixtures import host_by_host as capacity

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
