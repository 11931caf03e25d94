#!/usr/bin/env python3
"""Benchmark AggregatePciFilter against Nova's PciPassthroughFilter.

Builds scheduler inputs with Nova's own objects (``HostState`` with
``PciDeviceStats`` pools and a NUMA topology, ``Aggregate`` objects carrying
``pci_flavor:NAME`` metadata, a ``RequestSpec`` with alias PCI requests),
times both filters on the same hosts, interleaved, checks our decisions
against the independent reference (tests/reference/) on a sample of hosts
and reports the memory held by the filter's caches.  Inputs:
filter_inputs.py; printed figures: filter_report.py (beside this file).  Progress goes to stderr, figures to stdout.

    python tools/bench/filter.py                # 10,000 hosts
    python tools/bench/filter.py --hosts 500 --repeat 3 --sample 100
    python tools/bench/filter.py --scenario ports --hosts 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import os
import pathlib
import pstats
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from typing import Any, Sequence
from unittest import mock

from nova import context as nova_context
from nova.scheduler.filters import pci_passthrough_filter

from aggregate_pci import filter as agg_filter

HERE = pathlib.Path(__file__).resolve().parent
# The repository root first, for tests.reference (the one independent
# oracle: the only tests package a tool may import); this folder last, for
# the siblings (it then shadows no installed module).
sys.path.insert(0, str(HERE.parents[1]))
sys.path.append(str(HERE))
from filter_inputs import (  # noqa: E402  (tools/bench/filter_inputs.py)
    build_aggregates,
    build_hosts,
    build_request_spec,
    definition_values,
    log,
    managed_names,
    parse_ports,
    parse_requests,
)
from filter_report import report  # noqa: E402  (tools/bench/filter_report.py)

from tests.reference import (  # noqa: E402
    reference_claim_decision,
    reference_physnets,
    request_units,
)

#: Scenario -> default request.  In "claim", a100-slot8x (address glob) and
#: vf-net1 (physical_network) narrow below their alias; a100 does not; vf
#: does in one of its two definitions.
SCENARIOS = {
    "default": "gpu:2,vf-net1:1,vf:1",
    "claim": "a100:1,a100-slot8x:1,vf:1,vf-net1:1",
    "ports": "gpu:2",
}
#: Scenario -> default Neutron ports (``--ports``): in "ports", one direct
#: port on physnet1 and one on physnet2, both managed (vf-net1, vf-net2 and
#: one definition of vf fix them).
SCENARIO_PORTS = {"default": "", "claim": "", "ports": "physnet1,physnet2"}


# --- timing -------------------------------------------------------------------


def reset_candidates(hosts: Sequence[Any]) -> None:
    """Filters narrow ``allocation_candidates`` in place: give each host its
    one candidate back before the next pass."""
    for hs in hosts:
        hs.allocation_candidates = [{"mappings": {}}]


def set_numa(hosts: Sequence[Any], numas: Sequence[Any] | None) -> None:
    """Attach each host's NUMA topology (host and its pci_stats), or detach
    them all (``numas`` None)."""
    for i, hs in enumerate(hosts):
        topology = numas[i] if numas is not None else None
        hs.numa_topology = topology
        hs.pci_stats.numa_topology = topology


#: The clock of the timed passes: wall time, or with ``--cpu-time`` this
#: process's CPU time (on a shared machine, time spent waiting for a core
#: is not the filter's).
CLOCK = {"now": time.perf_counter}


def one_pass(filt: Any, hosts: Sequence[Any], spec: Any) -> tuple[float, list[Any]]:
    """Time ``list(filter.filter_all(hosts, spec))``, as Nova calls it."""
    reset_candidates(hosts)
    gc.collect()
    now = CLOCK["now"]
    t0 = now()
    passed = list(filt.filter_all(hosts, spec))
    return now() - t0, passed


def cache_bytes(hosts: Sequence[Any], spec: Any) -> tuple[dict[str, int], int]:
    """Entries and bytes a fresh, warmed filter holds (tracemalloc: memory
    freed when the filter object is dropped)."""
    gc.collect()
    tracemalloc.start()
    filt = agg_filter.AggregatePciFilter()
    reset_candidates(hosts)
    list(filt.filter_all(hosts, spec))
    reset_candidates(hosts)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    entries = filt.cache.memory()
    del filt
    gc.collect()
    freed = held - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return entries, freed


def kept_objects(filt: Any, hosts: Sequence[Any], spec: Any) -> int:
    """Garbage-collector-tracked objects one request leaves alive (its memo,
    kept until the next request): each adds to the pending count that
    triggers a full collection of the scheduler's whole heap (issue 21),
    which the timed passes hide by collecting before each pass."""
    agg_filter._MEMOS.clear()
    reset_candidates(hosts)
    gc.collect()
    before = len(gc.get_objects())
    list(filt.filter_all(hosts, spec))
    gc.collect()
    return len(gc.get_objects()) - before


def time_real_query(aggs: Sequence[Any]) -> float | None:
    """Median seconds of the real ``managed_flavor_names`` on a sqlite API
    DB holding ``aggs`` (None if it cannot be set up)."""
    from nova.db.api import api as api_db
    from nova.db.api import models
    from nova.objects import aggregate as aggregate_obj

    tmp = tempfile.mkdtemp(prefix="bench-apidb-")
    try:
        api_db.context_manager.configure(
            connection="sqlite:///" + os.path.join(tmp, "api.db")
        )
        models.BASE.metadata.create_all(api_db.get_engine())
        ctx = nova_context.get_admin_context()
        for agg in aggs:
            # The DB layer of Aggregate.create (which also sends notifications).
            aggregate_obj._aggregate_create_in_db(
                ctx, {"name": agg.name, "uuid": agg.uuid}, metadata=dict(agg.metadata)
            )
        got = agg_filter.managed_flavor_names(ctx)
        if got != managed_names(aggs):
            raise RuntimeError("API DB query returned %r" % sorted(got))
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            agg_filter.managed_flavor_names(ctx)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    except Exception as exc:  # optional figure: say why and go on
        log("real API DB query not timed: %r" % (exc,))
        return None


def check_sample(
    sample: Sequence[Any],
    spec: Any,
    managed: set[str],
    ours_ids: set[int],
    nova: Any,
    physnets: set[str] = frozenset(),
) -> dict[str, Any]:
    """Compare the scheduler's decision on each sampled host (our filter
    and Nova's PciPassthroughFilter, pool logic) with the reference."""
    log("checking %d sampled hosts against the brute-force reference" % len(sample))
    numas = [hs.numa_topology for hs in sample]
    set_numa(sample, None)
    reset_candidates(sample)
    nova_ids = {id(h) for h in nova.filter_all(sample, spec)}
    set_numa(sample, numas)
    requests = list(spec.pci_requests.requests)
    mismatches = []
    outcomes = dict.fromkeys(
        ("pass", "no-definition", "no-fit", "claim-fails", "claim-outside"), 0
    )
    for hs in sample:
        expect = reference_claim_decision(hs, requests, managed, physnets)
        outcomes[expect] += 1
        got = id(hs) in ours_ids and id(hs) in nova_ids
        if (expect == "pass") != got:
            mismatches.append(hs.host)
    return {
        "mismatches": len(mismatches),
        "mismatch_hosts": mismatches[:10],
        "sample": len(sample),
        "sample_outcomes": outcomes,
        "ours_sample_passed": sum(id(h) in ours_ids for h in sample),
    }


