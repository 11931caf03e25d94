"""The overlap-aware weigher on the real cloud (issue 18): enabled in the
cloud's nova.conf (``[filter_scheduler] weight_classes``: Nova's weighers
and ``aggregate_pci.weigher.AggregatePciWeigher``, its multiplier 10).

A contested fleet: PCI flavor ``gpu`` (A100 or T4, as its alias) on both
computes, ``a100`` on compute1 only.  A ``gpu`` instance costs ``a100`` a
device on compute1 and nothing on compute2 (whose A100 no ``a100`` scope
includes), so the weigher sends two ``gpu`` servers to compute2 and
compute1's two A100 stay free for ``a100``: the fleet serves 2 + 2.
Nova's default weighers spread by free RAM (the computes are alike): one
``gpu`` server per host, so a second ``a100`` server would get "No valid
host" (2 + 1).  Opt-in (``AGGREGATE_PCI_CLOUD_OPTIN=1``): the lane's CI
time budget; the weigher is enabled in every run of the lane all the same.
"""

import pytest

from tests.fixtures import cloud_db as db

pytestmark = db.opt_in("CI time budget")

GPU = (
    '[{"vendor_id":"10de","product_id":"20b5","device_type":"type-PCI"},'
    '{"vendor_id":"10de","product_id":"1eb8","device_type":"type-PCI"}]'
)
A100 = "--vendor-id 10de --product-id 20b5 --device-type type-PCI"
SERVERS = ["weigh-gpu-1", "weigh-gpu-2"]


@pytest.fixture
def contested(cloud):
    """The aggregates, PCI flavors and Nova flavors above; removed afterwards
    with the servers."""
    flavor = "flavor create --vcpus 1 --disk 0 --ram 64 --property pci_passthrough:alias=%s %s"
    make, remove = cloud.host_aggregates("weigh")
    try:
        cloud.batch(
            make
            + [
                "pci flavor create a100 --aggregate weigh-c1 " + A100,
                flavor % ("gpu:1", "weigh.gpu"),
                flavor % ("a100:1", "weigh.a100"),
            ]
        )
        # A list of match objects: its own process (the batch's line parser
        # would need the JSON quoted).
        for agg in ("weigh-c1", "weigh-c2"):
            cloud.run("aggregate-pci", "flavor", "create", "gpu", "--aggregate", agg,
                      "--spec", GPU)  # fmt: skip
        keys = cloud.sql(
            "SELECT a.name, m.`key` FROM nova_api.aggregate_metadata m JOIN"
            " nova_api.aggregates a ON a.id = m.aggregate_id"
            " WHERE a.name LIKE 'weigh-c%' ORDER BY 1, 2"
        )
        assert keys == [
            ["weigh-c1", "pci_flavor:a100"],
            ["weigh-c1", "pci_flavor:gpu"],
            ["weigh-c2", "pci_flavor:gpu"],
        ], keys
        yield
    finally:
        left = [
            n
            for [n] in cloud.sql(
                "SELECT display_name FROM nova.instances WHERE deleted = 0 AND"
                " display_name LIKE 'weigh-%' UNION SELECT display_name FROM"
                " nova_cell0.instances WHERE deleted = 0 AND display_name LIKE 'weigh-%'"
            )
        ]
        cloud.batch(
            (["server delete --wait " + " ".join(left)] if left else [])
            + remove
            + [
                "flavor delete weigh.gpu weigh.a100",
            ]
        )


def test_generic_requests_spare_the_devices_a_narrow_flavor_needs(cloud, contested):
    # One OpenStackClient process, the servers one after the other.
    cloud.batch(
        [
            "server create --flavor weigh.gpu --image %s --nic none --wait %s"
            % (cloud.image, name)
            for name in SERVERS
        ],
        timeout=600,
    )
    rows = cloud.sql(
        "SELECT display_name, vm_state, IFNULL(host, ''), uuid FROM nova.instances"
        " WHERE deleted = 0 AND display_name LIKE 'weigh-%' ORDER BY 1"
    )
    print(rows)
    assert [r[:3] for r in rows] == [
        ["weigh-gpu-1", "active", "compute2"],
        ["weigh-gpu-2", "active", "compute2"],
    ], rows
    # compute2's A100 and T4 serve gpu; compute1's two A100, which a100
    # needs, are both free.
    held = sorted(d for r in rows for d in cloud.devices_of(r[3]))
    assert held == [("compute2", "0000:81:00.0"), ("compute2", "0000:83:00.0")], held
    assert cloud.sql(
        "SELECT count(*) FROM nova.pci_devices p JOIN nova.compute_nodes c"
        " ON c.id = p.compute_node_id WHERE c.host = 'compute1'"
        " AND p.product_id = '20b5' AND p.status = 'available' AND p.deleted = 0"
    ) == [["2"]]
