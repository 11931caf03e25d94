#!/usr/bin/env python3
"""Benchmark: the exporter's HTTP server under many idle connections (issue
22; not a timed test).

Starts the installed ``aggregate-pci exporter`` on a small inventory in its
own process, opens N idle TCP connections to it (default 3,000; the open-file
limit of this process is raised to fit), then reports the server process's
threads (from /proc) and the time of one ``/metrics`` scrape while they are
open, and again after they are closed.  The server caps connection threads
(``metrics_server.MAX_CONNECTIONS``) and gives each connection a read
timeout, so the thread count must stay near that cap and the scrape must
still answer.

Usage: tools/bench/exporter_connections.py [--connections 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

INVENTORY = {
    "format": "aggregate-pci-inventory",
    "version": 1,
    "aggregates": [
        {
            "name": "gpu",
            "hosts": ["c1"],
            "metadata": {"pci_flavor:a100": '{"vendor_id":"10de","product_id":"20b5"}'},
        }
    ],
    "hosts": {
        "c1": [
            {"vendor_id": "10de", "product_id": "20b5", "dev_type": "type-PCI",
             "address": "0000:81:00.0", "count": 2, "used": 0}
        ]
    },
    "nova_flavors": [],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def threads_of(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise RuntimeError("no Threads line for pid %d" % pid)


def scrape(port: int) -> float:
    start = time.monotonic()
    url = "http://127.0.0.1:%d/metrics" % port
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
    assert b"aggregate_pci_up 1.0" in body, body[:200]
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=3000)
    args = parser.parse_args()
    exe = shutil.which("aggregate-pci") or os.path.join(
        os.path.dirname(sys.executable), "aggregate-pci"
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 100
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    with tempfile.TemporaryDirectory() as tmp:
        inv = os.path.join(tmp, "inventory.json")
        with open(inv, "w") as f:
            json.dump(INVENTORY, f)
        port = free_port()
        server = subprocess.Popen(
            [exe, "exporter", "--inventory", inv, "--listen", "127.0.0.1:%d" % port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    idle_scrape = scrape(port)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            base = threads_of(server.pid)
            socks = []
            refused = 0
            start = time.monotonic()
            for _ in range(args.connections):
                s = socket.socket()
                s.settimeout(5)
                try:
                    s.connect(("127.0.0.1", port))
                    socks.append(s)
                except OSError:
                    refused += 1
                    s.close()
            opened = time.monotonic() - start
            time.sleep(2)
            loaded = threads_of(server.pid)
            loaded_scrape = scrape(port)
            for s in socks:
                s.close()
            time.sleep(2)
            after = threads_of(server.pid)
            after_scrape = scrape(port)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("load average: %.2f %.2f %.2f" % os.getloadavg())
    print("idle connections opened: %d (%d refused) in %.1f s"
          % (len(socks), refused, opened))  # fmt: skip
    print("server threads: %d before, %d with them open, %d after they closed"
          % (base, loaded, after))  # fmt: skip
    print("scrape: %.3f s before, %.3f s with them open, %.3f s after"
          % (idle_scrape, loaded_scrape, after_scrape))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
