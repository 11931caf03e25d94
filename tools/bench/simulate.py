#!/usr/bin/env python3
"""Replay request streams against a synthetic fleet through Nova's own
scheduler pieces, with Nova's default weighers and with the overlap-aware
weigher (issue 18), and compare with an offline bound.

Each request goes through ``AggregatePciFilter.filter_all`` (managed names
patched in), Nova's ``HostWeightHandler`` with Nova's own weigher classes
(``nova.scheduler.weights.all_weighers``, default multipliers) with or
without ours, the best host (``host_subset_size = 1``) and Nova's
``HostState.consume_from_request`` (the PCI stats' greedy ``apply_requests``).
Requests only arrive (no departures): the question is how many are served
before the first "No valid host".

The bound is an integer program solved by scipy's ``milp`` (HiGHS; the
``aggregate-pci[simulate]`` extra): the longest prefix of the stream whose
instances can all be placed at once, each device used once and a PCI
flavor served only by devices of its definition on the host, and the most
instances of the whole stream that fit.  RAM, CPU and disk never bind in
these fleets (small instances), so the bound is on devices alone.

    python tools/bench/simulate.py                      # every fleet and mix
    python tools/bench/simulate.py --fleet mixed --mix generic-heavy --seeds 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
import uuid
from typing import Any, Callable, Iterable, Mapping, Sequence
from unittest import mock

from nova import objects
from nova.pci import stats as pci_stats
from nova.scheduler import host_manager
from nova.scheduler import weights as nova_weights

from aggregate_pci import alias, codec, matching
from aggregate_pci import filter as agg_filter
from aggregate_pci import weigher as agg_weigher
from aggregate_pci.scheduler import weigh
from aggregate_pci.scheduler.host_view import DefinitionCache, host_view

objects.register_all()

T4 = {"vendor_id": "10de", "product_id": "1eb8"}
V100 = {"vendor_id": "10de", "product_id": "1db4"}
A100 = {"vendor_id": "10de", "product_id": "20b5"}
MODELS = {"t4": T4, "v100": V100, "a100": A100}

#: PCI flavor -> the GPU models its definition matches.
FLAVORS = {
    "any-gpu": ("t4", "v100", "a100"),
    "t4": ("t4",),
    "v100": ("v100",),
    "a100": ("a100",),
}


@dataclasses.dataclass(frozen=True)
class Shape:
    """A host model: its GPUs (one per slot) and its size."""

    name: str
    gpus: tuple[str, ...]
    ram_gb: int
    vcpus: int


SHAPES = {
    "t4x4": Shape("t4x4", ("t4",) * 4, 256, 64),
    "v100x4": Shape("v100x4", ("v100",) * 4, 512, 96),
    "a100x4": Shape("a100x4", ("a100",) * 4, 1024, 128),
    "t4x2-a100x2": Shape("t4x2-a100x2", ("t4", "t4", "a100", "a100"), 768, 96),
    "t4x2-v100x2": Shape("t4x2-v100x2", ("t4", "t4", "v100", "v100"), 512, 96),
}

#: Fleet -> share of hosts of each shape.  "rack": homogeneous hosts (each
#: rack one model); "mixed": a third of the hosts carry two models.
FLEETS = {
    "rack": {"t4x4": 0.4, "v100x4": 0.3, "a100x4": 0.3},
    "mixed": {
        "t4x4": 0.25,
        "v100x4": 0.2,
        "a100x4": 0.2,
        "t4x2-a100x2": 0.2,
        "t4x2-v100x2": 0.15,
    },
}

#: Demand mix -> share of each Nova flavor's ``pci_passthrough:alias``.
#: The contested mixes request any-gpu beside v100 and a100; "disjoint"
#: requests flavors no device serves twice (uncontested).
MIXES = {
    "generic-heavy": {"any-gpu:1": 0.5, "v100:1": 0.25, "a100:1": 0.25},
    "balanced": {"any-gpu:1": 0.34, "v100:1": 0.33, "a100:1": 0.33},
    "narrow-heavy": {"any-gpu:1": 0.2, "v100:1": 0.4, "a100:1": 0.4},
    "multi": {"any-gpu:2": 0.4, "v100:1": 0.2, "a100:2": 0.2, "any-gpu:1": 0.2},
    "disjoint": {"t4:1": 0.4, "v100:1": 0.3, "a100:1": 0.3},
}
CONTESTED = ("generic-heavy", "balanced", "narrow-heavy", "multi")


def log(msg: str) -> None:
    """Progress on stderr."""
    print("[simulate] " + msg, file=sys.stderr, flush=True)


# --- the fleet, with Nova's objects -------------------------------------------


def definition_value(flavor: str) -> str:
    """The metadata value of a catalogue PCI flavor."""
    matches = [MODELS[m] for m in FLAVORS[flavor]]
    doc: Any = matches[0] if len(matches) == 1 else matches
    return codec.encode(codec.definition_from_json(doc))


def build_aggregates() -> dict[str, Any]:
    """One aggregate per PCI flavor, defining it (hosts join those whose
    models they carry)."""
    out = {}
    for i, flavor in enumerate(sorted(FLAVORS)):
        out[flavor] = objects.Aggregate(
            id=i + 1,
            uuid=str(uuid.UUID(int=i + 1)),
            name="gpu-" + flavor,
            hosts=[],
            metadata={codec.make_key(flavor): definition_value(flavor)},
        )
    return out


def host_state(
    name: str, ram_gb: int, vcpus: int, pools: list[Any], aggregates: list[Any]
) -> Any:
    """A HostState as the scheduler holds it, with these PciDevicePools
    (legacy PCI tracking: Nova's pool stats) and aggregates."""
    hs = host_manager.HostState(name, name, str(uuid.UUID(int=0)))
    hs.total_usable_ram_mb = hs.free_ram_mb = ram_gb * 1024
    hs.vcpus_total = vcpus
    hs.vcpus_used = 0
    hs.total_usable_disk_gb = 4096
    hs.free_disk_mb = 4096 * 1024
    hs.disk_mb_used = 0
    hs.hypervisor_version = 1
    hs.cpu_allocation_ratio = hs.ram_allocation_ratio = 1.0
    hs.disk_allocation_ratio = 1.0
    hs.numa_topology = None
    hs.pci_stats = pci_stats.PciDeviceStats(
        None, stats=objects.PciDevicePoolList(objects=pools)
    )
    hs.aggregates = aggregates
    hs.allocation_candidates = []
    return hs


def build_host(name: str, shape: Shape, aggregates: Mapping[str, Any]) -> Any:
    """A host of ``shape``: one PCI pool per GPU."""
    pools = []
    for slot, model in enumerate(shape.gpus):
        pools.append(
            objects.PciDevicePool(
                vendor_id=MODELS[model]["vendor_id"],
                product_id=MODELS[model]["product_id"],
                numa_node=0,
                count=1,
                tags={
                    "dev_type": "type-PCI",
                    "address": "0000:%02x:00.0" % (0x41 + slot),
                },
            )
        )
    member = [
        agg
        for flavor, agg in aggregates.items()
        if set(FLAVORS[flavor]) & set(shape.gpus)
    ]
    for agg in member:
        agg.hosts.append(name)
    return host_state(name, shape.ram_gb, shape.vcpus, pools, member)


def build_fleet(fleet: str, n_hosts: int, rng: random.Random) -> list[Any]:
    """``n_hosts`` hosts in the fleet's shares, in a random order (Nova
    breaks weight ties by host order)."""
    aggregates = build_aggregates()
    shares = FLEETS[fleet]
    names = []
    for shape, share in shares.items():
        names += [shape] * round(share * n_hosts)
    rng.shuffle(names)
    return [
        build_host("host%05d" % i, SHAPES[shape], aggregates)
        for i, shape in enumerate(names)
    ]


def free_devices(hosts: Iterable[Any]) -> int:
    """Free PCI devices in the fleet."""
    return sum(matching.pool_count(p) for h in hosts for p in h.pci_stats.pools)


# --- requests -------------------------------------------------------------------


def build_stream(mix: str, length: int, rng: random.Random) -> list[str]:
    """``length`` Nova flavors' alias requests drawn from the mix."""
    items = list(MIXES[mix].items())
    return rng.choices([k for k, _ in items], [w for _, w in items], k=length)


def alias_spec(flavor: str) -> list[dict[str, str]]:
    """The ``[pci] alias`` spec Nova puts in the request: each model's ids."""
    return [dict(MODELS[m]) for m in FLAVORS[flavor]]


def request_spec(
    request: str, spec_of: Callable[[str], list[dict[str, str]]] = alias_spec
) -> Any:
    """A RequestSpec of a small Nova flavor asking ``request``;
    ``spec_of``: a PCI flavor's ``[pci] alias`` spec."""
    flavor = objects.Flavor(
        memory_mb=8192,
        vcpus=4,
        root_gb=20,
        ephemeral_gb=0,
        swap=0,
        extra_specs={"pci_passthrough:alias": request},
    )
    reqs = [
        objects.InstancePCIRequest(
            count=count,
            alias_name=name,
            spec=spec_of(name),
            request_id=str(uuid.uuid4()),
            numa_policy="legacy",
        )
        for name, count in alias.parse_request(request).items()
    ]
    return objects.RequestSpec(
        flavor=flavor,
        num_instances=1,
        numa_topology=None,
        pci_requests=objects.InstancePCIRequests(requests=reqs),
        scheduler_hints={},
        instance_group=None,
        image=objects.ImageMeta.from_dict({"properties": {}}),
        requested_destination=None,
        force_hosts=None,
        force_nodes=None,
        ignore_hosts=None,
        instance_uuid=str(uuid.uuid4()),
    )


# --- the overlap-aware weigher (issue 18) ---------------------------------------


RequestType = weigh.RequestType


def request_types(
    requests: Iterable[str], managed: Iterable[str] = FLAVORS
) -> tuple[RequestType, ...]:
    """The distinct request types of alias requests (by default all
    catalogue flavors are managed)."""
    return weigh.request_types(requests, managed)


# --- the replay -----------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One policy's run on one stream."""

    before_refusal: int
    served: int
    stranded_at_refusal: int
    stranded_at_end: int
    seconds: float

    def __str__(self) -> str:
        """The progress line's figures."""
        return "%d before refusal, %d served (%.1fs)" % (
            self.before_refusal,
            self.served,
            self.seconds,
        )


def default_weighers() -> list[Any]:
    """Nova's default ``weight_classes`` (all_weighers), instantiated."""
    return [cls() for cls in nova_weights.all_weighers()]


def replay(
    hosts: list[Any],
    stream: Sequence[str],
    weighers: Sequence[Any],
    flavors: Sequence[str],
    managed: Iterable[str] = FLAVORS,
    spec_of: Callable[[str], list[dict[str, str]]] = alias_spec,
    until_refusal: bool = False,
) -> Result:
    """Schedule the stream one request at a time, as Nova's scheduler does;
    ``flavors``: the Nova flavors' alias requests (the weigher's types);
    ``managed``: the PCI flavor names aggregates define; ``spec_of``: a
    PCI flavor's ``[pci] alias`` spec; ``until_refusal``: stop at the
    first refusal (total served is then the requests served before it)."""
    filt = agg_filter.AggregatePciFilter()
    handler = nova_weights.HostWeightHandler()
    first = None
    stranded = 0
    served = 0
    start = time.perf_counter()
    names = set(managed)
    with (
        mock.patch.object(agg_filter, "managed_flavor_names", lambda ctx: names),
        mock.patch.object(agg_weigher, "flavor_alias_requests", lambda ctx: flavors),
    ):
        for i, request in enumerate(stream):
            spec = request_spec(request, spec_of)
            passing = list(filt.filter_all(hosts, spec))
            if passing:
                chosen = handler.get_weighed_objects(weighers, passing, spec)[0].obj
                try:
                    chosen.consume_from_request(spec)
                    served += 1
                    continue
                except Exception as exc:  # the greedy claim failed
                    log("request %d on %s: claim failed: %s" % (i, chosen.host, exc))
            if first is None:
                first = i
                stranded = free_devices(hosts)
            if until_refusal:
                break
    return Result(
        first if first is not None else len(stream),
        served,
        stranded,
        free_devices(hosts),
        time.perf_counter() - start,
    )


# --- the offline bound (MILP) ------------------------------------------------------


def host_supply(
    host: Any, flavors: Sequence[str], cache: DefinitionCache
) -> dict[int, int]:
    """Free devices of ``host`` grouped by the mask of ``flavors`` its
    definitions let them serve."""
    preds = []
    for name in flavors:
        plan = weigh.type_plan(((name, 1),))
        view = host_view(host.aggregates, plan, cache)
        preds.append((lambda pool: False) if isinstance(view, str) else view.preds[0])
    return matching.group_supply(host.pci_stats.pools, preds)


def bound(
    hosts: Sequence[Any],
    stream: Sequence[str],
    cache: DefinitionCache,
    milp_time: float = 60.0,
    managed: Iterable[str] = FLAVORS,
) -> tuple[int, int]:
    """(longest prefix of ``stream`` that fits at once, most instances of the
    whole stream that fit), each by an exact integer program."""
    types = request_types(stream, managed)
    flavors = sorted({name for t in types for name, _ in t})
    supplies = [host_supply(h, flavors, cache) for h in hosts]

    def counts(k: int) -> list[int]:
        keyed = [tuple(sorted(alias.parse_request(r).items())) for r in stream[:k]]
        return [keyed.count(t) for t in types]

    def solve(limits: list[int], maximise: bool) -> int | None:
        return _solve(supplies, types, flavors, limits, maximise, milp_time)

    total = solve(counts(len(stream)), True) or 0
    lo, hi = 0, min(len(stream), total)
    while lo < hi:  # the longest feasible prefix: feasibility is monotone
        mid = (lo + hi + 1) // 2
        if solve(counts(mid), False) is not None:
            lo = mid
        else:
            hi = mid - 1
    return lo, total


Row = tuple[dict[int, float], float, float]


def _rows(
    supplies: Sequence[Mapping[int, int]],
    types: Sequence[RequestType],
    flavors: Sequence[str],
    limits: Sequence[int],
) -> tuple[dict[tuple[int, int], int], list[Row], int]:
    """The integer program's variables and per-host rows: n[t,h] instances
    of type t on host h (their columns by (t, h)), u[t,f,g,h] devices of
    group g (a mask of flavors) given to flavor f of type t on host h;
    rows (coefficients by column, low, high) and the number of columns."""
    col = 0
    n_idx: dict[tuple[int, int], int] = {}
    rows: list[Row] = []
    for h, supply in enumerate(supplies):
        per_group: dict[int, dict[int, float]] = {m: {} for m in supply}
        for t, rtype in enumerate(types):
            if not limits[t]:
                continue
            n_col = n_idx[(t, h)] = col
            col += 1
            for name, count in rtype:
                f = flavors.index(name)
                row: dict[int, float] = {n_col: -float(count)}
                for mask in supply:
                    if mask >> f & 1:
                        row[col] = per_group[mask][col] = 1.0
                        col += 1
                rows.append((row, 0.0, 0.0))  # devices given = count * n
        for mask, row in per_group.items():
            if row:
                rows.append((row, -float("inf"), float(supply[mask])))
    return n_idx, rows, col


def _solve(
    supplies: Sequence[Mapping[int, int]],
    types: Sequence[RequestType],
    flavors: Sequence[str],
    limits: Sequence[int],
    maximise: bool,
    milp_time: float,
) -> int | None:
    """Place ``limits[t]`` instances of each type (at most, maximising their
    sum, or exactly: feasibility) on hosts of ``supplies``; None if
    infeasible."""
    try:
        import numpy as np
        from scipy import optimize, sparse
    except ImportError:
        raise SystemExit(
            "error: the offline bound needs scipy: pip install 'aggregate-pci[simulate]'"
        ) from None

    n_idx, rows, col = _rows(supplies, types, flavors, limits)
    for t, limit in enumerate(limits):
        row = {c: 1.0 for (tt, _), c in n_idx.items() if tt == t}
        if not row and limit and not maximise:
            return None
        if row:
            rows.append((row, -np.inf if maximise else float(limit), float(limit)))
    if not col:
        return 0
    a = sparse.lil_matrix((len(rows), col))
    for r, (row, _, _) in enumerate(rows):
        for c, v in row.items():
            a[r, c] = v
    cost = np.zeros(col)
    if maximise:
        cost[list(n_idx.values())] = -1.0
    res = optimize.milp(
        cost,
        constraints=optimize.LinearConstraint(
            a.tocsr(), [r[1] for r in rows], [r[2] for r in rows]
        ),
        integrality=np.ones(col),
        bounds=optimize.Bounds(0, np.inf),
        options={"time_limit": milp_time},
    )
    if res.status == 2:  # infeasible
        return None
    if res.x is None:
        raise RuntimeError("MILP gave no solution: %s" % res.message)
    return int(round(sum(res.x[c] for c in n_idx.values())))


# --- the runs -------------------------------------------------------------------


def run_case(
    fleet: str,
    mix: str,
    n_hosts: int,
    seed: int,
    with_bound: bool,
    progress: Callable[[str], None] = log,
    until_refusal: bool = False,
) -> dict[str, Any]:
    """Both policies (and the bound) on one fleet, mix and seed."""
    rng = random.Random("%s/%s/%d" % (fleet, mix, seed))
    probe = build_fleet(fleet, n_hosts, random.Random(rng.random()))
    fleet_seed = rng.random()
    # Longer than any fleet can serve, so every policy meets a refusal.
    stream = build_stream(mix, free_devices(probe) * 3 // 2, rng)
    out: dict[str, Any] = {
        "fleet": fleet,
        "mix": mix,
        "seed": seed,
        "devices": free_devices(probe),
    }
    policies: dict[str, Callable[[], list[Any]]] = {
        "default": default_weighers,
        "ours": lambda: default_weighers() + [agg_weigher.AggregatePciWeigher()],
    }
    for policy, weighers in policies.items():
        hosts = build_fleet(fleet, n_hosts, random.Random(fleet_seed))
        out[policy] = replay(
            hosts,
            stream,
            weighers(),
            list(MIXES[mix]),
            until_refusal=until_refusal,
        )
        progress("%s/%s seed %d %s: %s" % (fleet, mix, seed, policy, out[policy]))
    if with_bound:
        hosts = build_fleet(fleet, n_hosts, random.Random(fleet_seed))
        out["bound"] = bound(hosts, stream, DefinitionCache(64))
    return out


def report(cases: Sequence[dict[str, Any]], out: Any = sys.stdout) -> None:
    """One line per fleet and mix: means over the seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for case in cases:
        groups.setdefault((case["fleet"], case["mix"]), []).append(case)
    print(
        "%-6s %-13s %5s | %-26s | %-26s | %-11s | %s"
        % (
            "fleet",
            "mix",
            "devs",
            "before first refusal d/o/b",
            "total served d/o/b",
            "stranded d/o",
            "ours vs default, vs bound",
        ),
        file=out,
    )

    def mean(values: Iterable[float]) -> float:
        values = list(values)
        return sum(values) / len(values)

    for (fleet, mix), runs in groups.items():
        d_pre = mean(r["default"].before_refusal for r in runs)
        o_pre = mean(r["ours"].before_refusal for r in runs)
        d_tot = mean(r["default"].served for r in runs)
        o_tot = mean(r["ours"].served for r in runs)
        has_bound = all("bound" in r for r in runs)
        b_pre = mean(r["bound"][0] for r in runs) if has_bound else float("nan")
        b_tot = mean(r["bound"][1] for r in runs) if has_bound else float("nan")
        print(
            "%-6s %-13s %5d | %7.1f %7.1f %7.1f   | %7.1f %7.1f %7.1f   | %4.1f %4.1f   | %+6.1f %%, %5.1f %%"
            % (
                fleet,
                mix,
                mean(r["devices"] for r in runs),
                d_pre,
                o_pre,
                b_pre,
                d_tot,
                o_tot,
                b_tot,
                mean(r["default"].stranded_at_refusal for r in runs),
                mean(r["ours"].stranded_at_refusal for r in runs),
                100.0 * (o_pre - d_pre) / d_pre if d_pre else float("nan"),
                100.0 * o_pre / b_pre if has_bound and b_pre else float("nan"),
            ),
            file=out,
        )


def print_time(start: float, load: float) -> None:
    """The run's seconds and load averages (from ``start``, ``load``)."""
    print(
        "%.0f s, load average %.2f at start, %.2f at end"
        % (time.perf_counter() - start, load, os.getloadavg()[0])
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fleet", action="append", choices=sorted(FLEETS))
    p.add_argument("--mix", action="append", choices=sorted(MIXES))
    p.add_argument("--hosts", type=int, default=100)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--multiplier", type=float, default=10.0, help="our weigher's multiplier"
    )
    p.add_argument("--no-bound", action="store_true", help="skip the MILP bound")
    p.add_argument(
        "--until-refusal",
        action="store_true",
        help="stop each policy at its first refusal (big fleets: total served "
        "is then what was served before it; the bound's total is unchanged)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every requested fleet x mix x seed and print the table."""
    args = parse_args(argv)
    agg_weigher.CONF.set_override("weight_multiplier", args.multiplier, "aggregate_pci")
    start = time.perf_counter()
    load = os.getloadavg()[0]
    cases = [
        run_case(
            fleet,
            mix,
            args.hosts,
            seed,
            not args.no_bound,
            until_refusal=args.until_refusal,
        )
        for fleet in args.fleet or sorted(FLEETS)
        for mix in args.mix or list(MIXES)
        for seed in range(args.seeds)
    ]
    print(
        "%d hosts, %d seed(s), our multiplier %g (Nova's default weighers at "
        "their default multipliers in both); d = default, o = ours, b = bound"
        % (args.hosts, args.seeds, args.multiplier)
    )
    report(cases)
    print_time(start, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
