#!/usr/bin/env python3
"""Record release-matrix runs and write the support table from them.

``support_table.py record ENV PYTHON -- CMD...`` runs CMD (the tox env's
pytest), then writes ``.matrix/ENV.json``: the Nova, placement and Python
versions found in that env, the command, its exit status, wall time and the
pass/fail/skip counts from the JUnit XML the command wrote
(``.matrix/ENV.xml``).  It exits with CMD's status.

``support_table.py render [--out docs/support.md]`` writes the table from
every ``.matrix/*.json`` (nothing is typed by hand).
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[2]
MATRIX = ROOT / ".matrix"
RELEASES = {
    "nova-2024.1": "2024.1 (Caracal, SLURP)",
    "nova-2025.1": "2025.1 (Epoxy, SLURP)",
    "nova-2025.2": "2025.2 (Flamingo)",
    "nova-2026.1": "2026.1 (Gazpacho, SLURP)",
    "nova-2026.2": "2026.2 (master, Aug 2026)",
}


def versions(python):
    code = (
        "import importlib.metadata as m, platform, json;"
        "print(json.dumps({'nova': m.version('nova'),"
        " 'placement': m.version('openstack-placement'),"
        " 'sqlalchemy': m.version('SQLAlchemy'),"
        " 'python': platform.python_version()}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip()[-300:]}
    return json.loads(out.stdout)


def junit_counts(path):
    """Pass/fail/skip counts of the ``<testcase>`` elements: a suite's own
    ``tests`` attribute also counts subtests with newer pytest, so releases
    would not compare."""
    if not path.is_file():
        return None
    root = ET.parse(path).getroot()
    c = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for case in root.iter("testcase"):
        c["tests"] += 1
        for kind, key in (("failure", "failures"), ("error", "errors")):
            if case.find(kind) is not None:
                c[key] += 1
        if case.find("skipped") is not None:
            c["skipped"] += 1
    c["passed"] = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
    return c


def record(env, python, cmd):
    MATRIX.mkdir(exist_ok=True)
    xml = MATRIX / (env + ".xml")
    if xml.exists():
        xml.unlink()
    load_start = os.getloadavg()
    start = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - start
    load_end = os.getloadavg()
    command = " ".join(cmd).replace(str(ROOT) + "/", "")
    result = {
        "env": env,
        "versions": versions(python),
        "command": command,
        "exit_status": rc,
        "wall_seconds": round(wall, 1),
        "counts": junit_counts(xml),
        # The machine's load averages (1, 5, 15 min) when the run started
        # and ended: the 15-min figure at the end covers most of a run.
        "load": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in load_end],
        },
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": f"{platform.system()} {platform.machine()}",
    }
    (MATRIX / (env + ".json")).write_text(json.dumps(result, indent=2) + "\n")
    return rc


def load_text(result):
    """``, load 3.1`` (the 15-min load average when the run ended), or
    nothing for a record made before loads were recorded."""
    load = result.get("load")
    if not load:
        return ""
    return f", load {load['end'][2]:.1f}"


def render(out):
    rows = []
    results = {}
    for env in RELEASES:
        p = MATRIX / (env + ".json")
        if not p.is_file():
            rows.append(f"| {RELEASES[env]} | - | - | - | - | not run | - |")
            continue
        r = json.loads(p.read_text())
        results[env] = r
        v = r["versions"]
        c = r["counts"]
        if c is None:
            res = f"FAILED before tests ran (exit {r['exit_status']})"
        else:
            res = (
                f"{c['passed']} passed, {c['failures'] + c['errors']} failed, "
                f"{c['skipped']} skipped"
            )
            res = ("PASS: " if r["exit_status"] == 0 else "FAIL: ") + res
        # The whole suite but the real-cloud lane (tests/cloud before the
        # tiers were renamed: older records keep the command they ran).
        whole = any(
            "--ignore=tests/%s" % lane in r["command"]
            for lane in ("real_cloud", "cloud")
        )
        scope = "unit + functional" if whole else "filter suites + Nova PCI regression"
        rows.append(
            f"| {RELEASES[env]} | {v.get('nova', '?')} / {v.get('placement', '?')} "
            f"| {v.get('sqlalchemy', '?')} | {v.get('python', '?')} | {scope} | {res} "
            f"| {r['wall_seconds']:.0f} s, {r['date']}{load_text(r)} |"
        )
    notes = ROOT / "docs" / "support-notes.md"
    text = [
        "# Supported Nova releases",
        "",
        "<!-- Generated by `python tools/release/support_table.py render` from the last",
        "     `tools/tox.sh -m matrix` run (.matrix/*.json); do not edit by hand. -->",
        "",
        "Each row is one tox env (`tools/tox.sh -e nova-RELEASE`, or all of them with",
        "`tools/tox.sh -m matrix`): that release's Nova and placement installed",
        "under the release's upper-constraints (`../shared/upper-constraints/`),",
        "then the unit and functional suites (`tests/` without `tests/real_cloud/`):",
        "filter scenarios, claim outcome, admin CLI and migration on the",
        "in-process Nova, and Nova's own PCI functional tests with",
        "`AggregatePciFilter` enabled",
        "(`tests/nova_in_process/test_filter_nova_pci_regression.py`).",
        "The MariaDB migration tests run only where `AGGREGATE_PCI_TEST_MYSQL_URL`",
        "is set (they count as skipped otherwise).",
        "",
        "Raw results: [support.json](support.json).",
        "",
        "| Release | Nova / placement | SQLAlchemy | Python | Tests run | Result | Run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Tests run: *unit + functional* is the env's default (`tests` without",
        "`tests/real_cloud/`); *filter suites + Nova PCI regression* is",
        "`tests/nova_in_process/test_filter_*.py` (Nova's PCI regression included)",
        "only (the default before the env was widened).  Counts are test cases",
        "(subtests not counted); totals differ between releases only in",
        "`test_filter_nova_pci_regression.py`, which runs the Nova release's own PCI",
        "functional tests (31 on Nova 29, 41 on 31, 43 from 32 on).  Run times",
        "were measured on a 2-core machine running other jobs at the same time;",
        "*load* is the machine's 15-minute load average when the run ended.",
        "",
    ]
    if notes.is_file():
        text += [notes.read_text().rstrip(), ""]
    pathlib.Path(out).write_text("\n".join(text))
    # The raw results the table was made from, kept beside it.
    pathlib.Path(out).with_suffix(".json").write_text(
        json.dumps(results, indent=2) + "\n"
    )


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "record":
        if "--" not in sys.argv:
            sys.exit("usage: support_table.py record ENV PYTHON -- CMD...")
        i = sys.argv.index("--")
        env, python = sys.argv[2:4]
        return record(env, python, sys.argv[i + 1 :])
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["render"])
    ap.add_argument("--out", default=str(ROOT / "docs" / "support.md"))
    a = ap.parse_args()
    render(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
