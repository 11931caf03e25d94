"""Smoke test of tools/bench_filter.py on tiny sizes, and of its reference.

The benchmark's figures are not asserted (timings vary); what is asserted is
that it runs end to end with Nova's objects, that the filter agrees with the
brute-force reference, and that the reference would notice a wrong filter.
"""

import importlib.util
import io
import pathlib
import types

import pytest

from aggregate_pci import codec
from aggregate_pci.scheduler import decision

_PATH = pathlib.Path(__file__).resolve().parents[2] / "tools" / "bench_filter.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_filter", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = [
    "--hosts",
    "80",
    "--repeat",
    "2",
    "--full-repeat",
    "1",
    "--sample",
    "80",
    "--no-db-query",
]


def test_tiny_run_agrees_with_the_reference(bench):
    out = io.StringIO()
    res = bench.run(bench.parse_args(TINY), out=out)
    text = out.getvalue()
    assert res["mismatches"] == 0, text
    # The check is only worth something if the sample has hosts of every
    # kind: passing, outside any defining aggregate, and too few devices.
    outcomes = res["sample_outcomes"]
    assert res["sample"] == 80
    assert (
        outcomes["pass"] > 0
        and outcomes["no-definition"] > 0
        and outcomes["no-fit"] > 0
    ), outcomes
    # Ours alone may pass a host where Nova's greedy claim fails (then
    # PciPassthroughFilter refuses it): the reference judges both together.
    assert res["ours_sample_passed"] >= outcomes["pass"]
    assert res["nova_full_passed"] == res["nova_pools_passed"]
    for key in ("ours_s", "nova_full_s", "nova_pools_s"):
        assert res[key] > 0
    assert res["cache_bytes"] > 0
    assert 0 < res["cache_entries"]["parsed"] <= res["cache_limit"]
    assert "0 mismatches" in text
    assert "ratio ours / nova pool-logic-only:" in text
    assert ("MET" in text) and (res["target_met"] == ("NOT MET" not in text))


def test_a_wrong_filter_is_caught(bench, monkeypatch):
    # A filter that passes every host must show up as mismatches (hosts
    # outside any defining aggregate that Nova's filter passes) and a
    # non-zero exit.  (Ignoring capacity alone is masked by Nova's own
    # greedy check and the claim replay, which the reference judges too.)
    monkeypatch.setattr(decision, "decide_host", lambda *a, **k: None)
    out = io.StringIO()
    res = bench.run(bench.parse_args(TINY), out=out)
    assert res["mismatches"] > 0
    monkeypatch.setattr(bench, "report", lambda *a, **k: None)
    assert bench.main(TINY) == 1


def test_claim_scenario_agrees_and_catches_a_missing_claim_check(bench, monkeypatch):
    args = bench.parse_args(TINY + ["--scenario", "claim"])
    res = bench.run(args, out=io.StringIO())
    assert res["mismatches"] == 0
    assert res["claim_replays"] > 0
    assert res["sample_outcomes"]["claim-outside"] > 0
    # Without the claim check, exactly the hosts whose claim takes a device
    # outside the definitions are wrongly passed.
    monkeypatch.setattr(decision, "judge_claim", lambda *args: None)
    res = bench.run(args, out=io.StringIO())
    assert res["mismatches"] == res["sample_outcomes"]["claim-outside"] > 0


def test_ports_scenario_agrees_and_catches_ports_without_claim_check(
    bench, monkeypatch
):
    args = bench.parse_args(TINY + ["--scenario", "ports"])
    assert args.ports == "physnet1,physnet2"
    res = bench.run(args, out=io.StringIO())
    assert res["physnets"] == ["physnet1", "physnet2"]
    assert res["mismatches"] == 0
    outcomes = res["sample_outcomes"]
    assert outcomes["pass"] > 0 and outcomes["claim-outside"] > 0, outcomes
    assert res["claim_replays"] > 0

    # The filter without the claim replay for port requests (only the
    # aliases' narrowing would trigger it) wrongly passes hosts where the
    # port's claim takes a device outside the definitions.
    def aliases_only(plan, view, cache):
        return any(
            req.predicate_for is None and not cache.covers(values, req.specs)
            for req, values in zip(plan.requests, view.values, strict=True)
        )

    monkeypatch.setattr(decision, "needs_claim_check", aliases_only)
    res = bench.run(args, out=io.StringIO())
    assert res["mismatches"] > 0


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


def test_reference_semantics(bench):
    managed = {"gpu", "a100", "vf"}
    a100 = _gpu("20b5", "0000:81:00.0")
    v100 = _gpu("1db4", "0000:82:00.0")
    # OR of the host's definitions: "gpu" is A100 in one aggregate and
    # A100-or-V100 in another, so two GPUs of different models serve gpu:2.
    host = _host([_agg(gpu=A100), _agg(gpu=NV_ANY)], [a100, v100])
    assert bench.reference_decision(host, [("gpu", 2)], managed) == "pass"
    assert (
        bench.reference_decision(
            _host([_agg(gpu=A100)], [a100, v100]), [("gpu", 2)], managed
        )
        == "no-fit"
    )
    # Jointly: a100:1 can only take the A100, so gpu:1 must take the V100.
    host = _host([_agg(gpu=NV_ANY, a100=A100)], [a100, v100])
    assert bench.reference_decision(host, [("gpu", 1), ("a100", 1)], managed) == "pass"
    assert (
        bench.reference_decision(host, [("gpu", 1), ("a100", 2)], managed) == "no-fit"
    )
    # A bad value is ignored: the host has no valid definition of "gpu".
    host = _host([_agg(gpu='{"vendor_id":"10de"}')], [a100])
    assert bench.reference_decision(host, [("gpu", 1)], managed) == "no-definition"
    # Unmanaged names are left alone.
    assert bench.reference_decision(host, [("nic", 4)], managed) == "pass"
    # Narrowing address glob.
    host = _host(
        [_agg(gpu='{"address":"0000:82:*","product_id":"20b5","vendor_id":"10de"}')],
        [a100, _gpu("20b5", "0000:82:00.0")],
    )
    assert bench.reference_decision(host, [("gpu", 1)], managed) == "pass"
    assert bench.reference_decision(host, [("gpu", 2)], managed) == "no-fit"


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


def test_reference_semantics_of_ports(bench):
    net2 = {"physnet2"}
    cx5 = _vf("15b3", "0000:3b:00.0", "physnet2", 1)
    intel = _vf("8086", "0000:af:00.0", "physnet2", 4)
    # Any PCI flavor's match object fixing physnet2 scopes the port.
    agg = _agg(vf_net2=CX5_NET2)
    decide = bench.reference_claim_decision
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


def test_bad_sizes_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--hosts", "0"])
