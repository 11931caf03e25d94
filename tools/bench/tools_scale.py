#!/usr/bin/env python3
"""Benchmark of the offline tools at fleet scale (issue 21; not a timed test).

Writes an inventory of N hosts (the pools and aggregates of
tools/bench/capacity.py, 1 rack aggregate per 100 hosts plus an overlay, the
20 Nova flavors of tools/bench/exporter.py, and one instance per used pool
holding its used devices) streamed to a file, host by host, so generating
100,000 hosts does not hold the document in memory.  Then runs each command
as its own process (``aggregate-pci`` of this interpreter's environment) and
prints its wall time, CPU time (user + system), peak RSS and output size.

Targets (issue 21): each command under 5 s at 10,000 hosts, under 30 s and
2 GB at 100,000 hosts.

Usage: tools/bench/tools_scale.py [--hosts 10000] [--keep FILE]
       [--only capacity,check,...] [--outdir DIR] [--code DIR] [--repeat N]
       [--against DIR]

``--outdir`` keeps each command's output (``out-N``, ``out-N.err``, the
exporter's ``m.prom``) in DIR, to compare two versions' outputs with ``cmp``.
``--code DIR`` runs the ``aggregate_pci`` package found in DIR (a checkout,
e.g. ``git archive main``) instead of the installed one: an editable install
takes precedence over ``PYTHONPATH``, so this is how to time two versions
back to back with one environment.  ``--repeat N`` runs each command N
times in a row and shows the least time (a shared machine's noise only
adds time) and each run's CPU time.  ``--against DIR`` alternates each
run with one of DIR's code (``--code``'s way), so a machine drifting
slower or faster weighs on both, and prints the least CPU of each, their
ratio and whether the outputs were byte-identical.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import IO, Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capacity as bench_capacity  # noqa: E402  (tools/bench/capacity.py)
import exporter as bench_exporter  # noqa: E402  (tools/bench/exporter.py)


def allocations(host: str, pools: list[dict], n: int) -> list[dict]:
    """One instance per pool with used devices, holding them all."""
    out = []
    for s, pool in enumerate(pools):
        if not pool["used"]:
            continue
        product = bench_capacity.PRODUCTS.index(pool["product_id"])
        name = "single-%d" % product
        out.append(
            {
                "instance": "%08x-0000-4000-8000-%012x" % (n + len(out), s),
                "host": host,
                "name": "vm-%s-%d" % (host, s),
                "project": "p%d" % (s % 4),
                "nova_flavor": "nf-%02d" % product,
                "requests": [{"alias": name, "count": pool["used"]}],
                "devices": [
                    {
                        "address": "0000:%02x:00.%d" % (0x80 + s, d),
                        "parent_addr": None,
                        "vendor_id": pool["vendor_id"],
                        "product_id": pool["product_id"],
                        "dev_type": pool["dev_type"],
                        "numa_node": pool["numa_node"],
                        "alias": name,
                        "tags": {"physical_network": pool["physical_network"]},
                    }
                    for d in range(pool["used"])
                ],
            }
        )
    return out


def _write_list(f: IO[str], key: str, items: Any, first: bool = False) -> int:
    """Write ``"key": [item, ...]`` one item at a time; the item count."""
    f.write(("" if first else ",\n") + json.dumps(key) + ": [")
    n = 0
    for item in items:
        f.write((",\n" if n else "\n") + json.dumps(item))
        n += 1
    f.write("]")
    return n


def write_inventory(path: str, n_hosts: int, seed: int = 1) -> dict[str, int]:
    """Stream an inventory of ``n_hosts`` to ``path``; counts written."""
    names = bench_capacity.host_names(n_hosts)
    aggs = bench_capacity.aggregates(names, racks=max(100, n_hosts // 100))
    instances = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"format": "aggregate-pci-inventory", "version": 1,\n')
        _write_list(f, "aggregates", aggs, first=True)
        del aggs
        f.write(',\n"hosts": {')
        rng = random.Random(seed)
        # hosts go out in name order; allocations go to a side file, then
        # are appended (one pass over the hosts, nothing held whole)
        side = path + ".allocations"
        with open(side, "w", encoding="utf-8") as g:
            for i, host in enumerate(names):
                pools = bench_capacity.host_pools(rng)
                f.write(("," if i else "") + "\n" + json.dumps(host) + ": ")
                f.write(json.dumps(pools))
                for a in allocations(host, pools, instances):
                    g.write(json.dumps(a) + "\n")
                    instances += 1
        f.write("},\n")
        _write_list(f, "nova_flavors", bench_exporter.nova_flavors(), first=True)
        f.write(',\n"allocations": [')
        with open(side, encoding="utf-8") as g:
            for n, line in enumerate(g):
                f.write((",\n" if n else "\n") + line.rstrip("\n"))
        os.unlink(side)
        f.write("]}\n")
    return {
        "hosts": n_hosts,
        "aggregates": len(names) // 100 + 1,
        "instances": instances,
    }


NOVA_CONF = (
    "[pci]\n"
    'alias = {"name": "single-6", "vendor_id": "10de", "product_id": "1df6"}\n'
    'alias = {"name": "old", "vendor_id": "8086", "product_id": "1"}\n'
)


def commands(inv: str, tmp: str) -> dict[str, list[str]]:
    """The command lines timed, by label."""
    conf = os.path.join(tmp, "nova.conf")
    with open(conf, "w") as f:
        f.write(NOVA_CONF)
    return {
        "capacity": ["capacity", "--inventory", inv, "-f", "value"],
        "capacity --fit": ["capacity", "--inventory", inv, "--fit", "nf-12"],
        "explain --request": ["explain", "--inventory", inv, "--request", "pair-0:2"],
        "audit": ["audit", "--inventory", inv, "-f", "value"],
        "audit --summary": ["audit", "--inventory", inv, "--summary"],
        "check --offline": ["check", "--offline", "--inventory", inv],
        "exporter --once": [
            "exporter",
            "--inventory",
            inv,
            "--nova-conf",
            conf,
            "--once",
            "--textfile",
            os.path.join(tmp, "m.prom"),
        ],
    }


#: ``aggregate-pci`` from the package in ``sys.argv[1]`` (``--code``): the
#: editable install's finders go, the directory comes first on the path.
BOOT = (
    "import sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path "
    "if '__editable__' not in getattr(f, '__module__', '')]; "
    "sys.path.insert(0, sys.argv.pop(1)); "
    "from aggregate_pci.cli.shell import main; sys.exit(main())"
)


def run(argv: list[str], out_path: str, code: str | None = None) -> dict[str, float]:
    """Run one command in its own process; wall, CPU, peak RSS, output."""
    if code:
        cmd = [sys.executable, "-c", BOOT, os.path.abspath(code), *argv]
    else:
        cmd = [os.path.join(os.path.dirname(sys.executable), "aggregate-pci"), *argv]
    with open(out_path, "wb") as out, open(out_path + ".err", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "out_mb": os.path.getsize(out_path) / 1e6,
        "rc": proc.returncode,
    }


def code_dir(parser: argparse.ArgumentParser, path: str | None) -> str | None:
    """``path`` (``--code``/``--against``) if it holds an ``aggregate_pci``
    package; else the parser's error: a wrong path would silently time the
    package found first (the current directory's)."""
    if path is not None and not os.path.isfile(
        os.path.join(path, "aggregate_pci", "__init__.py")
    ):
        parser.error("%s has no aggregate_pci package (a checkout of it)" % path)
    return path


def run_all(
    cmds: dict[str, list[str]],
    tmp: str,
    only: str | None,
    code: str | None = None,
    width: int = 20,
    repeat: int = 1,
    against: str | None = None,
) -> None:
    """Run the commands labelled in ``only`` (all if None), one process
    each, ``repeat`` times in a row, printing a table row per command
    between two load averages: the least wall and CPU time of the runs (a
    shared machine only ever adds time) and, with ``repeat`` > 1, every
    run's CPU time.  With ``against`` (a directory's code), each run of a
    command alternates with a run of ``against``'s, and the row compares
    them (``_against_row``)."""
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    wanted = set(only.split(",")) if only else None
    row = "%%-%ds %%8s %%8s %%9s %%9s %%3s" % width
    if against:
        print(
            "%%-%ds %%10s %%8s %%6s %%8s %%5s  cpu s of each run (theirs / now)"
            % width
            % ("command", "cpu: theirs", "cpu: now", "ratio", "peak MB", "same")
        )
    else:
        head = row % ("command", "wall s", "cpu s", "peak MB", "out MB", "rc")
        print(head + ("  cpu s of each run" if repeat > 1 else ""))
    for n, (name, argv) in enumerate(cmds.items()):
        if wanted and name not in wanted:
            continue
        out = os.path.join(tmp, "out-%d" % n)
        if against:
            _against_row(name, argv, out, code, against, repeat, width)
            continue
        runs = [run(argv, out, code) for _ in range(repeat)]
        r = runs[-1]
        cells = (
            "%.1f" % min(x["wall"] for x in runs),
            "%.1f" % min(x["cpu"] for x in runs),
            "%.0f" % max(x["rss_mb"] for x in runs),
        )
        rcs = sorted({x["rc"] for x in runs})
        each = "  " + " ".join("%.1f" % x["cpu"] for x in runs) if repeat > 1 else ""
        print(
            row % (name, *cells, "%.1f" % r["out_mb"], ",".join(map(str, rcs))) + each,
            flush=True,
        )
        if set(rcs) - {0, 1}:
            with open(out + ".err", encoding="utf-8") as f:
                print("  stderr: %s" % f.read()[-500:])
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


def _against_row(
    name: str,
    argv: list[str],
    out: str,
    code: str | None,
    against: str,
    repeat: int,
    width: int,
) -> None:
    """One command, ``against``'s code and this one's in alternate runs
    (the machine's drift falls on both): least CPU of each, their ratio
    (now / theirs), the peak RSS of both, and whether their standard
    output and error were byte-identical in every run."""
    theirs: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    same = True
    for _ in range(repeat):
        theirs.append(run(argv, out + "-theirs", against))
        ours.append(run(argv, out, code))
        same = same and all(
            filecmp.cmp(out + "-theirs" + ext, out + ext, shallow=False)
            for ext in ("", ".err")
        )
    least = min(x["cpu"] for x in theirs), min(x["cpu"] for x in ours)
    print(
        "%%-%ds %%10.1f %%8.1f %%6.2f %%8s %%5s  %%s"
        % width
        % (
            name,
            *least,
            least[1] / least[0],
            "%.0f/%.0f"
            % (max(x["rss_mb"] for x in theirs), max(x["rss_mb"] for x in ours)),
            "yes" if same else "NO",
            " ".join(
                "%.1f/%.1f" % (a["cpu"], b["cpu"])
                for a, b in zip(theirs, ours, strict=True)
            ),
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument(
        "--keep",
        metavar="FILE",
        help="write (or reuse, if it exists) the inventory here",
    )
    parser.add_argument("--only", help="comma-separated labels of commands to run")
    parser.add_argument(
        "--outdir", metavar="DIR", help="keep the commands' outputs in DIR"
    )
    parser.add_argument(
        "--code", metavar="DIR", help="run the aggregate_pci package of DIR"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each command (least shown)"
    )
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="alternate each run with one of DIR's aggregate_pci and compare",
    )
    args = parser.parse_args()
    code_dir(parser, args.code)
    code_dir(parser, args.against)
    tmp = args.outdir or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    inv = args.keep or os.path.join(tmp, "inventory.json")
    if not os.path.exists(inv):
        start = time.perf_counter()
        counts = write_inventory(inv, args.hosts)
        print(
            "generated %(hosts)d hosts x 16 pools, %(aggregates)d aggregates, "
            "%(instances)d instances"
            % counts
            + " in %.1f s" % (time.perf_counter() - start)
        )
    print("inventory %s: %.0f MB" % (inv, os.path.getsize(inv) / 1e6))
    run_all(
        commands(inv, tmp),
        tmp,
        args.only,
        args.code,
        repeat=args.repeat,
        against=args.against,
    )
    if not args.keep and not args.outdir:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
