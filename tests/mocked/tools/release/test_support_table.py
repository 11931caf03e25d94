"""tools/release/support_table.py counts test cases from the JUnit XML, not the
suite's ``tests`` attribute (which newer pytest inflates with subtests)."""

import importlib.util
import json

from tests.fixtures import paths

_ROOT = paths.ROOT
_spec = importlib.util.spec_from_file_location(
    "support_table", _ROOT / "tools" / "release" / "support_table.py"
)
support_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support_table)

XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="642">
<testcase classname="tests.a" name="test_ok" time="0.1"/>
<testcase classname="tests.a" name="test_bad" time="0.1"><failure message="x"/></testcase>
<testcase classname="tests.a" name="test_skip" time="0.0"><skipped message="y"/></testcase>
<testcase classname="tests.b" name="test_err" time="0.0"><error message="z"/></testcase>
</testsuite></testsuites>
"""


def test_counts_are_test_cases(tmp_path):
    path = tmp_path / "run.xml"
    path.write_text(XML)
    assert support_table.junit_counts(path) == {
        "tests": 4,
        "failures": 1,
        "errors": 1,
        "skipped": 1,
        "passed": 1,
    }
    assert support_table.junit_counts(tmp_path / "missing.xml") is None


def _record(load=None):
    record = {
        "env": "nova-2025.1",
        "versions": {"nova": "31.3.1", "placement": "13.0.1"},
        "command": "pytest tests --ignore=tests/real_cloud",
        "exit_status": 0,
        "wall_seconds": 1074.0,
        "counts": {"tests": 2, "failures": 0, "errors": 0, "skipped": 1, "passed": 1},
        "date": "2026-12-07 02:46 UTC",
    }
    if load is not None:
        record["load"] = load
    return record


def test_row_shows_the_load_at_the_end_of_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(support_table, "MATRIX", tmp_path)
    (tmp_path / "nova-2025.1.json").write_text(
        json.dumps(_record({"start": [1.2, 1.2, 1.3], "end": [2.66, 3.34, 3.04]}))
    )
    out = tmp_path / "support.md"
    support_table.render(out)
    row = [x for x in out.read_text().splitlines() if x.startswith("| 2025.1")]
    assert row == [
        "| 2025.1 (Epoxy, SLURP) | 31.3.1 / 13.0.1 | ? | ? | unit + functional "
        "| PASS: 1 passed, 0 failed, 1 skipped "
        "| 1074 s, 2026-12-07 02:46 UTC, load 3.0 |"
    ]


def test_record_without_load_has_no_load(tmp_path):
    assert support_table.load_text(_record()) == ""
