#!/usr/bin/env python3
"""Replay request streams on an exported inventory (``aggregate-pci
inventory export``): Nova's default weighers against them with
AggregatePciWeigher, and the offline bound, on your own fleet (issue 18).

The inventory is read by the product's reader (``admin.inventory_stream``);
each host becomes a Nova ``HostState`` with its free pools (``count``) as
Nova's pool stats, in its aggregates; the requests are the ``pci_passthrough:alias``
values of the inventory's Nova flavors that ask only PCI flavors the
aggregates define, drawn uniformly (or by ``--share VALUE=WEIGHT``), and
each carries the ``[pci] alias`` spec ``aggregate-pci alias-config`` would
generate from the definitions (``alias.generate``).  The replay, the weighers
and the bound are tools/bench/simulate.py's: PCI in Placement off (Nova's
greedy claim), RAM, CPU and disk never binding (the inventory has none).

    python tools/bench/simulate_inventory.py inventory.json
    python tools/bench/simulate_inventory.py inventory.json --seeds 3 \\
        --share any-gpu:1=2 --share a100:1=1
    # a synthetic fleet written as an inventory (to try it, or to check it):
    python tools/bench/simulate_inventory.py --write-synthetic mixed:100 inv.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import sys
import time
import uuid
from typing import Any, Sequence

from nova import objects

from aggregate_pci import alias
from aggregate_pci import weigher as agg_weigher
from aggregate_pci.admin import inventory, inventory_stream, models
from aggregate_pci.admin.checks import explain, explain_weigh
from aggregate_pci.scheduler.host_view import DefinitionCache

# This folder last, for the sibling simulate.py (it then shadows no
# installed module).
sys.path.append(str(pathlib.Path(__file__).resolve().parent))
import simulate  # noqa: E402  (tools/bench/simulate.py)

#: Inventory pool fields that are PciDevicePool fields (the rest: tags).
POOL_FIELDS = ("vendor_id", "product_id", "numa_node", "count", "used")
#: Host size when the inventory says none: never binding.
RAM_GB, VCPUS = 4096, 1024


class Fleet:
    """An inventory ready to replay: its managed PCI flavors, their alias
    specs and the Nova flavors' requests."""

    def __init__(self, inv: inventory.Inventory) -> None:
        self.inv = inv
        self.managed = explain.managed_names(inv.aggregates)
        self.specs: dict[str, list[dict[str, str]]] = {}
        by_name = models.definitions_by_name(inv.pci_flavor_records())
        for name, per_agg in by_name.items():
            try:
                entries = alias.generate({name: per_agg})
            except alias.AliasConflict as exc:
                # Nova would refuse these [pci] alias entries; the replay
                # still models them (one spec per vendor/product).
                simulate.log("%s; modelled as one spec per vendor/product" % exc)
                entries = [
                    {"vendor_id": m.vendor_id, "product_id": m.product_id}
                    for d in per_agg.values()
                    for m in d.matches
                ]
            for e in entries:
                spec = {"vendor_id": e["vendor_id"], "product_id": e["product_id"]}
                if "device_type" in e:
                    spec["dev_type"] = e["device_type"]
                if spec not in self.specs.setdefault(name, []):
                    self.specs[name].append(spec)
        values = explain_weigh.flavor_alias_values(inv.nova_flavors)
        self.requests = sorted(
            {
                v
                for v in values
                if (names := set(alias.parse_request(v)))
                and names <= self.managed
                and names <= set(self.specs)
            }
        )

    def spec_of(self, name: str) -> list[dict[str, str]]:
        """The ``[pci] alias`` spec of a PCI flavor."""
        return self.specs[name]

    def hosts(self) -> list[Any]:
        """Fresh HostStates of every inventory host (new aggregates too)."""
        aggs = [
            objects.Aggregate(
                id=a.id if isinstance(a.id, int) else i + 1,
                uuid=a.uuid or str(uuid.UUID(int=i + 1)),
                name=a.name,
                hosts=list(a.hosts),
                metadata=dict(a.metadata),
            )
            for i, a in enumerate(self.inv.aggregates)
        ]
        by_host = explain.host_aggregates(aggs, self.inv.hosts)
        return [
            simulate.host_state(name, RAM_GB, VCPUS, nova_pools(pools), by_host[name])
            for name, pools in self.inv.hosts.items()
        ]


def nova_pools(pools: Sequence[dict[str, Any]]) -> list[Any]:
    """Inventory pools as Nova's PciDevicePools (free devices: ``count``)."""
    out = []
    for p in pools:
        tags = {
            k: v if v is None or isinstance(v, str) else str(v)
            for k, v in p.items()
            if k not in POOL_FIELDS
        }
        out.append(
            objects.PciDevicePool(
                vendor_id=p.get("vendor_id"),
                product_id=p.get("product_id"),
                numa_node=p.get("numa_node"),
                count=p.get("count", 0),
                tags=tags,
            )
        )
    return out


