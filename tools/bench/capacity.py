#!/usr/bin/env python3
"""Benchmark of the admin tools (not a timed test).

1. ``capacity --inventory`` over 10,000 hosts x 16 pools x 20 PCI flavors
   (overlapping definitions, hosts in two aggregates): wall time and peak RSS
   of the whole command run in-process (load, compute, format).
2. ``check`` over 1,000 aggregates x 20 flavors against a requests-mock Nova:
   the number of API calls (must be O(aggregates) or better, never
   O(aggregates x flavors)).

Usage: tools/bench/capacity.py [--hosts 10000] [--aggregates 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import requests_mock  # noqa: E402
from keystoneauth1 import noauth  # noqa: E402
from keystoneauth1 import session as ks_session  # noqa: E402

from aggregate_pci.admin.nova_io import client  # noqa: E402
from aggregate_pci.cli import shell  # noqa: E402

PRODUCTS = ["20b5", "1eb8", "1db4", "2236", "2331", "1df6", "101e", "1017"]
PHYSNETS = ["physnet1", "physnet2"]


def flavors() -> dict[str, str]:
    """20 definitions: singles, ORs (overlapping), address globs, tags."""
    out = {}
    for i, p in enumerate(PRODUCTS):
        out["single-%d" % i] = json.dumps({"vendor_id": "10de", "product_id": p})
    for i in range(4):
        out["pair-%d" % i] = json.dumps(
            [
                {"vendor_id": "10de", "product_id": PRODUCTS[i]},
                {"vendor_id": "10de", "product_id": PRODUCTS[i + 1]},
            ]
        )
    for i in range(4):
        out["slot-%d" % i] = json.dumps(
            {
                "vendor_id": "10de",
                "product_id": PRODUCTS[i],
                "address": "0000:8%d:*" % i,
            }
        )
    for i in range(4):
        out["net-%d" % i] = json.dumps(
            {
                "vendor_id": "10de",
                "product_id": PRODUCTS[4 + i],
                "physical_network": PHYSNETS[i % 2],
            }
        )
    assert len(out) == 20
    return out


def host_pools(rng: random.Random) -> list[dict]:
    """One host's 16 pools: random products, physnets, free and used."""
    return [
        {
            "vendor_id": "10de",
            "product_id": rng.choice(PRODUCTS),
            "dev_type": "type-PCI",
            "numa_node": s % 2,
            "address": "0000:%02x:00.0" % (0x80 + s),
            "physical_network": rng.choice(PHYSNETS),
            "count": rng.randint(0, 4),
            "used": rng.randint(0, 2),
        }
        for s in range(16)
    ]


def host_names(n_hosts: int) -> list[str]:
    """The hosts' names, sorted."""
    return sorted("host-%05d" % h for h in range(n_hosts))


def aggregates(names: list[str], racks: int = 100) -> list[dict]:
    """``racks`` aggregates defining the 20 PCI flavors, each host in one,
    and every tenth host also in an overlay with wider definitions."""
    defs = flavors()
    meta = {"pci_flavor:" + k: v for k, v in defs.items()}
    out = [
        {"name": "rack-%03d" % a, "hosts": names[a::racks], "metadata": meta}
        for a in range(racks)
    ]
    wide = {"pci_flavor:single-%d" % i: defs["pair-%d" % (i % 4)] for i in range(5)}
    out.append({"name": "overlay", "hosts": names[::10], "metadata": wide})
    return out


def make_inventory(n_hosts: int, seed: int = 1) -> dict:
    """The whole inventory document in memory (tools_scale.py streams it)."""
    rng = random.Random(seed)
    hosts = {"host-%05d" % h: host_pools(rng) for h in range(n_hosts)}
    return {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": aggregates(sorted(hosts)),
        "hosts": hosts,
    }


def bench_capacity(n_hosts: int) -> None:
    doc = make_inventory(n_hosts)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    try:
        size = os.path.getsize(f.name)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        rc = shell.main(
            ["capacity", "--inventory", f.name, "-f", "value"], stdout=out, stderr=err
        )
        elapsed = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        os.unlink(f.name)
    if rc:
        sys.exit("capacity failed: %s" % err.getvalue())
    rows = out.getvalue().count("\n")
    total = [line for line in out.getvalue().splitlines() if " total " in line]
    print(
        "capacity: %d hosts x 16 pools x 20 PCI flavors (%d aggregates, "
        "inventory %.1f MB): %.2f s, %d rows, peak RSS %.0f MB "
        "(%.0f MB before the command)"
        % (
            n_hosts,
            len(doc["aggregates"]),
            size / 1e6,
            elapsed,
            rows,
            rss_after / 1024,
            rss_before / 1024,
        )
    )
    print("  e.g. %s" % total[0] if total else "  no totals?")


def bench_check(n_aggs: int) -> None:
    url = "http://nova.bench/v2.1"
    meta = {"pci_flavor:" + k: v for k, v in flavors().items()}
    aggs = [
        {
            "id": i,
            "name": "agg-%d" % i,
            "uuid": "u%d" % i,
            "hosts": ["h%d" % i],
            "metadata": meta,
            "availability_zone": None,
        }
        for i in range(n_aggs)
    ]
    nova_flavors = [
        {
            "id": str(i),
            "name": "f%d" % i,
            "links": [],
            "extra_specs": {"pci_passthrough:alias": "single-%d:1" % (i % 8)},
        }
        for i in range(50)
    ]
    with requests_mock.Mocker() as m:
        m.get(url + "/os-aggregates", json={"aggregates": aggs})
        m.get(
            url + "/flavors/detail",
            json=lambda r, c: {"flavors": [] if "marker" in r.qs else nova_flavors},
        )
        sess = ks_session.Session(auth=noauth.NoAuth(endpoint=url))
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        rc = shell.main(
            ["check", "-f", "value"],
            stdout=out,
            stderr=err,
            admin_factory=lambda: client.PciFlavorAdmin(sess),
        )
        elapsed = time.perf_counter() - start
        calls = len(m.request_history)
    print(
        "check: %d aggregates x 20 PCI flavors, 50 Nova flavors: %d API calls "
        "(%s), %.2f s, exit %d"
        % (
            n_aggs,
            calls,
            ", ".join(sorted({r.path for r in m.request_history})),
            elapsed,
            rc,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--aggregates", type=int, default=1000)
    args = parser.parse_args()
    bench_capacity(args.hosts)
    bench_check(args.aggregates)


if __name__ == "__main__":
    main()
