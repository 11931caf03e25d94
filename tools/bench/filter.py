#!/usr/bin/env python3
"""Benchmark AggregatePciFilter against Nova's PciPassthroughFilter.

Builds scheduler inputs with Nova's own objects (``HostState`` with
``PciDeviceStats`` pools and a NUMA topology, ``Aggregate`` objects carrying
``pci_flavor:NAME`` metadata, a ``RequestSpec`` with alias PCI requests),
times both filters on the same hosts, interleaved, checks our decisions
against a brute-force reference on a sample of hosts and reports the memory
held by the filter's caches.  Progress goes to stderr, figures to stdout.

    python tools/bench_filter.py                # 10,000 hosts
    python tools/bench_filter.py --hosts 500 --repeat 3 --sample 100
    python tools/bench_filter.py --scenario ports --hosts 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import fnmatch
import functools
import gc
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from typing import Any, Callable, Sequence
from unittest import mock

from nova import context as nova_context
from nova import objects
from nova.pci import stats as pci_stats
from nova.scheduler import host_manager
from nova.scheduler.filters import pci_passthrough_filter

from aggregate_pci import codec
from aggregate_pci import filter as agg_filter

objects.register_all()

A100 = {"vendor_id": "10de", "product_id": "20b5"}
V100 = {"vendor_id": "10de", "product_id": "1db4"}
VF = {"vendor_id": "15b3", "product_id": "101e", "device_type": "type-VF"}
#: Ports scenario only: devices some hosts also tag with a physical network
#: that no definition covers (Intel VFs, an Intel PF) or that a port without
#: remote_managed must not take (BlueField VFs, same ids as the CX5 VFs).
INTEL_VF = {"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF"}
INTEL_PF = {"vendor_id": "8086", "product_id": "1593", "dev_type": "type-PF"}
BLUEFIELD_VF = {"vendor_id": "15b3", "product_id": "101e", "dev_type": "type-VF"}

#: PCI flavor name -> the definitions aggregates may give it (each a list of
#: match objects, ORed).  Several aggregates define the same name
#: differently, so hosts in more than one see the OR of them.
CATALOGUE: dict[str, list[list[dict[str, str]]]] = {
    "gpu": [[A100], [A100, V100], [V100]],
    "a100": [[A100]],
    "a100-slot8x": [[dict(A100, address="0000:8[12]:*")]],
    "gold": [[dict(A100, gpu_tier="gold"), dict(V100, gpu_tier="gold")]],
    "vf-net1": [[dict(VF, physical_network="physnet1")]],
    "vf-net2": [[dict(VF, physical_network="physnet2")]],
    "vf": [[VF], [dict(VF, physical_network="physnet1")]],
}
#: One aggregate carries this unparsable value for "gpu" (missing
#: product_id): the filter must ignore it, and "gpu" stays managed.
BAD_VALUE = '{"vendor_id":"10de"}'
BAD_AGGREGATE_INDEX = 7

GPU_BUSES = (0x41, 0x42, 0x43, 0x44, 0x81, 0x82, 0x83, 0x84)
PF_ADDRESSES = (("0000:3b:00.0", 0), ("0000:d8:00.0", 1))


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


def log(msg: str) -> None:
    """Progress on stderr."""
    print("[bench] " + msg, file=sys.stderr, flush=True)


def parse_requests(text: str) -> list[tuple[str, int]]:
    """``name:count[,name:count...]`` as in ``pci_passthrough:alias``."""
    out = []
    for item in text.split(","):
        name, _, count = item.strip().partition(":")
        out.append((name, int(count or 1)))
    return out


# --- inputs built with Nova's objects ---------------------------------------


def build_aggregates(rng: random.Random, n_aggs: int) -> list[Any]:
    """``n_aggs`` Aggregate objects, each defining 3-5 catalogue flavors."""
    aggs = []
    names = sorted(CATALOGUE)
    for i in range(n_aggs):
        metadata = {"availability_zone": "az%d" % (i % 3)}
        for name in rng.sample(names, rng.randint(3, 5)):
            matches = rng.choice(CATALOGUE[name])
            doc = matches[0] if len(matches) == 1 else matches
            definition = codec.definition_from_json(doc)
            metadata[codec.make_key(name)] = codec.encode(definition)
        if i == BAD_AGGREGATE_INDEX:
            metadata[codec.make_key("gpu")] = BAD_VALUE
        aggs.append(
            objects.Aggregate(
                id=i + 1,
                uuid=str(uuid.UUID(int=i + 1)),
                name="agg%02d" % i,
                hosts=[],
                metadata=metadata,
            )
        )
    return aggs


def build_numa_topology(rng: random.Random) -> Any:
    """Two NUMA cells of 32 threads, with mempages, as computes report."""
    cells = []
    for cell_id in (0, 1):
        cpus = set(range(cell_id * 32, cell_id * 32 + 32))
        siblings = [{c, c + 16} for c in range(cell_id * 32, cell_id * 32 + 16)]
        mempages = [
            objects.NUMAPagesTopology(size_kb=4, total=16000000, used=0, reserved=0),
            objects.NUMAPagesTopology(
                size_kb=2048, total=1024, used=rng.randint(0, 512), reserved=0
            ),
            objects.NUMAPagesTopology(size_kb=1048576, total=16, used=0, reserved=0),
        ]
        pinned = set(rng.sample(sorted(cpus), rng.randint(0, 16)))
        cells.append(
            objects.NUMACell(
                id=cell_id,
                cpuset=set(),
                pcpuset=cpus,
                memory=196608,
                cpu_usage=len(pinned),
                memory_usage=rng.randint(0, 65536),
                pinned_cpus=pinned,
                siblings=siblings,
                mempages=mempages,
                network_metadata=objects.NetworkMetadata(
                    physnets={"physnet%d" % (cell_id + 1)}, tunneled=False
                ),
            )
        )
    return objects.NUMATopology(cells=cells)


def build_pools(
    rng: random.Random, interleaved: bool = False, ports: bool = False
) -> Any:
    """Free PCI pools of one host: 8 GPUs (one pool per address, some used)
    and 2 PFs x 16 VFs (one pool per parent PF, some VFs used).

    ``interleaved`` (the claim scenario): every host mixed, A100 and V100 in
    alternate slots, so a claim by the alias alone often takes a device
    outside a narrowed definition.  ``ports`` (the ports scenario): some
    hosts also tag Intel VFs or an Intel PF with a physical network (outside
    every definition), or have remote-managed BlueField VFs on one, and the
    NIC pools come in random order (Nova's claim drains them in that
    order), so a port's claim sometimes takes a device outside the
    definitions."""
    model = rng.choices(("a100", "v100", "mixed"), (6, 3, 1))[0]
    tier = "gold" if rng.random() < 0.3 else "silver"
    pools = []
    for i, bus in enumerate(GPU_BUSES):
        if rng.random() < (0.25 if interleaved else 0.4):  # GPU in use
            continue
        if interleaved:
            ids = A100 if i % 2 == 0 else V100
        else:
            ids = A100 if model == "a100" or (model == "mixed" and i < 4) else V100
        pools.append(
            objects.PciDevicePool(
                vendor_id=ids["vendor_id"],
                product_id=ids["product_id"],
                numa_node=0 if bus < 0x80 else 1,
                count=1,
                tags={
                    "dev_type": "type-PCI",
                    "address": "0000:%02x:00.0" % bus,
                    "gpu_tier": tier,
                },
            )
        )
    nets = ("physnet1", "physnet2") if rng.random() < 0.7 else ("physnet1", "physnet1")
    nics = []
    for (address, numa_node), net in zip(PF_ADDRESSES, nets, strict=True):
        free = rng.choice((0, 1, 2, 4, 8, 12, 16, 16))
        if not free:
            continue
        nics.append(
            objects.PciDevicePool(
                vendor_id=VF["vendor_id"],
                product_id=VF["product_id"],
                numa_node=numa_node,
                count=free,
                tags={
                    "dev_type": "type-VF",
                    "address": address,
                    "physical_network": net,
                    "remote_managed": "false",
                },
            )
        )
    if ports:
        nics.extend(extra_port_pools(rng))
        rng.shuffle(nics)
    return objects.PciDevicePoolList(objects=pools + nics)


def extra_port_pools(rng: random.Random) -> list[Any]:
    """The ports scenario's other devices tagged with a physical network
    on some hosts: Intel VFs (30 %), an Intel PF (20 %), remote-managed
    BlueField VFs (20 %); each pool has the CX5 VF pools' number of keys,
    so Nova's pool order (by key count, then as built) mixes them."""
    out = []
    for ids, share, address, remote, counts in (
        (INTEL_VF, 0.3, "0000:af:00.0", "false", (1, 2, 4, 8)),
        (INTEL_PF, 0.2, "0000:af:00.1", "false", (1,)),
        (BLUEFIELD_VF, 0.2, "0000:5e:00.0", "true", (2, 4, 8)),
    ):
        if rng.random() >= share:
            continue
        out.append(
            objects.PciDevicePool(
                vendor_id=ids["vendor_id"],
                product_id=ids["product_id"],
                numa_node=rng.choice((0, 1)),
                count=rng.choice(counts),
                tags={
                    "dev_type": ids["dev_type"],
                    "address": address,
                    "physical_network": rng.choice(("physnet1", "physnet2")),
                    "remote_managed": remote,
                },
            )
        )
    return out


