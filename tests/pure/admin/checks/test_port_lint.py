"""``check`` on physical networks that PCI flavors manage (issue 13)."""

from aggregate_pci.admin.checks import lint
from tests.fixtures.records import records

CX5_VF = (
    '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF",'
    '"physical_network":"physnet2"}'
)


def vf(physnet="physnet2", free=1, used=0):
    return {
        "vendor_id": "15b3",
        "product_id": "101e",
        "dev_type": "type-VF",
        "address": "0000:81:00.0",
        "physical_network": physnet,
        "count": free,
        "used": used,
    }


def physnet_issues(recs, pools):
    return [
        (i.severity, i.subject, i.message)
        for i in lint.lint(recs, [], None, pools)
        if i.subject.startswith("physical network")
    ]


def test_managed_physnet_without_devices_is_reported():
    recs = records(("rack1", ["c1"], {"pci_flavor:p2": CX5_VF}))
    # c1's VFs are tagged physnet1 (device_spec), c2 is outside the aggregate.
    issues = physnet_issues(recs, {"c1": [vf("physnet1")], "c2": [vf()]})
    assert [(s, subj) for s, subj, _ in issues] == [
        ("warning", "physical network 'physnet2'")
    ]
    assert "p2 on rack1" in issues[0][2]


def test_served_physnet_is_quiet_used_devices_count():
    recs = records(("rack1", ["c1"], {"pci_flavor:p2": CX5_VF}))
    assert physnet_issues(recs, {"c1": [vf(free=0, used=2)]}) == []
    assert physnet_issues(recs, {"c1": [vf("PHYSNET2")]}) == []


def test_no_inventory_no_physnet_lint():
    recs = records(("rack1", ["c1"], {"pci_flavor:p2": CX5_VF}))
    assert physnet_issues(recs, None) == []


def test_host_tagging_other_devices_with_the_physnet_is_reported():
    # The definition takes CX5 VFs; c1 also tags an Intel VF physnet2.
    intel = dict(vf(), vendor_id="8086", product_id="1515", address="0000:82:00.0")
    recs = records(("rack1", ["c1"], {"pci_flavor:p2": CX5_VF}))
    issues = physnet_issues(recs, {"c1": [vf(), intel], "c2": [intel]})
    assert [(s, subj) for s, subj, _ in issues] == [
        ("warning", "physical network 'physnet2'")
    ]
    message = issues[0][2]
    assert message.startswith(
        "host c1 has a VF of 0000:82:00.0 (8086:1515 type-VF, "
        "physical_network=physnet2), outside PCI flavor(s) p2 on rack1"
    ), message
    # Other physnets, used-up pools and hosts outside the aggregate: quiet.
    assert physnet_issues(recs, {"c1": [vf(), dict(intel, physical_network="x")]}) == []
    assert physnet_issues(recs, {"c1": [vf(), dict(intel, count=0)]}) == []
