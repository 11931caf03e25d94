"""The overlap-aware weigher's score on plain objects, and against the
independent reference's exhaustive capacity (tests/reference)."""

import types

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregate_pci import codec, matching
from aggregate_pci.scheduler import weigh
from aggregate_pci.scheduler.host_view import DefinitionCache
from tests import reference

T4 = {"vendor_id": "10de", "product_id": "1eb8"}
V100 = {"vendor_id": "10de", "product_id": "1db4"}
A100 = {"vendor_id": "10de", "product_id": "20b5"}
MODELS = {"t4": T4, "v100": V100, "a100": A100}
#: PCI flavor -> models its definition matches.
FLAVORS = {"any-gpu": ("t4", "v100", "a100"), "v100": ("v100",), "a100": ("a100",)}


def value(models):
    docs = [MODELS[m] for m in models]
    return codec.encode(codec.definition_from_json(docs[0] if len(docs) == 1 else docs))


def aggregate(name, flavors):
    metadata = {codec.make_key(f): value(FLAVORS[f]) for f in flavors}
    return types.SimpleNamespace(name=name, uuid=name, metadata=metadata)


AGG = aggregate("all", FLAVORS)


def pool(model, count=1, slot=0):
    return dict(
        MODELS[model], dev_type="type-PCI", address="0000:%02x:00.0" % slot, count=count
    )


def cache():
    return DefinitionCache(64)


TYPES = weigh.request_types(["any-gpu:1", "v100:1", "a100:1"], FLAVORS)


def test_request_types_managed_distinct_and_sane():
    got = weigh.request_types(
        [
            "a100:1,any-gpu:2",
            "any-gpu:2,a100:1",
            "v100:1,unmanaged:1",
            "bad:x",
            "",
            "t4:1",
        ],
        FLAVORS,
    )
    assert got == ((("a100", 1), ("any-gpu", 2)), (("v100", 1),))


def test_generic_request_takes_the_device_nobody_else_needs():
    # any-gpu would take a T4 on host 0, an A100 on host 1.
    t4_host = [pool("t4")]
    a100_host = [pool("a100")]
    costs = weigh.placement_costs(
        [
            weigh.Candidate([AGG], t4_host, {id(t4_host[0]): 1}),
            weigh.Candidate([AGG], a100_host, {id(a100_host[0]): 1}),
        ],
        TYPES,
        cache(),
    )
    assert costs.left == (2, 0, 1)  # any-gpu, v100, a100 served by the candidates
    # any-gpu loses 1 of 2 on both; a100 loses its only instance on host 1.
    assert [h.cost for h in costs.hosts] == [0.5, 0.5 + 1.0]
    assert costs.hosts[1].losses == ((0, 1, 0), (2, 1, 0))


def test_scarcity_weighs_the_loss():
    # Host 0 takes a V100 (3 V100s among the candidates), host 1 an A100
    # (the only one): the A100 is scarcer, host 0 is preferred.
    h0 = [pool("v100", slot=1), pool("v100", slot=2), pool("v100", slot=3)]
    h1 = [pool("a100")]
    costs = weigh.placement_costs(
        [
            weigh.Candidate([AGG], h0, {id(h0[0]): 1}),
            weigh.Candidate([AGG], h1, {id(h1[0]): 1}),
        ],
        TYPES,
        cache(),
    )
    any_gpu, v100, a100 = costs.left
    assert (any_gpu, v100, a100) == (4, 3, 1)
    assert costs.hosts[0].cost == 1 / 4 + 1 / 3
    assert costs.hosts[1].cost == 1 / 4 + 1 / 1


def test_weights_scale_a_type():
    h = [pool("a100")]
    candidate = weigh.Candidate([AGG], h, {id(h[0]): 1})
    costs = weigh.placement_costs(
        [candidate], TYPES, cache(), weights={(("a100", 1),): 3.0}
    )
    assert costs.hosts[0].cost == 1.0 + 3.0


def test_host_outside_the_aggregates_serves_nothing_and_costs_nothing():
    h = [pool("a100")]
    stranger = types.SimpleNamespace(name="x", uuid="x", metadata={"other": "1"})
    costs = weigh.placement_costs(
        [weigh.Candidate([stranger], h, {id(h[0]): 1})], TYPES, cache()
    )
    assert costs.left == (0, 0, 0)
    assert costs.hosts[0].cost == 0.0


