"""The matching core: pool matching with Nova's semantics, exact feasibility."""

import pytest

from aggregate_pci import codec, matching
from aggregate_pci.matching import compile_definition, feasible, max_instances


def d(value):
    return compile_definition(codec.parse_value(value))


GPU_A = d('{"vendor_id":"10de","product_id":"20b5"}')
ANY_NV = d(
    '[{"vendor_id":"10de","product_id":"20b5"},'
    '{"vendor_id":"10de","product_id":"1db4"}]'
)


def pool(vendor="10de", product="20b5", count=1, **extra):
    p = {
        "vendor_id": vendor,
        "product_id": product,
        "dev_type": "type-PCI",
        "numa_node": 0,
        "count": count,
        "address": "0000:81:00.0",
    }
    p.update(extra)
    return p


def test_values_compare_case_insensitively_like_nova():
    assert GPU_A(pool(vendor="10DE", product="20B5"))
    assert d('{"vendor_id":"15b3","product_id":"101e","physical_network":"PhysNet2"}')(
        pool("15b3", "101e", physical_network="physnet2")
    )


def test_and_within_an_object():
    nic = d(
        '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF",'
        '"physical_network":"physnet2"}'
    )
    assert nic(pool("15b3", "101e", dev_type="type-VF", physical_network="physnet2"))
    assert not nic(
        pool("15b3", "101e", dev_type="type-PF", physical_network="physnet2")
    )
    assert not nic(
        pool("15b3", "101e", dev_type="type-VF", physical_network="physnet1")
    )
    assert not nic(pool("15b3", "101e", dev_type="type-VF"))


def test_or_across_objects():
    assert ANY_NV(pool(product="1db4"))
    assert ANY_NV(pool(product="20b5"))
    assert not ANY_NV(pool(product="2236"))


def test_address_glob():
    m = d('{"vendor_id":"10de","product_id":"20b5","address":"0000:81:*"}')
    assert m(pool(address="0000:81:00.0"))
    assert m(pool(address="0000:81:1F.7"))
    assert not m(pool(address="0000:82:00.0"))
    assert not m({k: v for k, v in pool().items() if k != "address"})
    exact = d('{"vendor_id":"10de","product_id":"20b5","address":"0000:81:00.[0-3]"}')
    assert exact(pool(address="0000:81:00.3"))
    assert not exact(pool(address="0000:81:00.4"))


def test_custom_tag_and_numa_policy_does_not_narrow():
    m = d(
        '{"vendor_id":"10de","product_id":"20b5","gpu_model":"a100",'
        '"numa_policy":"required"}'
    )
    assert m(pool(gpu_model="A100"))
    assert not m(pool(gpu_model="h100"))


def test_pool_matches_and_count_matching():
    definition = codec.parse_value('{"vendor_id":"10de","product_id":"20b5"}')
    pools = [
        pool(count=3),
        pool(product="1db4", count=2),
        pool(count=0),
        pool(count=-1),
    ]
    assert matching.pool_matches(pools[0], definition)
    assert matching.count_matching(pools, GPU_A) == 3
    assert matching.count_matching(pools, ANY_NV) == 5


def test_exact_where_nova_greedy_fails():
    # One 20b5 and one 1db4 device.  Request ANY_NV first, then GPU_A: a
    # greedy assignment in request order may give the 20b5 to ANY_NV and
    # then have nothing left for GPU_A.  An assignment exists.
    pools = [
        pool(product="20b5", address="0000:81:00.0"),
        pool(product="1db4", address="0000:82:00.0"),
    ]
    assert feasible(pools, [(ANY_NV, 1), (GPU_A, 1)])
    assert not feasible(pools, [(ANY_NV, 1), (GPU_A, 2)])
    assert not feasible(pools, [(ANY_NV, 2), (GPU_A, 1)])
    assert feasible(pools, [(ANY_NV, 2)])


def test_feasible_with_no_requests_and_zero_counts():
    assert feasible([], [])
    assert feasible([], [(GPU_A, 0)])
    assert not feasible([], [(GPU_A, 1)])


def test_max_flow_path_agrees_with_hall(monkeypatch):
    pools = [pool(product="20b5", count=2), pool(product="1db4", count=3)]
    reqs = [(ANY_NV, 1), (GPU_A, 2)] * 6  # 12 requests > HALL_LIMIT
    reqs = [(p, 0 if i >= 2 else c) for i, (p, c) in enumerate(reqs)]
    assert feasible(pools, reqs)
    monkeypatch.setattr(matching, "HALL_LIMIT", 0)
    assert feasible(pools, reqs)
    assert not feasible(pools, [(ANY_NV, 4), (GPU_A, 2)])


def test_max_instances():
    pools = [pool(product="20b5", count=4), pool(product="1db4", count=3)]
    assert max_instances(pools, [(GPU_A, 1), (ANY_NV, 1)]) == 3
    assert max_instances(pools, [(GPU_A, 2)]) == 2
    assert max_instances(pools, [(ANY_NV, 7)]) == 1
    with pytest.raises(ValueError):
        max_instances(pools, [(GPU_A, 0)])


def test_negative_demand_is_refused():
    with pytest.raises(ValueError):
        matching.supply_feasible({1: 1}, [-1])


def test_signature_cache_shares_one_signature_per_device_model():
    """Issue 21: alike pools of many hosts share one signature object and
    the cache keeps no container per pool (tens of thousands of them
    triggered full garbage collections within one scheduling request)."""
    import gc

    cache = matching.SignatureCache()
    pools = [
        {
            "vendor_id": "10de",
            "product_id": model,
            "address": "0000:81:00.0",
            "count": host % 3 + 1,
        }
        for host in range(500)
        for model in ("20b5", "1db4")
    ]
    gc.collect()
    tracked = len(gc.get_objects())
    sigs = [cache.get(pool) for pool in pools]
    assert len(cache) == len(pools)
    assert len({id(sig) for sig in sigs}) == 2
    assert sigs[0] == matching.pool_signature(pools[0])
    assert all(cache.get(pool) is sig for pool, sig in zip(pools, sigs, strict=True))
    # Two signatures and the cache's own containers, not one per pool.
    assert len(gc.get_objects()) - tracked < 50


def test_pool_mask_is_the_grouping_of_group_supply():
    preds = [
        lambda p: p["vendor_id"] == "10de",
        lambda p: p["product_id"] == "1db4",
        lambda p: False,
    ]
    t4 = {"vendor_id": "10de", "product_id": "1db4", "count": 2}
    other = {"vendor_id": "10de", "product_id": "20b5", "count": 3}
    none = {"vendor_id": "8086", "product_id": "1", "count": 4}
    assert [matching.pool_mask(p, preds) for p in (t4, other, none)] == [3, 1, 0]
    assert matching.group_supply([t4, other, none], preds) == {3: 2, 1: 3}
