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


def test_bad_sizes_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--hosts", "0"])
