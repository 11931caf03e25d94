"""``explain``'s library: one verdict per reason, each in the filter's
words (the same ``decision.decide_host``), sorted into categories."""

from aggregate_pci.admin.checks import explain as ex
from aggregate_pci.admin.models import Aggregate
from aggregate_pci.scheduler import claim_judge, decision, host_view, request

A100 = '{"product_id":"20b5","vendor_id":"10de"}'
T4 = '{"product_id":"1eb8","vendor_id":"10de"}'
NV_ANY = "[%s,%s]" % (A100, T4)
A100_SPEC = ({"vendor_id": "10de", "product_id": "20b5", "dev_type": "type-PCI"},)


def pool(product, count=1, address="0000:81:00.0", used=0):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "numa_node": 0,
        "count": count,
        "used": used,
        "address": address,
    }


def agg(name, hosts, **metadata):
    return Aggregate(
        1,
        name,
        "uuid-" + name,
        tuple(hosts),
        {"pci_flavor:" + k: v for k, v in metadata.items()},
    )


AGGS = [
    agg("gpu", ["c1", "c2", "c3"], a100=A100, t4=T4),
    agg("bad", ["c4"], a100='{"vendor_id":"10de"}'),
]
HOSTS = {
    "c1": [pool("20b5", 2), pool("1eb8", 1, "0000:82:00.0")],
    "c2": [pool("20b5", 0, used=1)],
    "c3": [pool("20b5", 1), pool("1eb8", 0, "0000:82:00.0", used=1)],
    "c4": [pool("20b5", 4)],
    "c5": [pool("20b5", 4)],
}


def run(requests, **kw):
    return {h.host: h for h in ex.explain(AGGS, HOSTS, requests, **kw).hosts}


def reason_of(host, requests, claim=None):
    """What the filter's decision says for the same inputs."""
    names = ex.managed_names(AGGS)
    plan = request.plan_request(requests, lambda: names, False)
    aggs = ex.host_aggregates(AGGS, HOSTS)[host]
    pools = [{k: v for k, v in p.items() if k != "used"} for p in HOSTS[host]]
    return decision.decide_host(
        aggs, pools, plan, host_view.DefinitionCache(16), claim=claim
    )


def test_fits_and_free_and_aggregates():
    r = run([ex.Request("a100", 2, spec=A100_SPEC)], claims={})
    c1 = r["c1"]
    assert (c1.category, c1.reason) == (ex.FITS, None)
    assert c1.free == {"a100": 2}
    assert c1.aggregates == {"a100": ["gpu"]}
    assert c1.can_take


def test_out_of_scope_in_the_filters_words():
    req = [ex.Request("a100", 1, spec=A100_SPEC)]
    r = run(req, claims={})
    c5 = r["c5"]
    assert c5.category == ex.OUT_OF_SCOPE
    assert c5.reason == reason_of("c5", req)
    assert "the host is in no aggregate with a valid definition" in c5.reason
    assert c5.free == {"a100": None} and c5.aggregates == {"a100": []}


def test_definition_bad_is_out_of_scope_and_named_invalid():
    r = run([ex.Request("a100", 1, spec=A100_SPEC)], claims={})
    c4 = r["c4"]
    assert c4.category == ex.OUT_OF_SCOPE
    assert c4.aggregates == {"a100": ["bad (invalid)"]}


def test_lacks_devices():
    req = [ex.Request("a100", 2, spec=A100_SPEC)]
    r = run(req, claims={})
    c2 = r["c2"]
    assert c2.category == ex.LACKS
    assert c2.reason == reason_of("c2", req)
    assert c2.reason == (
        "PCI flavor 'a100' could not be served: 0 free device(s) matched, 2 asked for"
    )
    assert c2.free == {"a100": 0}


def test_two_flavors_together():
    req = [ex.Request("a100", 1), ex.Request("t4", 1)]
    r = run(req, claims={})
    assert r["c3"].category == ex.LACKS
    assert r["c3"].reason == reason_of("c3", req)
    assert "PCI flavor 't4' could not be served" in r["c3"].reason
    # nv-any-style overlap: a flavor matching both models shares devices
    aggs = [agg("gpu", ["h"], a100=A100, nvany=NV_ANY)]
    out = ex.explain(
        aggs, {"h": [pool("20b5", 2)]}, [ex.Request("a100", 1), ex.Request("nvany", 2)]
    ).hosts[0]
    assert out.category == ex.LACKS
    assert out.reason == (
        "PCI flavors a100+nvany together could not be served: "
        "2 free device(s) matched, 3 asked for"
    )
    assert out.free == {"a100": 2, "nvany": 2}


def test_claim_would_stray_uses_the_replay():
    # no alias spec: the definition is not known to cover the alias, so
    # the filter replays the claim; a claim taking a T4 for a100 fails
    req = [ex.Request("a100", 1)]
    strays = claim_judge.ClaimOutcome(
        (claim_judge.ClaimStep("a100", pool("1eb8", 1, "0000:82:00.0"), 1),)
    )
    r = run(req, claims={"c1": lambda: strays})
    assert r["c1"].category == ex.CLAIM
    assert r["c1"].reason == reason_of("c1", req, claim=lambda: strays)
    assert "the compute's claim would take 0000:82:00.0" in r["c1"].reason
    assert not r["c1"].can_take


def test_offline_claim_not_replayed_is_said():
    r = run([ex.Request("a100", 1)])  # no claims: offline
    assert r["c1"].category == ex.UNVERIFIED
    # a spec the definition covers needs no replay: verified offline too
    r = run([ex.Request("a100", 1, spec=A100_SPEC)])
    assert r["c1"].category == ex.FITS


def test_unmanaged_left_to_nova_or_rejected():
    e = ex.explain(AGGS, HOSTS, [ex.Request("other", 1)])
    assert e.unmanaged == ["other"]
    assert {h.category for h in e.hosts} == {ex.NOT_MANAGED}
    e = ex.explain(AGGS, HOSTS, [ex.Request("other", 1)], reject_unmanaged=True)
    assert {h.category for h in e.hosts} == {ex.REJECTED}
    assert e.hosts[0].reason == (
        "PCI flavor 'other' is not defined on any aggregate "
        "([aggregate_pci] reject_unmanaged_requests)"
    )
    assert not any(h.can_take for h in e.hosts)


def test_summary_line_and_nova_filter():
    e = ex.explain(
        AGGS,
        HOSTS,
        [ex.Request("a100", 2, spec=A100_SPEC)],
        claims={},
        nova_filter=lambda host: "passes" if host == "c1" else "rejects",
    )
    assert e.summary() == "1 host can take it now; 2 are out of scope; 2 lack devices"
    assert {h.host: h.nova_filter for h in e.hosts}["c1"] == "passes"


def test_requests_from_alias_spec():
    assert ex.requests_from({"a100": 2, "t4": 0}) == [ex.Request("a100", 2)]