def count_replays(filt: Any, hosts: Sequence[Any], spec: Any) -> int:
    """Hosts on which one request replays the compute's claim."""
    from aggregate_pci.scheduler import claim

    calls = [0]
    orig = claim.replay_claim

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return orig(*args, **kwargs)

    reset_candidates(hosts)
    with mock.patch.object(claim, "replay_claim", counting):
        list(filt.filter_all(hosts, spec))
    return calls[0]


# --- main -------------------------------------------------------------------


def run(args: argparse.Namespace, out: Any = sys.stdout) -> dict[str, Any]:
    """Build inputs, check decisions, time the filters; return the figures."""
    CLOCK["now"] = time.process_time if args.cpu_time else time.perf_counter
    rng = random.Random(args.seed)
    wanted = parse_requests(args.request)
    t0 = time.perf_counter()
    aggs = build_aggregates(rng, args.aggregates)
    hosts = build_hosts(
        rng,
        args.hosts,
        aggs,
        interleaved=args.scenario == "claim",
        ports=args.scenario == "ports",
    )
    managed = managed_names(aggs)
    ports = parse_ports(args.ports)
    # [aggregate_pci] manage_port_requests: on when ports are requested,
    # unless --no-manage-ports (then no physical network is managed).
    manage_ports = bool(ports) and args.manage_ports
    physnets = reference_physnets(aggs) if manage_ports else set()
    ctx = nova_context.get_admin_context()
    spec = build_request_spec(ctx, wanted, aggs, ports)
    log("inputs built in %.1f s" % (time.perf_counter() - t0))
    numas = [hs.numa_topology for hs in hosts]

    res: dict[str, Any] = {
        "hosts": len(hosts),
        "managed": sorted(managed),
        "ports": ports,
        "physnets": sorted(physnets),
        "manage_ports": manage_ports,
    }
    values = definition_values(aggs)
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(
                agg_filter, "managed_flavor_names", lambda context: set(managed)
            )
        )
        stack.enter_context(
            mock.patch.object(
                agg_filter, "flavor_definition_values", lambda context: list(values)
            )
        )
        agg_filter.CONF.set_override(
            "manage_port_requests", manage_ports, group="aggregate_pci"
        )
        stack.callback(
            agg_filter.CONF.clear_override,
            "manage_port_requests",
            group="aggregate_pci",
        )
        ours = agg_filter.AggregatePciFilter()
        nova = pci_passthrough_filter.PciPassthroughFilter()

        cold, passed = one_pass(ours, hosts, spec)
        res["ours_cold_s"] = cold
        ours_ids = {id(h) for h in passed}
        res["ours_passed"] = len(passed)

        sample = rng.sample(hosts, min(args.sample, len(hosts)))
        res.update(check_sample(sample, spec, managed, ours_ids, nova, physnets))
        res["claim_replays"] = count_replays(ours, hosts, spec)

        requests = list(spec.pci_requests.requests)
        defined = [
            hs
            for hs in hosts
            if request_units(hs, requests, managed, physnets) is not None
        ]
        res["defined_hosts"] = len(defined)
        variants: list[tuple[str, Any, bool]] = [("ours", ours, True)]
        if args.full_repeat > 0:
            variants.append(("nova_full", nova, True))
        variants.append(("nova_pools", nova, False))
        times: dict[str, list[float]] = {k: [] for k, _, _ in variants}
        counts: dict[str, int] = {}
        for r in range(args.repeat):
            for key, filt, numa in variants:
                if key == "nova_full" and r >= args.full_repeat:
                    continue
                set_numa(hosts, numas if numa else None)
                dt, passed = one_pass(filt, hosts, spec)
                times[key].append(dt)
                counts[key] = len(passed)
                if key == "ours" and defined:
                    dt, passed = one_pass(filt, defined, spec)
                    times.setdefault("ours_defined", []).append(dt)
                    counts["ours_defined"] = len(passed)
            set_numa(hosts, numas)
            log(
                "round %d/%d: %s"
                % (
                    r + 1,
                    args.repeat,
                    ", ".join(
                        "%s %.3f s" % (k, v[-1])
                        for k, v in times.items()
                        if len(v) == r + 1
                    ),
                )
            )
        for key, vals in times.items():
            res[key + "_s"] = statistics.median(vals)
            res[key + "_min_s"] = min(vals)
            res[key + "_passed"] = counts[key]

        if args.profile:
            prof = cProfile.Profile()
            reset_candidates(hosts)
            prof.enable()
            list(ours.filter_all(hosts, spec))
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(
                args.profile
            )
            res["profile"] = buf.getvalue()

        res["kept_objects"] = kept_objects(ours, hosts, spec)
        log("measuring cache memory (tracemalloc)")
        res["cache_entries"], res["cache_bytes"] = cache_bytes(hosts, spec)
    res["cache_limit"] = agg_filter.CONF.aggregate_pci.parse_cache_size
    res["ratio_pools"] = res["ours_s"] / res["nova_pools_s"]
    res["target_met"] = res["ratio_pools"] <= 0.25
    if "nova_full_s" in res:
        res["ratio_full"] = res["ours_s"] / res["nova_full_s"]
    if "ours_defined_s" in res:
        res["ours_defined_us_per_host"] = (
            res["ours_defined_s"] / res["defined_hosts"] * 1e6
        )
    if args.db_query:
        res["db_query_s"] = time_real_query(aggs)
    report(res, args, wanted, out)
    return res


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line sizes and switches."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=10000)
    p.add_argument("--aggregates", type=int, default=50)
    p.add_argument(
        "--repeat",
        type=int,
        default=9,
        help="interleaved rounds (ours, nova full, nova pools)",
    )
    p.add_argument(
        "--full-repeat",
        type=int,
        default=3,
        help="of those rounds, how many also time Nova's filter "
        "with NUMA attached (about 1-2 ms per host; 0 skips "
        "it)",
    )
    p.add_argument(
        "--sample",
        type=int,
        default=200,
        help="hosts checked against the brute-force reference",
    )
    p.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="default",
        help="default: hosts mostly one GPU model; claim: every host has "
        "A100s and V100s in alternate slots and half the requested flavors "
        "narrow below their alias (the compute's claim is replayed); ports: "
        "a GPU flavor and two direct Neutron ports on managed physical "
        "networks, some hosts also tagging devices outside the definitions "
        "with them",
    )
    p.add_argument(
        "--ports",
        default=None,
        help="Neutron ports of the instance, one per item: PHYSNET (direct) "
        "or PHYSNET/pf (direct-physical), comma-separated; non-empty turns "
        "[aggregate_pci] manage_port_requests on (default: the scenario's)",
    )
    p.add_argument(
        "--request",
        default=None,
        help="pci_passthrough:alias value of the instance (default: the scenario's)",
    )
    p.add_argument(
        "--no-manage-ports",
        dest="manage_ports",
        action="store_false",
        help="keep [aggregate_pci] manage_port_requests off although ports "
        "are requested (Nova alone places them: the option's cost is the "
        "difference)",
    )
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the passes by this process's CPU time, not wall time "
        "(for a loaded, shared machine: waiting for a core is not counted)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--no-db-query",
        dest="db_query",
        action="store_false",
        help="do not time the real API DB query",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="print the top N functions of a cProfile of ours",
    )
    args = p.parse_args(argv)
    if args.request is None:
        args.request = SCENARIOS[args.scenario]
    if args.ports is None:
        args.ports = SCENARIO_PORTS[args.scenario]
    try:
        parse_ports(args.ports)
    except ValueError as exc:
        p.error("--ports: %s" % exc)
    if args.hosts < 1 or args.repeat < 1 or args.aggregates < 1:
        p.error("--hosts, --repeat and --aggregates must be at least 1")
    if args.full_repeat < 0 or args.sample < 0:
        p.error("--full-repeat and --sample must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if the decisions disagree with the reference."""
    res = run(parse_args(argv))
    return 1 if res["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
