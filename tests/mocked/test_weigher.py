"""AggregatePciWeigher's Nova side with Nova's own pool objects: the
devices taken (greedy claim, Placement mapping), the filter's memo reused,
errors giving weight 0."""

import gc
import logging
import math
import uuid
from types import SimpleNamespace as NS

import pytest
from nova import objects
from nova.pci import stats as pci_stats
from nova.scheduler import weights as nova_weights

from aggregate_pci import codec
from aggregate_pci import filter as agg_filter
from aggregate_pci import weigher as agg_weigher

objects.register_all()

T4 = {"vendor_id": "10de", "product_id": "1eb8"}
A100 = {"vendor_id": "10de", "product_id": "20b5"}
ANY = codec.encode(codec.definition_from_json([T4, A100]))
ONLY_A100 = codec.encode(codec.definition_from_json(A100))
METADATA = {"pci_flavor:any-gpu": ANY, "pci_flavor:a100": ONLY_A100}


def host(name, *models, aggregate=None):
    """A host whose GPUs are ``models`` (T4 or A100 dicts), one pool each
    (resource provider ``NAME-rpI``), in one aggregate defining both."""
    pools = [
        objects.PciDevicePool(
            vendor_id=m["vendor_id"],
            product_id=m["product_id"],
            numa_node=0,
            count=1,
            tags={
                "dev_type": "type-PCI",
                "address": "0000:%02x:00.0" % (0x81 + i),
                "rp_uuid": "%s-rp%d" % (name, i),
            },
        )
        for i, m in enumerate(models)
    ]
    agg = aggregate or NS(name="gpus", uuid="gpus", metadata=METADATA)
    return NS(
        host=name,
        nodename=name,
        aggregates=[agg],
        pci_stats=pci_stats.PciDeviceStats(
            None, stats=objects.PciDevicePoolList(objects=pools)
        ),
        allocation_candidates=[],
    )


def spec(request="any-gpu:1"):
    name, _, count = request.partition(":")
    models = [T4, A100] if name == "any-gpu" else [A100]
    req = objects.InstancePCIRequest(
        count=int(count),
        alias_name=name,
        spec=[dict(m) for m in models],
        request_id=str(uuid.uuid4()),
    )
    return objects.RequestSpec(
        numa_topology=None,
        pci_requests=objects.InstancePCIRequests(requests=[req]),
        scheduler_hints={},
    )


@pytest.fixture
def cloud(monkeypatch):
    monkeypatch.setattr(
        agg_filter, "managed_flavor_names", lambda ctx: {"any-gpu", "a100"}
    )
    monkeypatch.setattr(
        agg_weigher, "flavor_alias_requests", lambda ctx: ["any-gpu:1", "a100:1"]
    )


def weights(weigher, hosts, spec_obj):
    return weigher.weigh_objects(
        [nova_weights.WeighedHost(h, 0.0) for h in hosts], spec_obj
    )


def test_greedy_claim_decides_the_cost(cloud):
    # Nova's claim takes the first pool its spec matches: the A100 on
    # "a100-first", the T4 on "t4-first".
    hosts = [host("a100-first", A100, T4), host("t4-first", T4, A100)]
    got = weights(agg_weigher.AggregatePciWeigher(), hosts, spec())
    # any-gpu loses 1 of 4 on both; a100 loses 1 of 2 on the first.
    assert got == [-(1 / 4 + 1 / 2), -1 / 4]


def test_placement_mapping_decides_the_cost(cloud):
    # With PCI in Placement the first allocation candidate names the
    # device: the T4 (rp1) on the host whose greedy claim takes the A100.
    s = spec()
    group = s.pci_requests.requests[0].request_id + "-0"
    hosts = [host("a100-first", A100, T4), host("t4-first", T4, A100)]
    hosts[0].allocation_candidates = [{"mappings": {group: ["a100-first-rp1"]}}]
    hosts[1].allocation_candidates = [{"mappings": {group: ["t4-first-rp1"]}}]
    greedy = [-(1 / 4 + 1 / 2), -1 / 4]
    # PCI in Placement off (the default): Nova maps no PCI group, the
    # weigher replays the greedy claim without reading the candidates.
    assert weights(agg_weigher.AggregatePciWeigher(), hosts, s) == greedy
    agg_weigher.CONF.set_override("pci_in_placement", True, "filter_scheduler")
    try:
        got = weights(agg_weigher.AggregatePciWeigher(), hosts, s)
    finally:
        agg_weigher.CONF.clear_override("pci_in_placement", "filter_scheduler")
    assert got == [-1 / 4, -(1 / 4 + 1 / 2)]