def build_hosts(
    rng: random.Random,
    n_hosts: int,
    aggs: Sequence[Any],
    progress: Callable[[str], None] = log,
    interleaved: bool = False,
    ports: bool = False,
) -> list[Any]:
    """HostState objects as the scheduler holds them, 1-3 aggregates each."""
    hosts = []
    cell = str(uuid.UUID(int=0))
    for i in range(n_hosts):
        name = "host%05d" % i
        hs = host_manager.HostState(name, name, cell)
        hs.numa_topology = build_numa_topology(rng)
        hs.pci_stats = pci_stats.PciDeviceStats(
            hs.numa_topology, stats=build_pools(rng, interleaved, ports)
        )
        hs.aggregates = rng.sample(list(aggs), rng.randint(1, min(3, len(aggs))))
        for agg in hs.aggregates:
            agg.hosts.append(name)
        hs.allocation_candidates = [{"mappings": {}}]
        hosts.append(hs)
        if (i + 1) % 2000 == 0:
            progress("built %d/%d hosts" % (i + 1, n_hosts))
    return hosts


def alias_spec(name: str, aggs: Sequence[Any]) -> list[dict[str, str]]:
    """What Nova's ``[pci] alias`` for ``name`` would put in the request spec:
    vendor/product (and device type) of every definition of it."""
    seen: list[dict[str, str]] = []
    for agg in aggs:
        value = agg.metadata.get(codec.make_key(name))
        if value is None:
            continue
        try:
            definition = codec.parse_value(value)
        except codec.PciFlavorError:
            continue
        for m in definition.matches:
            spec = {"vendor_id": m.vendor_id, "product_id": m.product_id}
            if m.device_type:
                spec["dev_type"] = m.device_type
            if spec not in seen:
                seen.append(spec)
    return seen or [{"vendor_id": "ffff", "product_id": "ffff"}]


