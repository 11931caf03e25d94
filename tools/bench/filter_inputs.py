"""The filter benchmark's inputs, built with Nova's own objects: aggregates
carrying ``pci_flavor:NAME`` metadata from a catalogue (one bad value
included), hosts (``HostState`` with ``PciDeviceStats`` pools and a NUMA
topology) and a ``RequestSpec`` with flavor-alias and Neutron-port PCI
requests (tools/bench/filter.py)."""

from __future__ import annotations

import random
import sys
import uuid
from typing import Any, Callable, Sequence

from nova import objects
from nova.pci import stats as pci_stats
from nova.scheduler import host_manager

from aggregate_pci import codec

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
