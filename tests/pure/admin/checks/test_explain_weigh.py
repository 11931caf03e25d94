"""``explain``'s weights (admin/checks/explain_weigh.py): the weigher's score
of each passing host, the rank it makes, the multiplier Nova would use,
and the devices taken offline."""

import math

from aggregate_pci.admin.checks import explain as ex
from aggregate_pci.admin.checks import explain_weigh as ew
from aggregate_pci.admin.models import Aggregate

T4 = '{"product_id":"1eb8","vendor_id":"10de"}'
V100 = '{"product_id":"1db4","vendor_id":"10de"}'
A100 = '{"product_id":"20b5","vendor_id":"10de"}'
ANY = "[%s,%s,%s]" % (T4, V100, A100)
FLAVORS = [
    {"name": "g.any", "extra_specs": {"pci_passthrough:alias": "any-gpu:1"}},
    {"name": "g.a100", "extra_specs": {"pci_passthrough:alias": "a100:1"}},
    {"name": "g.v100", "extra_specs": {"pci_passthrough:alias": "v100:1"}},
    {"name": "plain", "extra_specs": {}},
]
ALIASES = ew.flavor_alias_values(FLAVORS)


def pool(product, count=1, address="0000:81:00.0"):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "address": address,
        "count": count,
        "used": 0,
    }


def agg(name, hosts, metadata):
    return Aggregate(1, name, "uuid-" + name, tuple(hosts), metadata)


GPUS = {"pci_flavor:any-gpu": ANY, "pci_flavor:a100": A100, "pci_flavor:v100": V100}
AGGS = [agg("gpus", ["t4", "a100", "v100"], GPUS)]
HOSTS = {
    "t4": [pool("1eb8", 2)],
    "a100": [pool("20b5", 2)],
    "v100": [pool("1db4", 2)],
}


def weigh(requests, aggs=AGGS, hosts=HOSTS, aliases=ALIASES, **kw):
    return ew.weigh_hosts(aggs, hosts, sorted(hosts), requests, aliases, **kw)


def test_generic_request_ranks_the_host_no_narrow_flavor_needs_first():
    w = weigh(ex.requests_from({"any-gpu": 1}))
    assert w.types == ("any-gpu:1", "a100:1", "v100:1")
    assert {h: x.rank for h, x in w.hosts.items()} == {"t4": 1, "a100": 2, "v100": 2}
    # Nova normalizes -cost to 0..1 and multiplies by the option's default 10
    assert w.hosts["t4"].weight == 10.0
    assert w.hosts["a100"].weight == 0.0
    # any-gpu loses 1 of 6 everywhere; a100 1 of the 2 A100s left
    assert math.isclose(w.hosts["t4"].cost, 1 / 6)
    assert math.isclose(w.hosts["a100"].cost, 1 / 6 + 1 / 2)
    assert w.hosts["a100"].losses == (
        ew.Loss("any-gpu:1", 2, 1, 6),
        ew.Loss("a100:1", 2, 1, 2),
    )
    assert (
        w.hosts["a100"].cost_text()
        == "any-gpu:1 -1 (6 among candidates); a100:1 -1 (2 among candidates)"
    )


def test_scarcity_decides_between_two_narrow_hosts():
    # 1 A100 left against 3 V100s: the V100 host is cheaper for any-gpu
    hosts = {"a100": [pool("20b5", 1)], "v100": [pool("1db4", 3)]}
    w = weigh(ex.requests_from({"any-gpu": 1}), hosts=hosts)
    assert (w.hosts["v100"].rank, w.hosts["a100"].rank) == (1, 2)


def test_uncontested_request_gives_every_host_the_same_rank():
    w = weigh(ex.requests_from({"a100": 1}), hosts={"a1": HOSTS["a100"]})
    assert w.hosts["a1"].rank == 1
    assert w.hosts["a1"].weight == 0.0
    assert ew.weigh.normalized([-0.5, -0.5]) == [0.0, 0.0]


def test_neutral_where_the_weigher_is():
    assert weigh(ex.requests_from({"other": 1})) is None
    assert weigh(ex.requests_from({"any-gpu": 1}), aliases=[]) is None
    assert (
        ew.weigh_hosts(AGGS, HOSTS, [], ex.requests_from({"a100": 1}), ALIASES) is None
    )


def test_offline_claim_is_greedy_in_pool_order_within_the_definition():
    # an A100 pool first, then a T4: any-gpu takes the A100, a narrow
    # t4-only definition skips it
    meta = dict(GPUS, **{"pci_flavor:t4-only": T4})
    aggs = [agg("gpus", ["mixed"], meta)]
    pools = [pool("20b5", 1), pool("1eb8", 1, "0000:82:00.0")]
    cache = ew.host_view.DefinitionCache(16)
    plan = ew.request.plan_request(
        ex.requests_from({"any-gpu": 1}), lambda: ex.managed_names(aggs), False
    )
    assert ew.modelled_claim(aggs, pools, plan, cache) == {id(pools[0]): 1}
    plan = ew.request.plan_request(
        ex.requests_from({"t4-only": 1}), lambda: ex.managed_names(aggs), False
    )
    assert ew.modelled_claim(aggs, pools, plan, cache) == {id(pools[1]): 1}


def test_given_claim_replaces_the_model():
    # Nova's replay (online) says the claim takes the A100 on host "t4"
    nova_pools = [pool("20b5", 1), pool("1eb8", 1, "0000:82:00.0")]
    taken = {"t4": lambda: (nova_pools, {id(nova_pools[0]): 1})}
    w = weigh(ex.requests_from({"any-gpu": 1}), taken=taken)
    # the A100 it takes is 1 of the 3 a100 can still have
    assert ew.Loss("a100:1", 1, 0, 3) in w.hosts["t4"].losses


def test_aggregate_multiplier_overrides_the_option():
    keyed = dict(GPUS, aggregate_pci_weight_multiplier="2.5")
    aggs = [agg("gpus", ["t4", "a100", "v100"], GPUS), agg("pilot", ["t4"], keyed)]
    w = weigh(ex.requests_from({"any-gpu": 1}), aggs=aggs, default_multiplier=0.0)
    assert (w.hosts["t4"].multiplier, w.hosts["t4"].multiplier_from) == (
        2.5,
        "aggregate pilot",
    )
    assert (w.hosts["t4"].weight, w.hosts["t4"].rank) == (2.5, 1)
    assert (w.hosts["a100"].multiplier, w.hosts["a100"].multiplier_from) == (
        0.0,
        "option",
    )


def test_multiplier_rules_follow_nova_and_the_weigher():
    key = "aggregate_pci_weight_multiplier"

    def mult(*values):
        aggs = [agg("a%d" % i, ["h"], {key: v}) for i, v in enumerate(values)]
        return ew.host_multiplier(aggs, 10.0)

    assert mult() == (10.0, "option")
    assert mult("3", "1") == (1.0, "aggregate a1")  # the smallest
    assert mult("3", "abc") == (10.0, "option (%s: a value is no number)" % key)
    for bad in ("inf", "-inf", "nan"):
        assert mult(bad) == (10.0, "option (%s: not finite)" % key)
