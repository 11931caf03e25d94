"""tools/bench/cloud_scheduler.py's reading of the scheduler log, and its shares.

The log lines are built from the format strings of the timing subclasses in
tools/cloud/bench_timing.py (read from its source, not imported: importing
it wraps Nova's SchedulerManager), so a change of either side's format that
the other does not follow fails here.  No cloud is started.
"""

import ast

import pytest

from tests.fixtures import paths

_TIMING = paths.ROOT / "tools" / "cloud" / "bench_timing.py"
PCI = "11111111-1111-1111-1111-111111111111"
PLAIN = "22222222-2222-2222-2222-222222222222"
ALONE = "33333333-3333-3333-3333-333333333333"


@pytest.fixture(scope="module")
def bench():
    return paths.load_tool("bench_cloud_scheduler", "tools/bench/cloud_scheduler.py")


def _formats() -> dict[str, str]:
    """The LOG.info format strings of bench_timing.py, by their first word after the prefix."""
    out = {}
    for node in ast.walk(ast.parse(_TIMING.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "info"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            fmt = node.args[0].value
            out[fmt.split()[1].split("=")[0]] = fmt
    return out


def _line(ts: str, msg: str) -> str:
    """One line as oslo.log writes it in the scheduler's log."""
    return f"2026-12-07 01:00:{ts} 4242 INFO aggregate_pci_bench_timing [None req-x admin admin] {msg}"


def _log() -> str:
    f = _formats()
    return "\n".join(
        [
            # A PCI request: 202 hosts in, 56 weighed.
            _line("01.000", f["filter"] % ("AggregatePciFilter", PCI, 202, 56, 12.5)),
            _line("01.020", f["filter"] % ("PciPassthroughFilter", PCI, 56, 56, 8.25)),
            _line("01.030", f["weigher"] % (PCI, 56, 3.125)),
            _line("01.900", f["select_destinations"] % (PCI, "ok", 1000.0)),
            # A request without PCI: every host weighed.
            _line(
                "02.000", f["filter"] % ("AggregatePciFilter", PLAIN, 202, 202, 0.05)
            ),
            _line(
                "02.010", f["filter"] % ("PciPassthroughFilter", PLAIN, 202, 202, 1.0)
            ),
            _line("02.020", f["weigher"] % (PLAIN, 202, 0.45)),
            _line("02.900", f["select_destinations"] % (PLAIN, "ok", 900.0)),
            # One host left: Nova weighs nothing, so no weigher line.
            _line("03.000", f["filter"] % ("AggregatePciFilter", ALONE, 202, 1, 10.0)),
            _line("03.900", f["select_destinations"] % (ALONE, "ok", 500.0)),
        ]
    )


def test_the_timing_module_logs_a_line_for_the_weigher():
    assert set(_formats()) == {"filter", "weigher", "select_destinations"}


def test_parse_log_reads_the_weigher_line(bench):
    reqs = bench.parse_log(_log())
    assert reqs[PCI]["AggregatePciWeigher"] == {"in": 56, "ms": 3.125}
    assert reqs[PLAIN]["AggregatePciWeigher"] == {"in": 202, "ms": 0.45}
    assert "AggregatePciWeigher" not in reqs[ALONE]
    # The other lines are still read.
    assert reqs[PCI]["AggregatePciFilter"] == {"in": 202, "out": 56, "ms": 12.5}
    assert reqs[PCI]["PciPassthroughFilter"]["ms"] == 8.25
    assert reqs[PCI]["sched_ms"] == 1000.0
    assert reqs[PCI]["outcome"] == "ok"


def test_shares_of_select_destinations(bench):
    reqs = bench.parse_log(_log())
    s = bench.shares([reqs[PCI], reqs[ALONE]])
    assert s["weigher_ms"] == [3.125, 0.0]  # not weighed: 0 ms
    assert s["both_ms"] == [15.625, 10.0]
    assert s["filter_pct"] == pytest.approx([1.25, 2.0])
    assert s["weigher_pct"] == pytest.approx([0.3125, 0.0])
    assert s["both_pct"] == pytest.approx([1.5625, 2.0])
    assert s["weigher_in"] == [56]


def test_shares_without_any_weigher_line_are_not_zeros(bench):
    # A cloud started before the timed weigher existed logs none: the
    # weigher's figures are unknown, not 0 ms.
    reqs = bench.parse_log(_log())
    s = bench.shares([reqs[ALONE]])
    assert s["weigher_ms"] == [] and s["both_pct"] == []
    assert s["filter_pct"] == pytest.approx([2.0])


def test_summary_rows_name_the_weigher_and_the_target(bench):
    reqs = bench.parse_log(_log())
    rows = bench.summarise_share("a100:1 (PCI)", [reqs[PCI], reqs[ALONE]])
    assert rows == [
        "| a100:1 (PCI) | 2 | 1.56 (56) | 3.12 | 12.81 | 15.62 | 1.62 | 0.16 | 1.78 | 2.00 |"
    ]
    met = bench.target_line([reqs[PCI]], 1000)
    assert "1,000 nodes" in met and "1.56 %" in met
    assert "MET" in met and "NOT MET" not in met
    # 15.6 ms of 300 ms is 5.2 %.
    assert "NOT MET" in bench.target_line([{**reqs[PCI], "sched_ms": 300.0}], 1000)
    assert "unknown" in bench.target_line([reqs[ALONE]], 1000)


def test_print_tables_prints_both_tables_and_the_verdict(bench, capsys):
    reqs = bench.parse_log(_log())
    rows = {
        "pci": [{**reqs[PCI], "name": "bench-pci-01"}],
        "plain": [{**reqs[PLAIN], "name": "bench-plain-01"}],
    }
    bench.print_tables(rows, 1002)
    out = capsys.readouterr().out
    assert (
        "| a100:1 (PCI) | 1 | 3.12 (56) | 3.12 | 15.62 | 15.62 | 1.25 | 0.31 | 1.56 | 1.56 |"
        in out
    )
    assert "| no PCI | 1 | 0.45 (202) |" in out
    assert "at 1,002 nodes: median 1.56 %" in out and out.count("MET") == 1
    # The per-request line shows the weigher's ms and hosts.
    assert "   3.12 (56)" in out
