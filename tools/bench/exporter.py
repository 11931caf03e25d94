#!/usr/bin/env python3
"""Benchmark of the Prometheus exporter's refresh (not a timed test).

Over the inventory of tools/bench/capacity.py (10,000 hosts x 16 pools x 20
PCI flavors, 101 aggregates) plus 20 Nova flavors requesting PCI flavors, in
one run, each phase in a fresh Python process (so peak RSS is its own):

- ``capacity``: ``capacity --inventory FILE`` in-process (load, compute,
  format), as tools/bench/capacity.py times it;
- ``exporter``: one ``Exporter.refresh()`` (load the file, capacity rows,
  instances that fit per Nova flavor, alias drift against a nova.conf), then
  one scrape (the text exposition);
- ``exporter --per-host``: the same with the per-host series.

Targets (issue 12): refresh < 5 s, peak memory < 500 MB.

Usage: tools/bench/exporter.py [--hosts 10000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)


def nova_flavors() -> list[dict]:
    """20 Nova flavors: each single and pair PCI flavor x1 or x2, slots and
    networks, and combinations of two PCI flavors."""
    specs = ["single-%d:1" % i for i in range(8)]
    specs += ["pair-%d:2" % i for i in range(4)]
    specs += ["slot-%d:1" % i for i in range(4)]
    specs += ["net-0:1,single-1:1", "net-1:2", "pair-0:1,single-5:1", "net-3:1"]
    return [
        {
            "name": "nf-%02d" % i,
            "id": str(i),
            "extra_specs": {"pci_passthrough:alias": s},
        }
        for i, s in enumerate(specs)
    ]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, path: str, nova_conf: str) -> dict:
    """Run one phase in this process; figures as a dict."""
    from aggregate_pci.admin import inventory_stream
    from aggregate_pci.admin.exporter import metrics_server
    from aggregate_pci.cli import shell

    base = rss_mb()
    if name == "capacity":
        out, err = io.StringIO(), io.StringIO()
        start, cpu = time.perf_counter(), time.process_time()
        rc = shell.main(
            ["capacity", "--inventory", path, "-f", "value"], stdout=out, stderr=err
        )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if rc:
            sys.exit("capacity failed: %s" % err.getvalue())
        return {
            "seconds": elapsed,
            "cpu": cpu,
            "rows": out.getvalue().count("\n"),
            "base_mb": base,
            "peak_mb": rss_mb(),
        }
    from prometheus_client import generate_latest

    exp = metrics_server.Exporter(
        lambda: inventory_stream.load(path),
        nova_conf=nova_conf,
        per_host=name == "exporter-per-host",
    )
    start, cpu = time.perf_counter(), time.process_time()
    ok = exp.refresh()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not ok:
        sys.exit("refresh failed: %s" % exp.last_error)
    start = time.perf_counter()
    text = generate_latest(metrics_server.registry(exp))
    scrape = time.perf_counter() - start
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    return {
        "seconds": elapsed,
        "cpu": cpu,
        "scrape_seconds": scrape,
        "series": series,
        "bytes": len(text),
        "base_mb": base,
        "peak_mb": rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--inventory", help=argparse.SUPPRESS)
    parser.add_argument("--nova-conf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.inventory, args.nova_conf)))
        return

    import capacity as bench_capacity  # tools/bench/capacity.py, beside this file

    doc = bench_capacity.make_inventory(args.hosts)
    doc["nova_flavors"] = nova_flavors()
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "inventory.json")
    conf = os.path.join(tmp, "nova.conf")
    try:
        with open(path, "w") as f:
            json.dump(doc, f)
        with open(conf, "w") as f:
            f.write(
                "[pci]\n"
                'alias = {"name": "single-6", "vendor_id": "10de", "product_id": "1df6"}\n'
                'alias = {"name": "old", "vendor_id": "8086", "product_id": "1"}\n'
            )
        print("load average before: %.2f %.2f %.2f" % os.getloadavg())
        print(
            "input: %d hosts x 16 pools x 20 PCI flavors, %d aggregates, %d Nova "
            "flavors, inventory %.1f MB"
            % (
                args.hosts,
                len(doc["aggregates"]),
                len(doc["nova_flavors"]),
                os.path.getsize(path) / 1e6,
            )
        )
        del doc
        for name in ("capacity", "exporter", "exporter-per-host"):
            out = subprocess.run(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--phase",
                    name,
                    "--inventory",
                    path,
                    "--nova-conf",
                    conf,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            if name == "capacity":
                print(
                    "capacity --inventory: %.2f s (%.2f s CPU), %d rows, peak RSS "
                    "%.0f MB (%.0f MB after imports)"
                    % (r["seconds"], r["cpu"], r["rows"], r["peak_mb"], r["base_mb"])
                )
            else:
                print(
                    "%s refresh: %.2f s (%.2f s CPU), peak RSS %.0f MB (%.0f MB "
                    "after imports); one scrape %.2f s, %d series, %.1f MB of text"
                    % (
                        name,
                        r["seconds"],
                        r["cpu"],
                        r["peak_mb"],
                        r["base_mb"],
                        r["scrape_seconds"],
                        r["series"],
                        r["bytes"] / 1e6,
                    )
                )
                print(
                    "  targets: refresh < 5 s: %s wall, %s CPU; memory < 500 MB: %s"
                    % (
                        "MET" if r["seconds"] < 5 else "NOT MET",
                        "MET" if r["cpu"] < 5 else "NOT MET",
                        "MET" if r["peak_mb"] < 500 else "NOT MET",
                    )
                )
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        for name in (path, conf):
            if os.path.exists(name):
                os.unlink(name)
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