def parse_ports(text: str) -> list[dict[str, str]]:
    """``physnet[,physnet...]``, one direct port each (``physnet/pf``: a
    direct-physical port), as the specs Nova builds for them
    (``nova.network.neutron.API.create_resource_requests``)."""
    specs = []
    for item in filter(None, (i.strip() for i in text.split(","))):
        physnet, _, kind = item.partition("/")
        spec = {"physical_network": physnet, "remote_managed": "False"}
        if kind == "pf":
            spec["dev_type"] = "type-PF"
        elif kind:
            raise ValueError("port %r: only /pf may follow the physnet" % item)
        specs.append(spec)
    return specs


def build_request_spec(
    ctx: Any,
    wanted: Sequence[tuple[str, int]],
    aggs: Sequence[Any],
    ports: Sequence[dict[str, str]] = (),
) -> Any:
    """A RequestSpec whose pci_requests come from a flavor's
    ``pci_passthrough:alias=name:count,...`` and then, as Nova appends them,
    one request per Neutron port (no alias name, count 1)."""
    reqs = [
        objects.InstancePCIRequest(
            count=count,
            alias_name=name,
            spec=alias_spec(name, aggs),
            request_id=str(uuid.uuid4()),
            numa_policy="legacy",
        )
        for name, count in wanted
    ]
    reqs += [
        objects.InstancePCIRequest(
            count=1,
            spec=[dict(spec)],
            request_id=str(uuid.uuid4()),
            requester_id=str(uuid.uuid4()),
        )
        for spec in ports
    ]
    return objects.RequestSpec(
        context=ctx, pci_requests=objects.InstancePCIRequests(requests=reqs)
    )


