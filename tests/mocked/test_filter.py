"""AggregatePciFilter's own entry points with plain objects (Nova imported)."""

import logging
from types import SimpleNamespace as NS

import pytest

from aggregate_pci import filter as agg_filter

A100 = '{"product_id":"20b5","vendor_id":"10de"}'


class Spec(NS):
    """Enough of a RequestSpec: ``'field' in spec`` like Nova objects."""

    def __contains__(self, field):
        return hasattr(self, field)


def spec(*names, **fields):
    reqs = [
        NS(
            alias_name=n,
            count=1,
            request_id=None,
            spec=[{"vendor_id": "10de", "product_id": "20b5"}],
        )
        for n in names
    ]
    return Spec(pci_requests=NS(requests=reqs), _context=object(), **fields)


def host(name, pools=(), **metadata):
    return NS(
        host=name,
        aggregates=[NS(name="agg-" + name, uuid=name, metadata=metadata)],
        pci_stats=NS(pools=list(pools)),
        allocation_candidates=[],
    )


def gpu(count=1):
    return {
        "vendor_id": "10de",
        "product_id": "20b5",
        "dev_type": "type-PCI",
        "count": count,
        "address": "0000:81:00.0",
    }


@pytest.fixture
def managed(monkeypatch):
    names = {"a100"}
    monkeypatch.setattr(agg_filter, "managed_flavor_names", lambda ctx: names)
    return names


def test_filter_all_and_host_passes_agree(managed):
    hosts = [
        host("in", [gpu()], **{"pci_flavor:a100": A100}),
        host("out", [gpu()]),
        host("full", [gpu(0)], **{"pci_flavor:a100": A100}),
    ]
    f = agg_filter.AggregatePciFilter()
    passed = [h.host for h in f.filter_all(hosts, spec("a100"))]
    assert passed == ["in"]
    assert [f.host_passes(h, spec("a100")) for h in hosts] == [True, False, False]


def test_no_pci_request_passes_everything_without_lookup(monkeypatch):
    def boom(ctx):
        raise AssertionError("no lookup expected")

    monkeypatch.setattr(agg_filter, "managed_flavor_names", boom)
    hosts = [host("a"), host("b")]
    f = agg_filter.AggregatePciFilter()
    assert list(f.filter_all(hosts, Spec(pci_requests=None))) == hosts
    assert list(f.filter_all(hosts, spec())) == hosts


def test_rebuild_is_not_filtered(managed):
    hosts = [host("out", [gpu()])]
    rebuild = spec("a100", scheduler_hints={"_nova_check_type": ["rebuild"]})
    f = agg_filter.AggregatePciFilter()
    assert list(f.filter_all(hosts, rebuild)) == hosts
    assert list(f.filter_all(hosts, spec("a100", scheduler_hints={}))) == []


def test_lookup_failure_fails_closed_and_does_not_raise(monkeypatch, caplog):
    def broken(ctx):
        raise RuntimeError("API database unreachable")

    monkeypatch.setattr(agg_filter, "managed_flavor_names", broken)
    hosts = [host("in", [gpu()], **{"pci_flavor:a100": A100})]
    assert list(agg_filter.AggregatePciFilter().filter_all(hosts, spec("a100"))) == []
    assert "cannot read which PCI flavors the aggregates define" in caplog.text


def test_unexpected_error_on_one_host_rejects_only_that_host(managed, caplog):
    good = host("good", [gpu()], **{"pci_flavor:a100": A100})
    bad = host("bad", [gpu()], **{"pci_flavor:a100": A100})
    bad.pci_stats = NS()  # no .pools: an AttributeError inside the filter
    f = agg_filter.AggregatePciFilter()
    assert [h.host for h in f.filter_all([bad, good], spec("a100"))] == ["good"]
    assert "unexpected error judging host bad" in caplog.text


def test_rejection_debug_line_names_host_and_node(managed, caplog):
    """Multi-node computes (Ironic): one host, many nodes; the debug line
    names both."""
    hosts = [host("ironic-conductor", [gpu(0)], **{"pci_flavor:a100": A100})]
    hosts[0].nodename = "node-7f3a"
    f = agg_filter.AggregatePciFilter()
    with caplog.at_level(logging.DEBUG, logger="aggregate_pci.filter"):
        assert list(f.filter_all(hosts, spec("a100"))) == []
    lines = [r.getMessage() for r in caplog.records if " rejected: " in r.getMessage()]
    assert lines == [
        "host ironic-conductor rejected: PCI flavor 'a100' could not be served: "
        "0 free device(s) matched, 1 asked for (node node-7f3a)"
    ]
