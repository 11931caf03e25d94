"""aggregate_pci.admin.models: a host's effective definitions, ORed across
its aggregates."""

from aggregate_pci import codec
from aggregate_pci.admin.models import effective_definitions

GPU = codec.parse_value('{"vendor_id":"10de","product_id":"20b5"}')
NV = codec.parse_value(
    '[{"vendor_id":"10de","product_id":"20b5"},'
    '{"vendor_id":"10de","product_id":"1db4"}]'
)
T4 = codec.parse_value('{"vendor_id":"10de","product_id":"1db4"}')


def test_effective_definitions_or_across_aggregates():
    eff = effective_definitions([{"gpu": GPU}, {"gpu": T4, "nv": NV}])
    assert eff["gpu"] == GPU.union(T4)
    assert eff["nv"] == NV