def test_the_filters_memo_is_reused_and_dropped_with_the_request(cloud):
    hosts = [host("h%d" % i, *([A100, T4] if i % 2 else [T4, A100])) for i in range(6)]
    s = spec()
    passed = list(agg_filter.AggregatePciFilter().filter_all(hosts, s))
    memo = agg_filter.request_memo(s)
    assert memo is not None and memo.signatures  # the filter's signatures
    weigher = agg_weigher.AggregatePciWeigher()
    shared = weights(weigher, passed, s)
    assert memo.replays  # the weigher's claim replays went into it
    fresh = spec()
    assert agg_filter.request_memo(fresh) is None
    assert weights(weigher, hosts, fresh) == shared
    del s, memo
    gc.collect()
    assert len(agg_filter._MEMOS) == 0


def test_the_filters_read_of_the_managed_names_is_reused(cloud, monkeypatch):
    # One API-database query per request for the managed PCI flavor names:
    # the filter's, kept in its memo for the weigher.
    calls = []

    def managed(ctx):
        calls.append(ctx)
        return {"any-gpu", "a100"}

    monkeypatch.setattr(agg_filter, "managed_flavor_names", managed)
    hosts = [host("h%d" % i, A100, T4) for i in range(3)]
    s = spec()
    passed = list(agg_filter.AggregatePciFilter().filter_all(hosts, s))
    assert len(passed) == 3 and len(calls) == 1
    weigher = agg_weigher.AggregatePciWeigher()
    shared = weights(weigher, passed, s)
    assert len(calls) == 1
    # Without the filter's memo the weigher reads them itself, same weights.
    assert weights(weigher, passed, spec()) == shared
    assert len(calls) == 2


def test_requests_without_pci_or_unmanaged_are_neutral(cloud):
    hosts = [host("a", A100), host("b", T4)]
    weigher = agg_weigher.AggregatePciWeigher()
    no_pci = objects.RequestSpec(pci_requests=objects.InstancePCIRequests(requests=[]))
    assert weights(weigher, hosts, no_pci) == [0.0, 0.0]
    assert weights(weigher, hosts, spec("other:1")) == [0.0, 0.0]


def test_an_error_gives_every_host_zero(cloud, monkeypatch, caplog):
    def boom(ctx):
        raise RuntimeError("API database unreachable")

    monkeypatch.setattr(agg_weigher, "flavor_alias_requests", boom)
    hosts = [host("a", A100), host("b", T4)]
    assert weights(agg_weigher.AggregatePciWeigher(), hosts, spec()) == [0.0, 0.0]
    assert "AggregatePciWeigher gives every host weight 0" in caplog.text


