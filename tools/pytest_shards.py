#!/usr/bin/env python3
"""Run pytest as N processes over one test selection, one shard each.

``pytest_shards.py [--shards N] PYTEST-ARGS...`` starts N pytest processes
with the same arguments and ``AGGREGATE_PCI_TEST_SHARD=K/N``; tests/conftest.py
then keeps only shard K's test files (whole files, balanced by an estimate of
their cost).  Why processes and not pytest-xdist: the in-process Nova tests
monkey-patch the interpreter with eventlet, and xdist's worker channel does
not survive that (its workers never report).  Each shard's output is printed
with a ``[K/N]`` prefix; a ``--junitxml=PATH`` argument gets one file per
shard, merged into PATH at the end.

``pytest_shards.py --record-costs JUNIT`` writes each test file's seconds
from a run's JUnit XML to tests/fixtures/shard_costs.json, the balance's
input.  The exit status is the first failing
shard's, 0 when all passed (a shard left without tests counts as passed).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

NO_TESTS_COLLECTED = 5


def _stream(prefix: str, pipe, lock: threading.Lock) -> None:
    """Copy a shard's output line by line, each line prefixed."""
    for line in iter(pipe.readline, b""):
        with lock:
            sys.stdout.buffer.write(prefix.encode() + line)
            sys.stdout.buffer.flush()
    pipe.close()


def _junit_path(args: list) -> tuple:
    """The index and value of a ``--junitxml=PATH`` argument, or (None, None)."""
    for i, arg in enumerate(args):
        if arg.startswith("--junitxml="):
            return i, arg.split("=", 1)[1]
    return None, None


def _merge_junit(path: str, parts: list) -> None:
    """One ``<testsuites>`` file holding every shard's suites."""
    merged = ET.Element("testsuites")
    for part in parts:
        p = pathlib.Path(part)
        if not p.is_file():
            continue
        root = ET.parse(p).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        merged.extend(suites)
        p.unlink()
    ET.ElementTree(merged).write(path, encoding="utf-8", xml_declaration=True)


def record_costs(junit: str, root: pathlib.Path) -> dict:
    """Seconds per test file (repository-relative path) from JUnit XML."""
    costs = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        parts = (case.get("classname") or "").split(".")
        for i in range(len(parts), 0, -1):
            path = "/".join(parts[:i]) + ".py"
            if (root / path).is_file():
                costs[path] = costs.get(path, 0.0) + float(case.get("time") or 0)
                break
    return {p: round(s, 1) for p, s in sorted(costs.items())}


def main(argv: list) -> int:
    """Run the shards and return the combined exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--record-costs", metavar="JUNIT")
    opts, pytest_args = parser.parse_known_args(argv)
    if opts.record_costs:
        root = pathlib.Path(__file__).resolve().parents[1]
        out = root / "tests" / "fixtures" / "shard_costs.json"
        out.write_text(
            json.dumps(record_costs(opts.record_costs, root), indent=1) + "\n"
        )
        print("pytest_shards: wrote %s" % out)
        return 0
    cmd = [sys.executable, "-m", "pytest"]
    if opts.shards <= 1:
        return subprocess.call(cmd + pytest_args)
    j, junit = _junit_path(pytest_args)
    lock = threading.Lock()
    procs, threads, parts = [], [], []
    for k in range(1, opts.shards + 1):
        args = list(pytest_args)
        if junit is not None:
            parts.append("%s.shard%d" % (junit, k))
            args[j] = "--junitxml=" + parts[-1]
        env = dict(os.environ, AGGREGATE_PCI_TEST_SHARD="%d/%d" % (k, opts.shards))
        proc = subprocess.Popen(
            cmd + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        t = threading.Thread(
            target=_stream, args=("[%d/%d] " % (k, opts.shards), proc.stdout, lock)
        )
        t.start()
        procs.append(proc)
        threads.append(t)
    codes = [p.wait() for p in procs]
    for t in threads:
        t.join()
    if junit is not None:
        _merge_junit(junit, parts)
    print("pytest_shards: exit status per shard: %s" % codes, flush=True)
    failing = [c for c in codes if c not in (0, NO_TESTS_COLLECTED)]
    if failing:
        return failing[0]
    return 0 if any(c == 0 for c in codes) else NO_TESTS_COLLECTED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