def managed_names(aggs: Sequence[Any]) -> set[str]:
    """Names some aggregate defines (bad values included), as
    ``agg_filter.managed_flavor_names`` computes from the API DB."""
    return {
        key[len(codec.KEY_PREFIX) :]
        for agg in aggs
        for key in agg.metadata
        if codec.is_flavor_key(key)
    }


def definition_values(aggs: Sequence[Any]) -> list[str]:
    """Distinct values of the ``pci_flavor:*`` keys (bad ones included), as
    ``agg_filter.flavor_definition_values`` reads them from the API DB."""
    return sorted(
        {
            value
            for agg in aggs
            for key, value in agg.metadata.items()
            if codec.is_flavor_key(key)
        }
    )


# --- brute-force reference ---------------------------------------------------


def _match(pool: dict[str, Any], m: codec.DeviceMatch) -> bool:
    def eq(have: Any, want: str) -> bool:
        return have is not None and str(have).lower() == want.lower()

    if not (
        eq(pool.get("vendor_id"), m.vendor_id)
        and eq(pool.get("product_id"), m.product_id)
    ):
        return False
    if m.device_type is not None and not eq(pool.get("dev_type"), m.device_type):
        return False
    for key, want in m.tags:
        have = pool.get(key)
        if key == "address":
            if not isinstance(have, str) or not fnmatch.fnmatchcase(
                have.lower(), want.lower()
            ):
                return False
        elif not eq(have, want):
            return False
    return True


def _assign(units: list[list[int]], free: list[int], k: int = 0) -> bool:
    """Try every way to give request unit ``k..`` a distinct free device
    (devices of one pool are interchangeable, so a unit picks a pool)."""
    if k == len(units):
        return True
    for p in units[k]:
        if free[p]:
            free[p] -= 1
            if _assign(units, free, k + 1):
                return True
            free[p] += 1
    return False


@functools.lru_cache(maxsize=None)
def _parse_or_none(value: str) -> codec.PciFlavorDefinition | None:
    try:
        return codec.parse_value(value)
    except codec.PciFlavorError:
        return None


def effective_matches(host: Any, name: str) -> list[codec.DeviceMatch]:
    """The host's effective definition of ``name``: the match objects of
    every valid definition in its aggregates (ORed)."""
    matches: list[codec.DeviceMatch] = []
    for agg in host.aggregates:
        value = agg.metadata.get(codec.KEY_PREFIX + name)
        definition = _parse_or_none(value) if value is not None else None
        if definition is not None:
            matches.extend(definition.matches)
    return matches


def managed_counts(
    wanted: Sequence[tuple[str, int]], managed: set[str]
) -> dict[str, int]:
    """Devices asked per managed flavor name (unmanaged names left alone)."""
    counts: dict[str, int] = {}
    for name, count in wanted:
        if name in managed:
            counts[name] = counts.get(name, 0) + count
    return counts


#: A managed request on one host: devices asked, and which pools serve it.
Units = dict[str, tuple[int, Callable[[dict[str, Any]], bool]]]


def _feasible(pools: Sequence[dict[str, Any]], units: Units) -> bool:
    """Exhaustive joint check: can every unit get a distinct free device
    of a pool its predicate accepts?"""
    per_unit = []
    for count, pred in units.values():
        ok = [i for i, pool in enumerate(pools) if pred(pool)]
        per_unit.extend([ok] * count)
    free = [max(int(pool.get("count", 0)), 0) for pool in pools]
    return _assign(per_unit, free)


