#!/usr/bin/env python3
"""Benchmark AggregatePciWeigher: cost per candidate host, beside Nova's
default weighers in the same run.

The fleet is the simulator's (tools/bench/simulate.py: T4, V100 and A100
hosts, some mixed, PCI flavors any-gpu, v100, a100, t4), each GPU in use
with probability ``--used`` so hosts differ in their free devices.  The
hosts that pass AggregatePciFilter are the candidates; one request (``--request``, a Nova flavor's
``pci_passthrough:alias``) is weighed ``--repeat`` times by Nova's
``HostWeightHandler`` with (a) Nova's default weighers, (b) ours alone,
(c) both, and (d) our ``weigh_objects`` alone (without Nova's handler),
interleaved, each right after a pass of AggregatePciFilter over
the same hosts (as in Nova; also timed, for scale); the median is reported
per host.  A row for Nova's handler around a weigher that does nothing
(weights 0, multiplier 1) shows what the handler itself costs per weigher.
``--cpu-time`` times with the process's CPU clock instead of the wall
clock (on a shared machine, waiting for a core is then not counted).

    python tools/bench/weigher.py                  # 10,000 hosts
    python tools/bench/weigher.py --hosts 2000 --repeat 5
    python tools/bench/weigher.py --cpu-time
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import random
import statistics
import sys
import time
from typing import Any, Callable, Sequence
from unittest import mock

from nova.scheduler import weights as nova_weights

from aggregate_pci import filter as agg_filter
from aggregate_pci import weigher as agg_weigher

# This folder last, for the sibling simulate.py (it then shadows no
# installed module).
sys.path.append(str(pathlib.Path(__file__).resolve().parent))
import simulate  # noqa: E402  (tools/bench/simulate.py)


def build(n_hosts: int, used: float, seed: int) -> list[Any]:
    """The fleet, with a share ``used`` of the GPUs taken."""
    rng = random.Random(seed)
    hosts = simulate.build_fleet("mixed", n_hosts, rng)
    for host in hosts:
        pools = host.pci_stats.pools
        pools[:] = [p for p in pools if rng.random() >= used]
    return hosts


class NoopWeigher(nova_weights.BaseHostWeigher):
    """Weights 0 and multiplier 1: Nova's handler around it is its own cost."""

    def weight_multiplier(self, host_state: Any) -> float:
        """1 for every host."""
        return 1.0

    def _weigh_object(self, host_state: Any, weight_properties: Any) -> float:
        """0 for every host."""
        return 0.0

    def weigh_objects(self, weighed_obj_list: Any, weight_properties: Any) -> list:
        """0 for every host, in one list."""
        return [0.0] * len(weighed_obj_list)


def timed(
    filt: Any,
    weigh: Callable[[list[Any]], Any],
    hosts: list[Any],
    spec: Any,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Seconds for the filter's pass over ``hosts``, then for ``weigh`` of
    those that passed (after a full collection each, as
    tools/bench/filter.py times its passes): the weighers run after the
    filter, as in Nova."""
    gc.collect()
    start = clock()
    passed = list(filt.filter_all(hosts, spec))
    filtered = clock() - start
    weighed = [nova_weights.WeighedHost(h, 0.0) for h in passed]
    gc.collect()
    start = clock()
    weigh(weighed)
    return filtered, clock() - start


def main(argv: Sequence[str] | None = None) -> int:
    """Time the three weigher sets and print microseconds per host."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--used", type=float, default=0.4)
    p.add_argument("--request", default="any-gpu:1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU clock (time.process_time)",
    )
    args = p.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    load = os.getloadavg()[0]
    hosts = build(args.hosts, args.used, args.seed)
    spec = simulate.request_spec(args.request)
    handler = nova_weights.HostWeightHandler()
    ours = agg_weigher.AggregatePciWeigher()
    default = simulate.default_weighers()
    both = default + [ours]
    # Nova's handler (normalizing, multipliers, its debug-log dicts) wraps
    # the hosts itself: it gets the hosts, the bare weigher its wrappers.
    sets: dict[str, Callable[[list[Any]], Any]] = {
        "nova default weighers": lambda w: handler.get_weighed_objects(
            default, [x.obj for x in w], spec
        ),
        "AggregatePciWeigher alone": lambda w: handler.get_weighed_objects(
            [ours], [x.obj for x in w], spec
        ),
        "default + AggregatePciWeigher": lambda w: handler.get_weighed_objects(
            both, [x.obj for x in w], spec
        ),
        "  of which our weigh_objects": lambda w: ours.weigh_objects(w, spec),
        "handler around a no-op weigher": lambda w: handler.get_weighed_objects(
            [NoopWeigher()], [x.obj for x in w], spec
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in sets}
    times["AggregatePciFilter (for scale)"] = []
    filt = agg_filter.AggregatePciFilter()
    flavors = list(simulate.MIXES["generic-heavy"]) + ["t4:1"]
    managed = set(simulate.FLAVORS)
    with (
        mock.patch.object(agg_filter, "managed_flavor_names", lambda ctx: managed),
        mock.patch.object(agg_weigher, "flavor_alias_requests", lambda ctx: flavors),
    ):
        passed = list(filt.filter_all(hosts, spec))
        costs = ours.costs(passed, spec)
        assert costs is not None
        for _ in range(args.repeat):
            for name, weigh in sets.items():
                filtered, weighed = timed(filt, weigh, hosts, spec, clock)
                times[name].append(weighed)
                times["AggregatePciFilter (for scale)"].append(filtered)
    distinct = len({h.cost for h in costs.hosts})
    print(
        "%d hosts, %d candidates (passed the filter; %d distinct costs), request "
        "%s, request types %s, median of %d, %s, load average %.2f at start, "
        "%.2f at end"
        % (
            len(hosts),
            len(passed),
            distinct,
            args.request,
            ", ".join(flavors),
            args.repeat,
            "CPU time" if args.cpu_time else "wall clock",
            load,
            os.getloadavg()[0],
        )
    )
    for name, values in times.items():
        median = statistics.median(values)
        per = len(hosts) if name.startswith("AggregatePciFilter") else len(passed)
        print(
            "%-30s %8.1f ms  %6.2f us/host" % (name, median * 1e3, median * 1e6 / per)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
