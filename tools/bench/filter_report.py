"""The filter benchmark's printed figures (tools/bench/filter.py)."""

from __future__ import annotations

import argparse
from typing import Any, Sequence


def report(
    res: dict[str, Any],
    args: argparse.Namespace,
    wanted: Sequence[tuple[str, int]],
    out: Any,
) -> None:
    """Print the figures."""
    n = res["hosts"]

    def line(text: str) -> None:
        print(text, file=out)

    def us_per_host(key: str) -> float:
        return res[key + "_s"] / n * 1e6

    line(
        "scenario=%s hosts=%d aggregates=%d request=%s seed=%d repeat=%d "
        "(Nova with NUMA: %d)%s"
        % (
            args.scenario,
            n,
            args.aggregates,
            ",".join("%s:%d" % w for w in wanted),
            args.seed,
            args.repeat,
            min(args.full_repeat, args.repeat),
            " clock=CPU time" if getattr(args, "cpu_time", False) else "",
        )
    )
    line(
        "managed PCI flavor names: %s (agg_filter.managed_flavor_names "
        "patched to return this set, computed from the benchmark's "
        "aggregates)" % ",".join(res["managed"])
    )
    if res["ports"]:
        line(
            "Neutron ports: %s; [aggregate_pci] manage_port_requests = %s, "
            "managed physical networks: %s (agg_filter.flavor_definition_values "
            "patched to return the aggregates' pci_flavor:* values)"
            % (
                "; ".join(
                    ",".join("%s=%s" % kv for kv in sorted(p.items()))
                    for p in res["ports"]
                ),
                str(res["manage_ports"]).lower(),
                ",".join(res["physnets"]) or "none",
            )
        )
    line(
        "%-46s %12s %12s %10s %8s"
        % (
            "filter (median of interleaved runs)",
            "ms/request",
            "us/host",
            "min ms/req",
            "passed",
        )
    )
    labels = (
        ("ours", "AggregatePciFilter"),
        ("nova_full", "PciPassthroughFilter (NUMA attached)"),
        ("nova_pools", "PciPassthroughFilter (pool logic only)"),
    )
    for key, label in labels:
        if key + "_s" in res:
            line(
                "%-46s %12.1f %12.2f %10.1f %8d"
                % (
                    label,
                    res[key + "_s"] * 1e3,
                    us_per_host(key),
                    res[key + "_min_s"] * 1e3,
                    res[key + "_passed"],
                )
            )
    if "ours_defined_s" in res:
        per = res["ours_defined_us_per_host"]
        line(
            "%-46s %12.1f %12.2f %10.1f %8d"
            % (
                "AggregatePciFilter, hosts in defining aggs",
                res["ours_defined_s"] * 1e3,
                per,
                res["ours_defined_min_s"] * 1e3,
                res["ours_defined_passed"],
            )
        )
    line(
        "AggregatePciFilter first (cold cache) request: %.1f ms"
        % (res["ours_cold_s"] * 1e3)
    )
    line("ratio ours / nova pool-logic-only: %.3f" % res["ratio_pools"])
    line(
        "hosts on which one request replays the compute's claim: %d of %d "
        "(%.3f replays per host)" % (res["claim_replays"], n, res["claim_replays"] / n)
    )
    if "ours_defined_us_per_host" in res:
        line(
            "per-host ratio on the %d hosts that reach the pool check "
            "(every requested flavor defined for them): %.3f"
            % (
                res["defined_hosts"],
                res["ours_defined_us_per_host"] / us_per_host("nova_pools"),
            )
        )
    if "ratio_full" in res:
        line("ratio ours / nova full:            %.4f" % res["ratio_full"])
    line(
        "target (ours <= 1/4 of nova pool-logic-only per request): %s"
        % ("MET" if res["target_met"] else "NOT MET")
    )
    line(
        "scheduler decisions (ours and PciPassthroughFilter) vs brute-force "
        "reference replaying Nova's greedy claim: %d sampled hosts (%s), "
        "%d mismatches%s"
        % (
            res["sample"],
            ", ".join("%s %d" % kv for kv in res["sample_outcomes"].items()),
            res["mismatches"],
            (" e.g. %s" % res["mismatch_hosts"]) if res["mismatches"] else "",
        )
    )
    if "kept_objects" in res:
        line(
            "objects one request keeps alive (gc-tracked, its memo): %d "
            "(%.1f per host)" % (res["kept_objects"], res["kept_objects"] / n)
        )
    e = res["cache_entries"]
    line(
        "filter caches: %s entries (limit %d per cache), %.1f KiB held "
        "(tracemalloc)"
        % (
            ", ".join("%s=%d" % kv for kv in e.items()),
            res["cache_limit"],
            res["cache_bytes"] / 1024,
        )
    )
    if args.db_query:
        q = res.get("db_query_s")
        line(
            "real managed_flavor_names on a sqlite API DB: %s"
            % ("not measured" if q is None else "%.2f ms per request" % (q * 1e3))
        )
    if res.get("profile"):
        line("cProfile of one AggregatePciFilter request:")
        line(res["profile"])
