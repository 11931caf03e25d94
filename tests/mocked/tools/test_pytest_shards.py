"""tools/pytest_shards.py and tests/fixtures/shards.py: every test runs in
exactly one shard, shards are balanced by estimated cost, a failure in any
shard fails the run, and the JUnit files merge into one."""

import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import unittest
import xml.etree.ElementTree as ET

from tests.fixtures import shards

ROOT = pathlib.Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "pytest_shards", ROOT / "tools" / "pytest_shards.py"
)
pytest_shards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pytest_shards)


class ShardFilesTest(unittest.TestCase):
    def test_every_file_in_one_shard_and_balanced(self):
        counts = {
            "tests/nova_in_process/test_a.py": 10,
            "tests/nova_in_process/test_b.py": 9,
        }
        counts.update({"tests/mocked/test_%d.py" % i: 20 for i in range(10)})
        counts.update({"tests/pure/test_%d.py" % i: 30 for i in range(5)})
        owner = shards.shard_files(counts, 2)
        self.assertEqual(set(owner), set(counts))
        load = {1: 0.0, 2: 0.0}
        for path, k in owner.items():
            load[k] += shards.file_cost(path, counts[path])
        # Greedy, heaviest first: the halves differ by at most the lightest
        # file placed last's cost, here one mocked file's.
        self.assertLessEqual(
            abs(load[1] - load[2]), shards.file_cost("tests/mocked/test_0.py", 20)
        )
        self.assertNotEqual(
            owner["tests/nova_in_process/test_a.py"],
            owner["tests/nova_in_process/test_b.py"],
        )

    def test_recorded_costs_win_over_the_tier_estimate(self):
        counts = {
            "tests/pure/test_slow.py": 1,
            "tests/nova_in_process/test_x.py": 1,
            "tests/nova_in_process/test_y.py": 1,
        }
        # By tier the pure file is the cheapest; recorded, it outweighs both.
        costs = {"tests/pure/test_slow.py": 500.0}
        owner = shards.shard_files(counts, 2, costs)
        self.assertEqual(
            owner["tests/nova_in_process/test_x.py"],
            owner["tests/nova_in_process/test_y.py"],
        )
        self.assertNotEqual(
            owner["tests/pure/test_slow.py"], owner["tests/nova_in_process/test_x.py"]
        )

    def test_record_costs_sums_seconds_per_file(self):
        d = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(subprocess.call, ["rm", "-rf", str(d)])
        (d / "tests" / "pure").mkdir(parents=True)
        (d / "tests" / "pure" / "test_a.py").write_text("")
        (d / "j.xml").write_text(
            "<testsuites><testsuite>"
            '<testcase classname="tests.pure.test_a.ATest" name="t1" time="1.25"/>'
            '<testcase classname="tests.pure.test_a" name="t2" time="2"/>'
            '<testcase classname="tests.gone.test_b" name="t3" time="9"/>'
            "</testsuite></testsuites>"
        )
        self.assertEqual(
            pytest_shards.record_costs(str(d / "j.xml"), d),
            {"tests/pure/test_a.py": 3.2},
        )

    def test_bad_spec_is_one_clear_error(self):
        for spec in ("3/2", "0/2", "x", "1/2/3", ""):
            with self.assertRaisesRegex(ValueError, "AGGREGATE_PCI_TEST_SHARD"):
                shards.parse_shard(spec)
        self.assertEqual(shards.parse_shard("2/2"), (2, 2))


class RunnerTest(unittest.TestCase):
    """The runner on a throwaway suite with this repository's conftest."""

    def _suite(self, failing: bool) -> pathlib.Path:
        d = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(subprocess.call, ["rm", "-rf", str(d)])
        t = d / "tests"
        (t / "pure").mkdir(parents=True)
        (t / "fixtures").mkdir()
        for name in ("__init__.py", "pure/__init__.py", "fixtures/__init__.py"):
            (t / name).write_text("")
        (t / "fixtures" / "shards.py").write_text(
            (ROOT / "tests" / "fixtures" / "shards.py").read_text()
        )
        (t / "conftest.py").write_text(
            "from tests.fixtures.shards import pytest_collection_modifyitems  # noqa\n"
        )
        for i in range(4):
            body = "assert %s" % ("False" if failing and i == 3 else "True")
            (t / "pure" / ("test_%d.py" % i)).write_text(
                textwrap.dedent(
                    """
                    import os

                    def test_one():
                        with open(os.environ["OUT"], "a") as fh:
                            fh.write("%d " + os.environ.get("AGGREGATE_PCI_TEST_SHARD", "-") + "\\n")
                        %s
                    """
                )
                % (i, body)
            )
        return d

    def _run(self, d: pathlib.Path, *args: str):
        out = d / "ran.txt"
        env = dict(os.environ, OUT=str(out))
        env.pop("AGGREGATE_PCI_TEST_SHARD", None)
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "pytest_shards.py"), *args],
            cwd=d,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        ran = out.read_text().split("\n") if out.exists() else []
        return proc, sorted(line for line in ran if line)

    def test_two_shards_run_each_test_once_and_merge_junit(self):
        d = self._suite(failing=False)
        proc, ran = self._run(
            d,
            "--shards",
            "2",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests",
            "--junitxml=%s" % (d / "j.xml"),
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual([r.split()[0] for r in ran], ["0", "1", "2", "3"])
        self.assertEqual({r.split()[1] for r in ran}, {"1/2", "2/2"})
        self.assertIn("[1/2] ", proc.stdout)
        self.assertIn("[2/2] ", proc.stdout)
        cases = list(ET.parse(d / "j.xml").getroot().iter("testcase"))
        self.assertEqual(len(cases), 4)
        self.assertEqual(sorted(p.name for p in d.iterdir() if "shard" in p.name), [])

    def test_a_failure_in_one_shard_fails_the_run(self):
        d = self._suite(failing=True)
        proc, ran = self._run(
            d, "--shards", "2", "-q", "-p", "no:cacheprovider", "tests"
        )
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertEqual(len(ran), 4)

    def test_one_shard_is_plain_pytest(self):
        d = self._suite(failing=False)
        proc, ran = self._run(d, "-q", "-p", "no:cacheprovider", "tests")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual({r.split()[1] for r in ran}, {"-"})
        self.assertNotIn("[1/", proc.stdout)


if __name__ == "__main__":
    unittest.main()
