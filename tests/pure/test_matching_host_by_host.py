"""Capacity per PCI flavor, per host and for sets of hosts, from
aggregate_pci.matching's primitives (tests/fixtures/host_by_host)."""

from aggregate_pci import codec
from tests.fixtures import host_by_host as capacity

GPU = codec.parse_value('{"vendor_id":"10de","product_id":"20b5"}')
NV = codec.parse_value(
    '[{"vendor_id":"10de","product_id":"20b5"},'
    '{"vendor_id":"10de","product_id":"1db4"}]'
)


def pool(product, count):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "count": count,
        "address": "0000:81:00.0",
    }


POOLS = [pool("20b5", 2), pool("1db4", 3)]


def test_free_by_flavor_counts_overlap_once_per_flavor():
    assert capacity.free_by_flavor(POOLS, {"gpu": GPU, "nv": NV}) == {"gpu": 2, "nv": 5}


def test_instances_fit_is_joint():
    defs = {"gpu": GPU, "nv": NV}
    assert capacity.instances_fit(POOLS, defs, {"gpu": 1, "nv": 1}) == 2
    assert capacity.instances_fit(POOLS, defs, {"nv": 2}) == 2
    assert capacity.instances_fit(POOLS, defs, {"gpu": 1, "nv": 0}) == 2
    assert capacity.instances_fit(POOLS, defs, {"other": 1}) == 0


def test_fleet():
    hosts = {
        "h1": (POOLS, {"gpu": GPU, "nv": NV}),
        "h2": ([pool("1db4", 4)], {"nv": NV}),
    }
    per_host, total = capacity.fleet_free_by_flavor(hosts)
    assert per_host == {"h1": {"gpu": 2, "nv": 5}, "h2": {"nv": 4}}
    assert total == {"gpu": 2, "nv": 9}
    per_host, total = capacity.fleet_instances_fit(hosts, {"nv": 2})
    assert per_host == {"h1": 2, "h2": 2} and total == 4
