"""tools/release/support_table.py counts test cases from the JUnit XML, not the
suite's ``tests`` attribute (which newer pytest inflates with subtests)."""

import importlib.util

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
