#!/usr/bin/env python3
"""Benchmark of the Nova-database path (``--config-file``) at fleet scale
(issue 21; not a timed test).

Builds Nova's API and cell databases (sqlite files, Nova's own schema) with
the fleet of tools/bench/tools_scale.py (tools/bench/novadb_fleet.py), then
runs each command as its own process with ``--config-file`` and prints its
wall time, CPU time (user + system), peak RSS and output size, as
tools_scale.py does with ``--inventory``.

With ``--compare``, also writes the inventory file tools_scale.py would
write for the same fleet, and compares it with what ``inventory export``
reads from the databases (after normalising what Nova cannot store the same
way: per-device pools, tags of used devices), and the outputs of
``capacity``/``audit`` from both sources.

Usage: tools/bench/novadb_scale.py [--hosts 10000] [--dir DIR]
       [--only capacity,audit,...] [--outputs DIR] [--compare]
       [--code DIR] [--repeat N] [--cells N] [--against DIR]

``--code DIR`` runs the ``aggregate_pci`` package found in DIR (another
checkout, Nova from this interpreter's environment); ``--repeat N`` runs
each command N times and shows the least time (this machine is shared:
noise only adds time) and each run's CPU time.  ``--cells N`` spreads the
same fleet over N cell databases (hosts in N equal runs), to compare a
multi-cell cloud's reads with one cell's (outputs should be identical).
``--against DIR`` alternates each run with one of DIR's code, as
tools_scale.py does (the least CPU of each, their ratio, and whether the
outputs were byte-identical).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import novadb_fleet  # noqa: E402
import tools_scale  # noqa: E402


def commands(conf: str, tmp: str) -> dict[str, list[str]]:
    """The command lines timed, by label."""
    src = ["--config-file", conf]
    return {
        "capacity": ["capacity", *src, "-f", "value"],
        "capacity --fit": ["capacity", *src, "--fit", "nf-12"],
        "explain --request": ["explain", *src, "--request", "pair-0:2"],
        "audit": ["audit", *src, "-f", "value"],
        "audit --summary": ["audit", *src, "--summary"],
        "exporter --once": [
            "exporter",
            *src,
            "--nova-conf",
            conf,
            "--once",
            "--textfile",
            os.path.join(tmp, "m.prom"),
        ],
        "exporter --once --audit": [
            "exporter",
            *src,
            "--audit",
            "--nova-conf",
            conf,
            "--once",
            "--textfile",
            os.path.join(tmp, "ma.prom"),
        ],
        "inventory export": [
            "inventory",
            "export",
            *src,
            "-o",
            os.path.join(tmp, "export.json"),
        ],
    }


def alias_lines(n_hosts: int) -> str:
    """``[pci] alias`` entries for every PCI flavor of the aggregates, one
    per vendor/product each definition matches (``device_type`` set, as Nova
    requires of several entries of one name); the bench's flavors are too
    loose for ``alias-config``, which refuses them."""
    names = novadb_fleet.bench_capacity.host_names(n_hosts)
    ids: dict[str, set] = collections.defaultdict(set)
    for agg in novadb_fleet.bench_capacity.aggregates(names[:200]):
        for key, value in agg["metadata"].items():
            spec = json.loads(value)
            for m in spec if isinstance(spec, list) else [spec]:
                ids[key.split(":", 1)[1]].add((m["vendor_id"], m["product_id"]))
    return "[pci]\n" + "".join(
        "alias = %s\n"
        % json.dumps(
            {"name": name, "vendor_id": v, "product_id": p, "device_type": "type-PCI"}
        )
        for name in sorted(ids)
        for v, p in sorted(ids[name])
    )


def _normal(doc: dict[str, Any]) -> dict[str, Any]:
    """What both sources must agree on: aggregates (name, hosts, metadata),
    Nova flavors, per host and slot the free/used devices by product (free
    ones with their physnet), allocations without device tags."""
    hosts = {}
    for host, pools in doc["hosts"].items():
        slots: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
        for p in pools:
            key = (p["address"][:7], p["product_id"], p["numa_node"], p["dev_type"])
            slots[key][0] += p["count"]
            slots[key][1] += p["used"]
            if p["count"]:
                slots[key + (p.get("physical_network"),)][0] += p["count"]
        hosts[host] = sorted((k, tuple(v)) for k, v in slots.items() if any(v))
    allocs = sorted(
        (
            a["instance"],
            a["host"],
            a.get("name"),
            a.get("project"),
            a.get("nova_flavor"),
            json.dumps(a["requests"], sort_keys=True),
            json.dumps(
                [{k: v for k, v in d.items() if k != "tags"} for d in a["devices"]],
                sort_keys=True,
            ),
        )
        for a in doc.get("allocations", [])
    )
    return {
        "aggregates": sorted(
            (a["name"], sorted(a["hosts"]), sorted(a["metadata"].items()))
            for a in doc["aggregates"]
        ),
        "nova_flavors": sorted(
            json.dumps(f, sort_keys=True) for f in doc["nova_flavors"]
        ),
        "hosts": hosts,
        "allocations": allocs,
    }


def compare(n_hosts: int, conf: str, tmp: str, export: str) -> None:
    """Print how the exported databases and the generator's file differ."""
    inv = os.path.join(tmp, "inventory.json")
    tools_scale.write_inventory(inv, n_hosts)
    with open(inv) as f, open(export) as g:
        a, b = _normal(json.load(f)), _normal(json.load(g))
    for key in a:
        same = a[key] == b[key]
        print("compare %-13s %s" % (key, "same" if same else "DIFFERENT"))
        if not same and isinstance(a[key], dict):
            bad = [h for h in a[key] if a[key][h] != b[key].get(h)]
            print("  %d hosts differ, e.g. %s" % (len(bad), bad[:3]))
    for label in ("capacity", "audit"):
        outs = []
        for src in (["--inventory", inv], ["--config-file", conf]):
            r = subprocess.run(
                [
                    os.path.join(os.path.dirname(sys.executable), "aggregate-pci"),
                    label,
                    *src,
                    "-f",
                    "value",
                ],
                capture_output=True,
                text=True,
            )
            outs.append(r.stdout.splitlines())
        diff = sorted(set(outs[0]) ^ set(outs[1]))
        print(
            "compare %-13s %d vs %d lines, %d differ%s"
            % (
                label,
                len(outs[0]),
                len(outs[1]),
                len(diff),
                (": e.g. %s" % diff[:4]) if diff else "",
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument(
        "--dir",
        default=os.path.join(tempfile.gettempdir(), "aggregate-pci-bench"),
        help="where the databases are built, and reused if there",
    )
    parser.add_argument("--only", help="comma-separated labels of commands to run")
    parser.add_argument("--outputs", help="keep the commands' outputs here")
    parser.add_argument("--compare", action="store_true")
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
    parser.add_argument(
        "--regenerate", action="store_true", help="rebuild existing databases"
    )
    parser.add_argument(
        "--cells",
        type=int,
        default=1,
        help="cell databases the same fleet is spread over (in equal runs)",
    )
    args = parser.parse_args()
    tools_scale.code_dir(parser, args.code)
    tools_scale.code_dir(parser, args.against)
    tmp = args.outputs or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    tag = "%d" % args.hosts + ("-%dcells" % args.cells if args.cells > 1 else "")
    conf = os.path.join(args.dir, "novadb-%s-nova.conf" % tag)
    if args.regenerate or not os.path.exists(conf):
        start = time.perf_counter()
        counts = novadb_fleet.write_dbs(args.dir, args.hosts, cells=args.cells)
        with open(conf, "a") as f:
            f.write(alias_lines(args.hosts))
        print(
            "generated %(hosts)d hosts, %(instances)d instances, %(devices)d "
            "PCI devices" % counts + " in %.1f s" % (time.perf_counter() - start)
        )
    ours = ["api", *("cell%d" % n for n in range(args.cells + 1))]
    for name in ("novadb-%s-%s.sqlite" % (tag, db) for db in ours):
        if os.path.exists(os.path.join(args.dir, name)):
            size = os.path.getsize(os.path.join(args.dir, name)) / 1e6
            print("database %s: %.0f MB" % (name, size))
    tools_scale.run_all(
        commands(conf, tmp),
        tmp,
        args.only,
        args.code,
        width=24,
        repeat=args.repeat,
        against=args.against,
    )
    if args.compare:
        compare(args.hosts, conf, tmp, os.path.join(tmp, "export.json"))


if __name__ == "__main__":
    main()
