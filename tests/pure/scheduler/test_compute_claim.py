"""The move claim with PCI in Placement (issue 17), on plain objects: the
compute's move claim ignores Placement's allocation, so the candidates are
pruned to those naming exactly the devices it takes."""

from types import SimpleNamespace as NS

from aggregate_pci.scheduler import decision, host_view, request
from aggregate_pci.scheduler.claim_judge import ClaimOutcome, ClaimStep

T4 = '{"gpu_model":"t4","product_id":"1db4","vendor_id":"10de"}'


def pool(address, model, rp):
    return {
        "vendor_id": "10de",
        "product_id": "1db4",
        "dev_type": "type-PCI",
        "numa_node": 0,
        "count": 1,
        "address": address,
        "gpu_model": model,
        "rp_uuid": rp,
    }


V100_POOL = pool("0000:83:00.0", "v100", "rp83")
T4_POOL = pool("0000:84:00.0", "t4", "rp84")
POOLS = [V100_POOL, T4_POOL]
AGGS = [NS(name="gpu", uuid="u", metadata={"pci_flavor:t4": T4})]
CANDIDATES = [{"mappings": {"rid-0": ["rp83"]}}, {"mappings": {"rid-0": ["rp84"]}}]


def plan():
    req = NS(alias_name="t4", count=1, request_id="new-rid", spec=[])
    return request.plan_request([req], lambda: {"t4"}, False)


def decide(claim, candidates, placement_ids=("rid",)):
    kept = []

    def prune(fits):
        kept[:] = [c for c in candidates if fits(c)]
        return len(kept)

    why = decision.decide_host(
        AGGS,
        POOLS,
        plan(),
        host_view.DefinitionCache(16),
        candidates=candidates,
        prune=prune,
        claim=claim,
        move_claim_ids=placement_ids,
    )
    return why, kept


def taking(*pools):
    return lambda *, ports_only=False: ClaimOutcome(
        tuple(ClaimStep("t4", p, 1) for p in pools)
    )


def test_candidates_pruned_to_the_devices_the_move_claim_takes():
    why, kept = decide(taking(T4_POOL), CANDIDATES)
    assert why is None
    assert kept == [{"mappings": {"rid-0": ["rp84"]}}]


def test_host_refused_where_the_move_claim_strays():
    why, _ = decide(taking(V100_POOL), CANDIDATES)
    assert "would take 0000:83:00.0" in why


def test_host_refused_where_no_candidate_names_the_claimed_devices():
    why, kept = decide(taking(T4_POOL), [{"mappings": {"rid-0": ["rp83"]}}])
    assert "no Placement allocation candidate names" in why
    assert "0000:84:00.0" in why
    assert kept == []


def test_without_a_move_claim_the_candidates_are_pruned_by_definition():
    kept = []

    def prune(fits):
        kept[:] = [c for c in CANDIDATES if fits(c)]
        return len(kept)

    req = NS(alias_name="t4", count=1, request_id="rid", spec=[])
    why = decision.decide_host(
        AGGS,
        POOLS,
        request.plan_request([req], lambda: {"t4"}, False),
        host_view.DefinitionCache(16),
        candidates=CANDIDATES,
        prune=prune,
        claim=taking(V100_POOL),
    )
    assert why is None
    assert kept == [{"mappings": {"rid-0": ["rp84"]}}]