def synthetic_inventory(fleet: str, n_hosts: int, seed: int) -> inventory.Inventory:
    """simulate.py's fleet as an inventory (all devices free), with a Nova
    flavor per request of every mix."""
    hosts = simulate.build_fleet(fleet, n_hosts, random.Random(seed))
    seen: dict[int, Any] = {}
    for h in hosts:
        for a in h.aggregates:
            seen.setdefault(a.id, a)
    aggregates = [
        models.Aggregate(a.id, a.name, a.uuid, tuple(a.hosts), dict(a.metadata))
        for _, a in sorted(seen.items())
    ]
    values = sorted({v for mix in simulate.MIXES.values() for v in mix})
    return inventory.Inventory(
        aggregates,
        {h.host: [dict(p, used=0) for p in h.pci_stats.pools] for h in hosts},
        [
            {"name": "gpu.%d" % i, "id": str(i), "extra_specs": {alias.SPEC_KEY: v}}
            for i, v in enumerate(values)
        ],
    )


def run(
    fleet: Fleet,
    shares: dict[str, float],
    seed: int,
    length: int | None,
    with_bound: bool,
    until_refusal: bool = False,
) -> dict[str, Any]:
    """Both policies (and the bound) on one stream drawn from ``shares``."""
    rng = random.Random("inventory/%d" % seed)
    devices = simulate.free_devices(fleet.hosts())
    n = length or devices * 3 // 2
    stream = rng.choices(list(shares), list(shares.values()), k=n)
    out: dict[str, Any] = {"fleet": "inventory", "mix": "shares", "seed": seed}
    out["devices"] = devices
    for policy in ("default", "ours"):
        weighers = simulate.default_weighers()
        if policy == "ours":
            weighers.append(agg_weigher.AggregatePciWeigher())
        out[policy] = simulate.replay(
            fleet.hosts(),
            stream,
            weighers,
            fleet.requests,
            fleet.managed,
            fleet.spec_of,
            until_refusal,
        )
        simulate.log("seed %d %s: %s" % (seed, policy, out[policy]))
    if with_bound:
        out["bound"] = simulate.bound(
            fleet.hosts(), stream, DefinitionCache(64), managed=fleet.managed
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Replay the inventory (or write a synthetic one) and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inventory", nargs="?", help="an `inventory export` file")
    p.add_argument(
        "--write-synthetic",
        nargs=2,
        metavar=("FLEET:HOSTS", "FILE"),
        help="write simulate.py's fleet (rack or mixed) as an inventory and exit",
    )
    p.add_argument(
        "--share",
        action="append",
        default=[],
        metavar="VALUE=WEIGHT",
        help="demand weight of a Nova flavor's pci_passthrough:alias value "
        "(default: every value the inventory's Nova flavors ask, alike)",
    )
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--length", type=int, help="requests (default 1.5 x devices)")
    p.add_argument("--multiplier", type=float, default=10.0)
    p.add_argument("--no-bound", action="store_true", help="skip the MILP bound")
    p.add_argument(
        "--until-refusal",
        action="store_true",
        help="stop each policy at its first refusal (as simulate.py's)",
    )
    args = p.parse_args(argv)
    if args.write_synthetic:
        spec, path = args.write_synthetic
        name, _, count = spec.partition(":")
        doc = inventory.to_json(synthetic_inventory(name, int(count or 100), 0))
        pathlib.Path(path).write_text(
            json.dumps(doc, indent=1) + "\n", encoding="utf-8"
        )
        return 0
    if not args.inventory:
        p.error("give an inventory file (or --write-synthetic)")
    fleet = Fleet(inventory_stream.load(args.inventory))
    if not fleet.requests:
        p.error(
            "inventory %r: no Nova flavor asks only PCI flavors its aggregates "
            "define (nova_flavors' pci_passthrough:alias)" % args.inventory
        )
    shares = {v: 1.0 for v in fleet.requests}
    if args.share:
        shares = {}
        for item in args.share:
            value, _, weight = item.rpartition("=")
            if value not in fleet.requests:
                p.error(
                    "--share %s: %r is not among the inventory's requests %s"
                    % (item, value, ", ".join(fleet.requests))
                )
            shares[value] = float(weight)
    agg_weigher.CONF.set_override("weight_multiplier", args.multiplier, "aggregate_pci")
    start, load = time.perf_counter(), os.getloadavg()[0]
    cases = [
        run(fleet, shares, seed, args.length, not args.no_bound, args.until_refusal)
        for seed in range(args.seeds)
    ]
    print(
        "%s: %d hosts, %d seed(s), requests %s, our multiplier %g; d = Nova's "
        "default weighers, o = with ours, b = bound"
        % (
            args.inventory,
            len(fleet.inv.hosts),
            args.seeds,
            ", ".join("%s x%g" % kv for kv in shares.items()),
            args.multiplier,
        )
    )
    simulate.report(cases)
    simulate.print_time(start, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