def _alias_units(
    host: Any, wanted: Sequence[tuple[str, int]], managed: set[str]
) -> Units | None:
    """Units of the managed flavor aliases (None: one has no definition)."""
    units: Units = {}
    for name, count in managed_counts(wanted, managed).items():
        matches = effective_matches(host, name)
        if not matches:
            return None
        units[name] = (count, functools.partial(_any_match, matches))
    return units


def _any_match(matches: Sequence[codec.DeviceMatch], pool: dict[str, Any]) -> bool:
    return any(_match(pool, m) for m in matches)


def reference_decision(
    host: Any, wanted: Sequence[tuple[str, int]], managed: set[str]
) -> str:
    """The semantics of issue 3, computed the slow obvious way: "pass",
    "no-definition" (not in an aggregate validly defining a requested
    flavor) or "no-fit" (the managed requests do not fit jointly)."""
    units = _alias_units(host, wanted, managed)
    if units is None:
        return "no-definition"
    return "pass" if not units or _feasible(host.pci_stats.pools, units) else "no-fit"


# Neutron ports (issue 13), independently of aggregate_pci.scheduler.ports.

NET_TAG = "physical_network"
_TRUE_STRINGS = frozenset(("1", "t", "true", "on", "y", "yes"))


def _truthy(value: Any) -> bool:
    """As oslo's bool_from_string (what Nova applies to remote_managed)."""
    return (
        isinstance(value, (str, bool)) and str(value).strip().lower() in _TRUE_STRINGS
    )


def reference_physnets(aggs: Sequence[Any]) -> set[str]:
    """Physical networks (lower-cased) fixed by a match object of some valid
    definition in the cloud: the managed ones."""
    found = set()
    for agg in aggs:
        for key, value in agg.metadata.items():
            definition = (
                _parse_or_none(value) if key.startswith(codec.KEY_PREFIX) else None
            )
            for m in definition.matches if definition else ():
                found.update(v.lower() for k, v in m.tags if k == NET_TAG)
    return found


def physnet_matches(host: Any, physnet: str) -> list[codec.DeviceMatch]:
    """The match objects fixing ``physnet`` in the valid definitions of any
    PCI flavor in the host's aggregates (ORed)."""
    want = physnet.lower()
    out = []
    for agg in host.aggregates:
        for key, value in agg.metadata.items():
            definition = (
                _parse_or_none(value) if key.startswith(codec.KEY_PREFIX) else None
            )
            for m in definition.matches if definition else ():
                if any(k == NET_TAG and v.lower() == want for k, v in m.tags):
                    out.append(m)
    return out


def _claim_takes(pool: dict[str, Any], specs: Sequence[dict[str, str]]) -> bool:
    """Would Nova's claim of a request with ``specs`` take a device of
    ``pool`` (no NUMA cells, no Placement)?  A spec whose every key equals
    the pool's value case-insensitively; PF pools only if a spec asks
    type-PF, vDPA pools only if one asks vdpa, remote-managed pools only if
    one asks remote_managed true."""
    if not any(_spec_match(pool, s) for s in specs):
        return False
    dev_type = pool.get("dev_type")
    for special in ("type-PF", "vdpa"):
        if dev_type == special and not any(s.get("dev_type") == special for s in specs):
            return False
    return not _truthy(pool.get("remote_managed")) or any(
        _truthy(s.get("remote_managed")) for s in specs
    )


def port_of(req: Any) -> dict[str, str] | None:
    """The spec of a Neutron-port request with a physical network (no alias
    name, one spec), else None."""
    specs = list(req.spec or ())
    if req.alias_name or len(specs) != 1 or not specs[0].get(NET_TAG):
        return None
    return dict(specs[0])


def request_key(req: Any) -> str:
    """The alias name, or ``port:`` and the port's spec (identical ports
    share a key)."""
    port = port_of(req)
    if port is None:
        return str(req.alias_name)
    return "port:" + ",".join("%s=%s" % kv for kv in sorted(port.items()))


