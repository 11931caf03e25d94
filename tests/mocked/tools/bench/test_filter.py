"""Smoke test of tools/bench/filter.py on tiny sizes, and of its reference.

The benchmark's figures are not asserted (timings vary); what is asserted is
that it runs end to end with Nova's objects, that the filter agrees with the
brute-force reference, and that the reference would notice a wrong filter.
"""

import io

import pytest

from aggregate_pci.scheduler import decision
from tests.fixtures import paths


@pytest.fixture(scope="module")
def bench():
    return paths.load_tool("bench_filter", "tools/bench/filter.py")


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
    assert res["kept_objects"] > 0
    assert "objects one request keeps alive" in text
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


def test_bad_sizes_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--hosts", "0"])


def test_cpu_time_clock(bench, monkeypatch):
    """``--cpu-time`` times the passes by the process's CPU time (a shared
    machine's load then does not count) and says so in the figures."""
    import time

    monkeypatch.setitem(bench.CLOCK, "now", time.perf_counter)
    out = io.StringIO()
    res = bench.run(
        bench.parse_args(TINY + ["--full-repeat", "0", "--cpu-time"]), out=out
    )
    assert res["mismatches"] == 0
    assert bench.CLOCK["now"] is time.process_time
    assert "clock=CPU time" in out.getvalue()
    bench.run(bench.parse_args(TINY + ["--full-repeat", "0"]), out=io.StringIO())
    assert bench.CLOCK["now"] is time.perf_counter