def test_alike_hosts_taking_different_devices_differ():
    h0 = [pool("t4", slot=1), pool("a100", slot=2)]
    h1 = [pool("t4", slot=1), pool("a100", slot=2)]
    costs = weigh.placement_costs(
        [
            weigh.Candidate([AGG], h0, {id(h0[0]): 1}),
            weigh.Candidate([AGG], h1, {id(h1[1]): 1}),
        ],
        TYPES,
        cache(),
        signatures=matching.SignatureCache(),
    )
    assert [h.cost for h in costs.hosts] == [1 / 4, 1 / 4 + 1 / 2]


def test_lazy_taken_is_computed_once_per_alike_hosts():
    calls = []
    hosts = [[pool("t4", slot=1), pool("a100", slot=2)] for _ in range(3)]
    hosts.append([pool("t4", slot=1), pool("a100", count=2, slot=2)])

    def claim(pools):
        def taken():
            calls.append(pools)
            return {id(pools[1]): 1}  # the A100

        return taken

    lazy = [weigh.Candidate([AGG], h, claim(h)) for h in hosts]
    eager = [weigh.Candidate([AGG], h, {id(h[1]): 1}) for h in hosts]
    got = weigh.placement_costs(
        lazy, TYPES, cache(), signatures=matching.SignatureCache()
    )
    assert got == weigh.placement_costs(
        eager, TYPES, cache(), signatures=matching.SignatureCache()
    )
    assert calls == [hosts[0], hosts[3]]  # one replay per alike hosts


def test_bad_definition_is_ignored():
    bad = types.SimpleNamespace(
        name="bad", uuid="bad", metadata={"pci_flavor:a100": "{"}
    )
    h = [pool("a100")]
    costs = weigh.placement_costs([weigh.Candidate([bad, AGG], h, {})], TYPES, cache())
    assert costs.left == (1, 0, 1)


# --- against a brute-force reference ----------------------------------------------

models = st.sampled_from(sorted(MODELS))
host_st = st.lists(st.tuples(models, st.integers(0, 2)), min_size=1, max_size=3)
aggs_st = st.lists(
    st.sampled_from(sorted(FLAVORS)), min_size=1, max_size=3, unique=True
)
type_st = st.lists(
    st.dictionaries(
        st.sampled_from(sorted(FLAVORS)), st.integers(1, 2), min_size=1, max_size=2
    ),
    min_size=1,
    max_size=3,
)


def reference_servable(pools, flavors, rtype):
    """Instances of ``rtype`` the host serves, by enumeration."""
    if any(name not in flavors for name, _ in rtype):
        return 0
    reqs = [
        (
            lambda p, ms=FLAVORS[name]: any(
                p["product_id"] == MODELS[m]["product_id"] for m in ms
            ),
            c,
        )
        for name, c in rtype
    ]
    return reference.max_instances(pools, reqs)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(host_st, aggs_st, st.data()), min_size=1, max_size=3), type_st
)
def test_costs_match_a_brute_force_reference(hosts, raw_types):
    rtypes = weigh.request_types(
        [",".join("%s:%d" % kv for kv in t.items()) for t in raw_types], FLAVORS
    )
    candidates = []
    refs = []
    # Hosts with the same flavors share the aggregate (as in Nova), so the
    # sharing between alike hosts is exercised.
    aggs = {}
    for devices, flavors, data in hosts:
        pools = [pool(m, c, slot=i) for i, (m, c) in enumerate(devices)]
        taken = {}
        for p in pools:
            took = data.draw(st.integers(0, p["count"]))
            if took:
                taken[id(p)] = took
        after = [dict(p, count=p["count"] - taken.get(id(p), 0)) for p in pools]
        agg = aggs.setdefault(tuple(sorted(flavors)), aggregate("a", flavors))
        candidates.append(weigh.Candidate([agg], pools, taken))
        refs.append(
            [
                (
                    reference_servable(pools, flavors, t),
                    reference_servable(after, flavors, t),
                )
                for t in rtypes
            ]
        )
    costs = weigh.placement_costs(
        candidates, rtypes, cache(), signatures=matching.SignatureCache()
    )
    left = [sum(ref[i][0] for ref in refs) for i in range(len(rtypes))]
    assert list(costs.left) == left
    for host, ref in zip(costs.hosts, refs, strict=True):
        want = sum(
            (b - a) / left[i] for i, (b, a) in enumerate(ref) if b > a and left[i]
        )
        assert abs(host.cost - want) < 1e-9