def request_units(
    host: Any, requests: Sequence[Any], managed: set[str], physnets: set[str]
) -> Units | None:
    """Per managed request (flavor aliases, and ports on a managed physical
    network): devices asked and the pools serving it on ``host``, i.e. the
    OR of its definitions' match objects (for a port: the objects fixing its
    physical network, AND its spec as the claim reads it).  None if the
    host has no definition for one of them."""
    wanted = [(r.alias_name, r.count) for r in requests if port_of(r) is None]
    units = _alias_units(host, wanted, managed)
    if units is None:
        return None
    for req in requests:
        port = port_of(req)
        if port is None or port[NET_TAG].lower() not in physnets:
            continue
        matches = physnet_matches(host, port[NET_TAG])
        if not matches:
            return None
        key = request_key(req)
        pred = functools.partial(_port_match, matches, port)
        units[key] = (units.get(key, (0, pred))[0] + req.count, pred)
    return units


def _port_match(
    matches: Sequence[codec.DeviceMatch], spec: dict[str, str], pool: dict[str, Any]
) -> bool:
    return _any_match(matches, pool) and _claim_takes(pool, [spec])


def _spec_match(pool: dict[str, Any], spec: dict[str, str]) -> bool:
    """Independent of Nova: every spec key equal (case-insensitive)."""
    return all(str(pool.get(k, "")).lower() == str(v).lower() for k, v in spec.items())


def reference_claim(host: Any, requests: Sequence[Any]) -> list[tuple[str, int]] | None:
    """Nova's greedy claim with PCI in Placement off, replayed the slow
    obvious way (no NUMA cells, as the benchmark's requests carry no NUMA
    topology): per request in order (flavor aliases, then ports), the pools
    its claim may take (``_claim_takes``), in pool order, each drained as
    far as needed.  Returns (``request_key``, pool index) per device
    taken, or None if the claim fails."""
    pools = host.pci_stats.pools
    free = [max(int(p.get("count", 0)), 0) for p in pools]
    taken: list[tuple[str, int]] = []
    for req in requests:
        specs = list(req.spec)
        ok = [i for i, p in enumerate(pools) if free[i] and _claim_takes(p, specs)]
        need = req.count
        if sum(free[i] for i in ok) < need:
            return None
        for i in ok:
            take = min(need, free[i])
            free[i] -= take
            need -= take
            taken += [(request_key(req), i)] * take
            if not need:
                break
    return taken


def reference_claim_decision(
    host: Any,
    requests: Sequence[Any],
    managed: set[str],
    physnets: set[str] = frozenset(),
) -> str:
    """The end-to-end decision of the scheduler (our filter and Nova's
    PciPassthroughFilter) computed independently: "no-definition" or
    "no-fit" for the managed requests (``request_units``, exhaustive), then
    "claim-fails" if Nova's greedy claim fails, then "claim-outside" unless
    the devices the claim takes for the managed requests can be assigned
    to them, each in a pool its predicate accepts (exhaustive)."""
    units = request_units(host, requests, managed, physnets)
    if units is None:
        return "no-definition"
    pools = host.pci_stats.pools
    if units and not _feasible(pools, units):
        return "no-fit"
    taken = reference_claim(host, requests)
    if taken is None:
        return "claim-fails"
    mine = [i for key, i in taken if key in units]
    devices = sorted(set(mine))
    taken_pools = [dict(pools[i], count=mine.count(i)) for i in devices]
    return "pass" if _feasible(taken_pools, units) else "claim-outside"


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


def one_pass(filt: Any, hosts: Sequence[Any], spec: Any) -> tuple[float, list[Any]]:
    """Time ``list(filter.filter_all(hosts, spec))``, as Nova calls it."""
    reset_candidates(hosts)
    gc.collect()
    t0 = time.perf_counter()
    passed = list(filt.filter_all(hosts, spec))
    return time.perf_counter() - t0, passed


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
        "(Nova with NUMA: %d)"
        % (
            args.scenario,
            n,
            args.aggregates,
            ",".join("%s:%d" % w for w in wanted),
            args.seed,
            args.repeat,
            min(args.full_repeat, args.repeat),
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
