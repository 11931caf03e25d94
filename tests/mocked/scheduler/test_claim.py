"""The claim replay shared between hosts (issue 8, benchmark work) decides
exactly as the plain replay: same steps (pool, request name, count), same failure,
same verdict, on many random hosts and requests with Nova's own pool logic.
"""

import random

from nova import objects
from nova.pci import stats as pci_stats

from aggregate_pci import codec
from aggregate_pci.scheduler import claim, decision, host_view, request

objects.register_all()

GPU_A = {"vendor_id": "10de", "product_id": "20b0"}
GPU_B = {"vendor_id": "10de", "product_id": "1db4"}
VF = {"vendor_id": "15b3", "product_id": "101e"}


def _host(rng):
    pools = []
    if rng.random() < 0.3:
        # A PF with GPU_A's ids first: its spec matches "a-any", and Nova's
        # unrequested-PF filter drops it (a pool dropped after the spec match).
        pools.append(
            objects.PciDevicePool(
                numa_node=0,
                count=rng.choice((1, 2)),
                tags={"dev_type": "type-PF", "address": "0000:40:00.0", "tier": "gold"},
                **GPU_A,
            )
        )
    for bus in (0x41, 0x42, 0x43, 0x81, 0x82, 0x83):
        if rng.random() < 0.3:
            continue
        ids = rng.choice((GPU_A, GPU_B))
        pools.append(
            objects.PciDevicePool(
                numa_node=0 if bus < 0x80 else 1,
                count=rng.choice((1, 1, 2)),
                tags={
                    "dev_type": "type-PCI",
                    "address": "0000:%02x:00.0" % bus,
                    "tier": rng.choice(("gold", "silver")),
                },
                **ids,
            )
        )
    for address, net in (("0000:3b:00.0", "net1"), ("0000:d8:00.0", "net2")):
        free = rng.choice((0, 1, 2, 3, 5, 9))
        if free:
            pools.append(
                objects.PciDevicePool(
                    numa_node=0,
                    count=free,
                    tags={
                        "dev_type": "type-VF",
                        "address": address,
                        "physical_network": rng.choice((net, "net1")),
                        # Nova drops remote-managed VFs for requests not
                        # asking for them.
                        "remote_managed": rng.choice(("false", "false", "true")),
                    },
                    **VF,
                )
            )
    return pci_stats.PciDeviceStats(
        None, stats=objects.PciDevicePoolList(objects=pools)
    )


ALIASES = {
    "a": [dict(GPU_A, dev_type="type-PCI")],
    "b": [dict(GPU_B, dev_type="type-PCI")],
    "ab": [dict(GPU_A, dev_type="type-PCI"), dict(GPU_B, dev_type="type-PCI")],
    "vf": [dict(VF, dev_type="type-VF")],
    "a-any": [dict(GPU_A)],
}
#: Definitions narrower than the aliases (tier, slot, network).
DEFINITIONS = {
    "a": '{"vendor_id":"10de","product_id":"20b0","tier":"gold"}',
    "b": '{"vendor_id":"10de","product_id":"1db4","address":"0000:8?:00.0"}',
    "ab": '[{"vendor_id":"10de","product_id":"20b0"},'
    '{"vendor_id":"10de","product_id":"1db4","tier":"silver"}]',
    "vf": '{"vendor_id":"15b3","product_id":"101e","physical_network":"net1"}',
    "a-any": '{"vendor_id":"10de","product_id":"20b0","tier":"silver"}',
}


def _requests(rng):
    names = rng.sample(sorted(ALIASES), rng.randint(1, 4))
    return [
        objects.InstancePCIRequest(
            count=rng.randint(1, 3),
            alias_name=name,
            spec=ALIASES[name],
            request_id="req-%d" % i,
            numa_policy="legacy",
        )
        for i, name in enumerate(names)
    ]


class _Agg:
    def __init__(self, metadata):
        self.metadata = metadata
        self.name = self.uuid = "agg"


def _steps(outcome, stats):
    where = {id(p): i for i, p in enumerate(stats.pools)}
    return [(s.name, where[id(s.pool)], s.count) for s in outcome.steps]


def test_shared_replay_and_verdicts_match_the_plain_replay():
    rng = random.Random(8)
    aggregate = _Agg({codec.make_key(n): v for n, v in DEFINITIONS.items()})
    cache = host_view.DefinitionCache(64)
    compared = shared_steps = claim_refusals = failures = dropped = 0
    for _ in range(60):
        requests = _requests(rng)
        plan = request.plan_request(requests, lambda: set(ALIASES), False)
        shared = request.RequestMemo()
        for _ in range(40):
            stats = _host(rng)
            got = claim.replay_claim(stats, requests, None, shared)
            want = claim.replay_claim(stats, requests, None, None)
            assert _steps(got, stats) == _steps(want, stats)
            assert got.failed == want.failed
            failures += want.failed is not None
            pools = stats.pools
            verdict = decision.decide_host(
                [aggregate],
                pools,
                plan,
                cache,
                claim=lambda s=stats, r=requests, m=shared: claim.replay_claim(
                    s, r, None, m
                ),
                memo=shared,
            )
            plain = decision.decide_host(
                [aggregate],
                pools,
                plan,
                cache,
                claim=lambda s=stats, r=requests: claim.replay_claim(s, r),
            )
            assert verdict == plain
            claim_refusals += bool(plain and "claim" in plain)
            compared += 1
        shared_steps += len(shared.steps)
        dropped += sum(
            not kept
            for reqs in shared.requests.values()
            if reqs is not None
            for kept in reqs.kept.values()
        )
    # The comparison covered shared steps, claim failures and refusals, and
    # pools Nova drops after the spec match (unrequested PF, remote-managed).
    assert compared == 2400
    assert shared_steps and failures and claim_refusals and dropped


def test_rp_uuids_in_a_spec_keep_the_plain_replay():
    rng = random.Random(3)
    requests = _requests(rng)
    requests[0].spec = [dict(requests[0].spec[0], rp_uuids="rp1,rp2")]
    shared = request.RequestMemo()
    stats = _host(rng)
    got = claim.replay_claim(stats, requests, None, shared)
    want = claim.replay_claim(stats, requests, None, None)
    assert _steps(got, stats) == _steps(want, stats)
    assert got.failed == want.failed
    assert got.key is None
    assert not shared.replays and not shared.steps
