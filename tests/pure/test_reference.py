"""The independent reference (tests/reference) on hand-made hosts: the
semantics it encodes, so that a change to it is a visible decision."""

import types

from aggregate_pci import codec
from tests import reference


def _host(aggregates, pools):
    stats = types.SimpleNamespace(pools=pools)
    return types.SimpleNamespace(aggregates=aggregates, pci_stats=stats)


def _agg(**flavors):
    return types.SimpleNamespace(
        metadata={
            codec.KEY_PREFIX + name.replace("_", "-"): value
            for name, value in flavors.items()
        }
    )


A100 = '{"product_id":"20b5","vendor_id":"10de"}'
NV_ANY = (
    '[{"product_id":"20b5","vendor_id":"10de"},'
    '{"product_id":"1db4","vendor_id":"10de"}]'
)


def _gpu(product, address, count=1):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "address": address,
        "numa_node": 0,
        "count": count,
    }


def test_reference_semantics():
    managed = {"gpu", "a100", "vf"}
    a100 = _gpu("20b5", "0000:81:00.0")
    v100 = _gpu("1db4", "0000:82:00.0")
    # OR of the host's definitions: "gpu" is A100 in one aggregate and
    # A100-or-V100 in another, so two GPUs of different models serve gpu:2.
    host = _host([_agg(gpu=A100), _agg(gpu=NV_ANY)], [a100, v100])
    assert reference.reference_decision(host, [("gpu", 2)], managed) == "pass"
    assert (
        reference.reference_decision(
            _host([_agg(gpu=A100)], [a100, v100]), [("gpu", 2)], managed
        )
        == "no-fit"
    )
    # Jointly: a100:1 can only take the A100, so gpu:1 must take the V100.
    host = _host([_agg(gpu=NV_ANY, a100=A100)], [a100, v100])
    assert (
        reference.reference_decision(host, [("gpu", 1), ("a100", 1)], managed) == "pass"
    )
    assert (
        reference.reference_decision(host, [("gpu", 1), ("a100", 2)], managed)
        == "no-fit"
    )
    # A bad value is ignored: the host has no valid definition of "gpu".
    host = _host([_agg(gpu='{"vendor_id":"10de"}')], [a100])
    assert reference.reference_decision(host, [("gpu", 1)], managed) == "no-definition"
    # Unmanaged names are left alone.
    assert reference.reference_decision(host, [("nic", 4)], managed) == "pass"
    # Narrowing address glob.
    host = _host(
        [_agg(gpu='{"address":"0000:82:*","product_id":"20b5","vendor_id":"10de"}')],
        [a100, _gpu("20b5", "0000:82:00.0")],
    )
    assert reference.reference_decision(host, [("gpu", 1)], managed) == "pass"
    assert reference.reference_decision(host, [("gpu", 2)], managed) == "no-fit"


def _vf(vendor, address, physnet, count, remote="false", dev_type="type-VF"):
    return {
        "vendor_id": vendor,
        "product_id": "101e" if vendor == "15b3" else "154c",
        "dev_type": dev_type,
        "address": address,
        "physical_network": physnet,
        "remote_managed": remote,
        "numa_node": 0,
        "count": count,
    }


def _port(physnet, **extra):
    spec = dict({"physical_network": physnet, "remote_managed": "False"}, **extra)
    return types.SimpleNamespace(alias_name=None, count=1, spec=[spec])


CX5_NET2 = (
    '{"device_type":"type-VF","physical_network":"physnet2",'
    '"product_id":"101e","vendor_id":"15b3"}'
)


def test_reference_semantics_of_ports():
    net2 = {"physnet2"}
    cx5 = _vf("15b3", "0000:3b:00.0", "physnet2", 1)
    intel = _vf("8086", "0000:af:00.0", "physnet2", 4)
    # Any PCI flavor's match object fixing physnet2 scopes the port.
    agg = _agg(vf_net2=CX5_NET2)
    decide = reference.reference_claim_decision
    assert decide(_host([agg], [cx5]), [_port("physnet2")], set(), net2) == "pass"
    assert decide(
        _host([_agg(a100=A100)], [cx5]), [_port("physnet2")], set(), net2
    ) == ("no-definition")
    # An unmanaged physical network is Nova's business alone.
    assert decide(
        _host([_agg(a100=A100)], [cx5]), [_port("physnet2")], set(), set()
    ) == ("pass")
    # The Intel VFs are tagged physnet2 but outside the definition: two
    # ports do not fit, and the claim of one takes the Intel VF when its
    # pool comes first.
    two = [_port("physnet2"), _port("physnet2")]
    assert decide(_host([agg], [cx5, intel]), two, set(), net2) == "no-fit"
    assert decide(_host([agg], [cx5, intel]), two[:1], set(), net2) == "pass"
    assert decide(_host([agg], [intel, cx5]), two[:1], set(), net2) == "claim-outside"
    # A remote-managed VF (same ids as the CX5's, inside the definition)
    # serves no port that does not ask for one, nor does a PF a direct port.
    bluefield = _vf("15b3", "0000:5e:00.0", "physnet2", 4, remote="true")
    assert decide(_host([agg], [bluefield, cx5]), two, set(), net2) == "no-fit"
    assert decide(_host([agg], [bluefield, cx5]), two[:1], set(), net2) == "pass"
    pf = _vf("15b3", "0000:3b:00.1", "physnet2", 1, dev_type="type-PF")
    any_dev = '{"physical_network":"physnet2","product_id":"101e","vendor_id":"15b3"}'
    host = _host([_agg(cx5_net2=any_dev)], [pf, cx5])
    assert decide(host, two, set(), net2) == "no-fit"
    assert decide(host, [_port("physnet2", dev_type="type-PF")], set(), net2) == "pass"