def test_explain_weighs_as_the_weigher_and_novas_handler(cloud, monkeypatch):
    """``explain``'s online inputs (Nova's claim replay, nova_explain) and
    weights (explain_weigh) equal the weigher's, and Nova's handler's
    normalized, multiplied weights, a per-aggregate multiplier included."""
    from aggregate_pci.admin.checks import explain_weigh
    from aggregate_pci.admin.nova_io import nova_explain

    names = ["a100-first", "t4-first", "a100-only", "t4-only"]
    gpus = NS(name="gpus", uuid="gpus", hosts=names, metadata=METADATA)
    pilot = NS(name="pilot", uuid="pilot", hosts=["t4-only"], metadata={})
    pilot.metadata[agg_weigher.MULTIPLIER_KEY] = "4"
    models = [(A100, T4), (T4, A100), (A100,), (T4,)]
    hosts = [host(n, *m, aggregate=gpus) for n, m in zip(names, models, strict=True)]
    hosts[3].aggregates.append(pilot)
    s = spec()
    monkeypatch.setattr(
        nova_explain,
        "pci_stats_by_host",
        lambda nodes: {h.host: h.pci_stats for h in hosts},
    )
    monkeypatch.setattr(
        nova_explain, "pci_requests_of", lambda alias: list(s.pci_requests.requests)
    )
    given = nova_explain.explain_inputs({}, "any-gpu:1")
    pools = {h.host: [dict(p) for p in h.pci_stats.pools] for h in hosts}
    got = explain_weigh.weigh_hosts(
        [gpus, pilot],
        pools,
        names,
        given.requests,
        ["any-gpu:1", "a100:1"],
        default_multiplier=given.weight_multiplier,
        taken=given.taken,
    )
    weigher = agg_weigher.AggregatePciWeigher()
    assert [-got.hosts[n].cost for n in names] == weights(weigher, hosts, s)
    handled = nova_weights.HostWeightHandler().get_weighed_objects([weigher], hosts, s)
    assert {w.obj.host: w.weight for w in handled} == {
        n: got.hosts[n].weight for n in names
    }
    # the two T4 takers cost the same; the pilot's multiplier 4 ranks
    # t4-only below t4-first (10), above the A100 takers (0)
    assert (got.hosts["t4-only"].weight, got.hosts["t4-only"].multiplier_from) == (
        4.0,
        "aggregate pilot",
    )
    ranks = {n: got.hosts[n].rank for n in names}
    assert ranks == {"t4-first": 1, "t4-only": 2, "a100-first": 3, "a100-only": 3}
    assert handled[0].obj.host == "t4-first"


@pytest.mark.parametrize(
    "values",
    [(), ("3", "1"), ("0",), ("-2.5", "7"), ("abc",), ("3", "abc")],
)
def test_multiplier_rule_is_novas_get_weight_multiplier(values):
    """The one multiplier rule (weigh.host_multiplier: the weigher's and
    explain's) gives what Nova's own helper gives on Nova's aggregates."""
    from nova.scheduler import utils as scheduler_utils

    from aggregate_pci.scheduler import weigh

    key = weigh.MULTIPLIER_KEY
    aggs = [
        objects.Aggregate(name="a%d" % i, metadata={key: v})
        for i, v in enumerate(values)
    ]
    host_state = NS(host="h", aggregates=aggs)
    expected = scheduler_utils.get_weight_multiplier(host_state, key, 10.0)
    assert weigh.host_multiplier(aggs, 10.0).value == expected
    assert agg_weigher.AggregatePciWeigher().weight_multiplier(host_state) == expected


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_multiplier_rule_drops_what_nova_keeps_not_finite(value, caplog):
    """Where the rule departs from Nova's helper on purpose: a value that is
    not finite, which Nova would multiply by, falls back to the option, and
    the weigher says so naming the key and the host."""
    from nova.scheduler import utils as scheduler_utils

    from aggregate_pci.scheduler import weigh

    key = weigh.MULTIPLIER_KEY
    host_state = NS(host="h1", aggregates=[NS(name="a", metadata={key: value})])
    nova_value = scheduler_utils.get_weight_multiplier(host_state, key, 10.0)
    assert not math.isfinite(nova_value)
    assert weigh.host_multiplier(host_state.aggregates, 10.0) == (
        10.0,
        (),
        "not finite",
    )
    caplog.set_level(logging.WARNING)
    assert agg_weigher.AggregatePciWeigher().weight_multiplier(host_state) == 10.0
    assert "ignoring %s on the aggregates of host h1: not finite" % key in caplog.text


@pytest.mark.parametrize(
    "values", [[], [3.0], [-1.0, -1.0], [-0.5, 0.0, -0.25], [0.1, 0.7, 0.3, 1e-9]]
)
def test_normalization_is_novas(values):
    """weigh.normalized (explain's model of Nova's handler) is Nova's
    weights.normalize, float for float."""
    from nova import weights as nova_base_weights

    from aggregate_pci.scheduler import weigh

    assert weigh.normalized(values) == list(nova_base_weights.normalize(values))
