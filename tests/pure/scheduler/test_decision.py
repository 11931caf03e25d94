"""The filter's helpers on duck-typed hosts, aggregates and requests."""

import logging
from types import SimpleNamespace as NS

from aggregate_pci.scheduler import decision, host_view, request

A100 = '{"product_id":"20b5","vendor_id":"10de"}'
T4 = '{"product_id":"1eb8","vendor_id":"10de"}'
NV_ANY = "[%s,%s]" % (A100, T4)


def req(name, count=1, request_id=None):
    return NS(alias_name=name, count=count, request_id=request_id)


def agg(name, **metadata):
    return NS(name=name, uuid="uuid-" + name, metadata=metadata)


def pool(product, count=1, address="0000:81:00.0", rp=None):
    p = {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "numa_node": 0,
        "count": count,
        "address": address,
    }
    if rp:
        p["rp_uuid"] = rp
    return p


def plan(*requests, managed=("a100", "t4", "nv-any"), reject=False):
    return request.plan_request(requests, lambda: set(managed), reject)


def test_no_alias_requests_means_no_plan_and_no_lookup():
    def boom():
        raise AssertionError("managed names must not be looked up")

    assert request.plan_request([NS(alias_name=None, count=1)], boom, False) is None
    assert request.plan_request([], boom, False) is None


def test_unmanaged_requests_are_left_alone_or_rejected():
    assert plan(req("other")) is None
    p = plan(req("a100", 2), req("other"))
    assert [(r.name, r.count) for r in p.requests] == [("a100", 2)]
    assert plan(req("other"), reject=True).reject_all == "other"


def test_requests_of_one_name_are_summed():
    p = plan(req("a100", 1, "r1"), req("a100", 2, "r2"))
    assert [(r.name, r.count, r.request_ids) for r in p.requests] == [
        ("a100", 3, ("r1", "r2"))
    ]


def test_host_outside_defining_aggregates_cannot_serve():
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100"))
    assert host_view.host_predicates([agg("x", other="1")], p, cache) == "a100"
    assert host_view.host_predicates([], p, cache) == "a100"


def test_definitions_or_across_host_aggregates():
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100", 2))
    preds = host_view.host_predicates(
        [agg("g1", **{"pci_flavor:a100": A100}), agg("g2", **{"pci_flavor:a100": T4})],
        p,
        cache,
    )
    assert decision.explain([pool("20b5"), pool("1eb8")], p, preds) is None


def test_bad_value_is_ignored_logged_once_and_fails_closed(caplog):
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100"))
    bad = agg("bad", **{"pci_flavor:a100": '{"vendor_id":"10de"}'})
    with caplog.at_level(logging.WARNING, logger="aggregate_pci.scheduler.host_view"):
        assert host_view.host_predicates([bad], p, cache) == "a100"
        assert host_view.host_predicates([bad], p, cache) == "a100"
        preds = host_view.host_predicates(
            [bad, agg("ok", **{"pci_flavor:a100": A100})], p, cache
        )
    assert not isinstance(preds, str)
    assert [r.getMessage() for r in caplog.records] == [
        "aggregate-pci: ignoring bad PCI flavor metadata on aggregate 'bad', key "
        "'pci_flavor:a100': missing required field 'product_id' (4 hex digits, as "
        "Nova's [pci] alias requires) (hosts whose only definition of this flavor "
        "it is cannot serve it; fix or delete the key)"
    ]


def test_changed_value_is_not_served_from_cache():
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100"))
    a = agg("g", **{"pci_flavor:a100": A100})
    pools = [pool("20b5")]
    assert decision.explain(pools, p, host_view.host_predicates([a], p, cache)) is None
    a.metadata["pci_flavor:a100"] = T4
    assert decision.explain(pools, p, host_view.host_predicates([a], p, cache)) == (
        "PCI flavor 'a100' could not be served: 0 free device(s) matched, 1 asked for"
    )


def test_explain_names_the_flavors_that_cannot_be_served_together():
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100"), req("nv-any"))
    preds = host_view.host_predicates(
        [agg("g", **{"pci_flavor:a100": A100, "pci_flavor:nv-any": NV_ANY})], p, cache
    )
    assert decision.explain([pool("20b5"), pool("1eb8")], p, preds) is None
    assert decision.explain([pool("20b5", 2)], p, preds) is None
    assert decision.explain([pool("20b5")], p, preds) == (
        "PCI flavors a100+nv-any together could not be served: "
        "1 free device(s) matched, 2 asked for"
    )


def test_candidate_fits_checks_the_mapped_providers():
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100", 1, "rid"))
    preds = host_view.host_predicates(
        [agg("g", **{"pci_flavor:a100": A100[:-1] + ',"address":"0000:82:*"}'})],
        p,
        cache,
    )
    pools = [
        pool("20b5", address="0000:81:00.0", rp="rp81"),
        pool("20b5", address="0000:82:00.0", rp="rp82"),
    ]
    assert decision.candidate_fits({"mappings": {"rid-0": ["rp82"]}}, pools, p, preds)
    assert not decision.candidate_fits(
        {"mappings": {"rid-0": ["rp81"]}}, pools, p, preds
    )
    assert decision.candidate_fits({"mappings": {"other-0": ["rp81"]}}, pools, p, preds)
    assert decision.candidate_fits({"mappings": {}}, pools, p, preds)


def test_cache_is_bounded():
    cache = host_view.DefinitionCache(16)
    p = plan(req("a100"))
    for i in range(100):
        value = '{"product_id":"%04x","vendor_id":"10de"}' % i
        host_view.host_predicates([agg("g", **{"pci_flavor:a100": value})], p, cache)
    mem = cache.memory()
    assert mem["parsed"] <= 16 and mem["compiled"] <= 16


def test_placement_maps_plan():
    p = plan(req("a100", 1, "rid"))
    assert not decision.placement_maps_plan([], p)
    assert not decision.placement_maps_plan([{"mappings": {}}], p)
    assert not decision.placement_maps_plan([{"mappings": {"other-0": ["rp"]}}], p)
    assert decision.placement_maps_plan(
        [{"mappings": {}}, {"mappings": {"rid-0": ["rp"]}}], p
    )
    assert not decision.placement_maps_plan(
        [{"mappings": {"rid-0": ["rp"]}}], plan(req("a100", 1))
    )


def test_cached_parse_errors_do_not_keep_the_callers_frames_alive():
    import gc
    import weakref

    class HostStates:
        pass

    cache = host_view.DefinitionCache(16)
    p = plan(req("a100"))

    def one_request():
        hosts = HostStates()  # stands for the request's host states
        host_view.host_predicates([agg("bad", **{"pci_flavor:a100": "{"})], p, cache)
        return weakref.ref(hosts)

    ref = one_request()
    gc.collect()
    assert ref() is None
