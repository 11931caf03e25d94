"""``decide_host`` against the independent reference (tests/reference), on
random clouds, hosts and requests (hypothesis, no Nova).

The reference judges our filter's own step (definitions and joint fit; the
claim replay needs Nova's pools and is checked by tools/bench/filter.py):
a host passes exactly when the reference says "pass", and a refused host's
reason names the reference's verdict.  Hosts of one request share one
``DefinitionCache`` and one per-request ``RequestMemo``, as in the filter.
"""

import json
from types import SimpleNamespace as NS

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregate_pci import codec
from aggregate_pci.scheduler import decision, host_view, ports, request
from tests import reference

A100 = {"vendor_id": "10de", "product_id": "20b5"}
V100 = {"vendor_id": "10de", "product_id": "1db4"}
CX5 = {"vendor_id": "15b3", "product_id": "101e"}

#: Metadata values aggregates may carry: valid definitions (globs, tags,
#: device types, lists) and bad ones (ignored, the name stays managed).
VALUES = [
    json.dumps(doc)
    for doc in (
        A100,
        V100,
        [A100, V100],
        dict(A100, address="0000:8[12]:*"),
        dict(A100, gpu_tier="gold"),
        dict(CX5, device_type="type-VF", physical_network="physnet1"),
        dict(CX5, physical_network="PhysNet2"),
        [dict(CX5, device_type="type-PF", physical_network="physnet2"), V100],
        {"vendor_id": "10de"},
        "not json",
    )
]
NAMES = ("gpu", "a100", "vf")

_gpu = [
    dict(A100, dev_type="type-PCI", address="0000:81:00.0", gpu_tier="gold"),
    dict(A100, dev_type="type-PCI", address="0000:41:00.0", gpu_tier="silver"),
    dict(V100, dev_type="type-PCI", address="0000:82:00.0", gpu_tier="gold"),
]
# NIC pools carry remote_managed, as Nova's do.
_nic = [
    dict(CX5, dev_type=dev_type, address=address, physical_network=net, **tags)
    for dev_type, address, net, tags in (
        ("type-VF", "0000:3b:00.2", "physnet1", {"remote_managed": "false"}),
        ("type-VF", "0000:3b:00.3", "physnet2", {"remote_managed": "false"}),
        ("type-VF", "0000:5e:00.2", "physnet2", {"remote_managed": "true"}),
        ("type-PF", "0000:3b:00.0", "physnet2", {"remote_managed": "false"}),
    )
]
pool_st = st.builds(
    lambda template, count: dict(template, numa_node=0, count=count),
    st.sampled_from(_gpu + _nic),
    st.integers(0, 3),
)
aggregate_st = st.dictionaries(
    st.sampled_from(NAMES).map(codec.make_key), st.sampled_from(VALUES), max_size=3
)
alias_st = st.tuples(st.sampled_from(NAMES + ("unmanaged",)), st.integers(1, 3))
port_st = st.tuples(
    st.sampled_from(("physnet1", "physnet2", "physnet3")),
    st.sampled_from(({}, {"dev_type": "type-PF"}, {"remote_managed": "True"})),
)


@st.composite
def clouds(draw):
    """(cloud aggregates, hosts as (aggregates, pools), alias and port requests)."""
    aggs = [
        NS(name="agg%d" % i, uuid="u%d" % i, metadata=md)
        for i, md in enumerate(draw(st.lists(aggregate_st, min_size=1, max_size=4)))
    ]
    hosts = draw(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from(aggs), unique_by=id, max_size=3),
                st.lists(pool_st, max_size=4),
            ),
            min_size=1,
            max_size=3,
        )
    )
    aliases = draw(st.lists(alias_st, max_size=3))
    port_reqs = draw(st.lists(port_st, max_size=2))
    return aggs, hosts, aliases, port_reqs


def nova_requests(aliases, port_reqs):
    """InstancePCIRequest look-alikes: flavor aliases, then Neutron ports."""
    reqs = [
        NS(alias_name=name, count=count, request_id=None, spec=[dict(A100)])
        for name, count in aliases
    ]
    reqs += [
        NS(
            alias_name=None,
            count=1,
            request_id=None,
            spec=[dict({"physical_network": net, "remote_managed": "False"}, **extra)],
        )
        for net, extra in port_reqs
    ]
    return reqs


def cloud_values(aggs):
    """Every ``pci_flavor:*`` value in the cloud (bad ones included)."""
    return [v for a in aggs for k, v in a.metadata.items() if codec.is_flavor_key(k)]


def product_verdicts(aggs, hosts, requests, managed, reject_unmanaged, with_ports):
    """``decide_host`` on each host, as the filter plans and calls it."""
    plan = request.plan_request(requests, lambda: set(managed), reject_unmanaged)
    if with_ports:
        values = cloud_values(aggs)
        plan = ports.extend_plan(plan, requests, lambda: ports.managed_physnets(values))
    if plan is None:
        return [None] * len(hosts)
    cache, memo = host_view.DefinitionCache(64), request.RequestMemo()
    return [
        decision.decide_host(host_aggs, pools, plan, cache, memo=memo)
        for host_aggs, pools in hosts
    ]


def reference_verdicts(aggs, hosts, requests, managed, with_ports):
    """The reference's verdict before the claim replay on each host."""
    physnets = reference.reference_physnets(aggs) if with_ports else set()
    return [
        reference.reference_fit(
            NS(aggregates=host_aggs, pci_stats=NS(pools=pools)),
            requests,
            managed,
            physnets,
        )
        for host_aggs, pools in hosts
    ]


REASONS = {
    "no-definition": "in no aggregate with a valid definition",
    "no-fit": "could not be served",
}


def check_agreement(cloud, reject_unmanaged, with_ports):
    """Assert ``decide_host`` and the reference agree on every host."""
    aggs, hosts, aliases, port_reqs = cloud
    requests = nova_requests(aliases, port_reqs if with_ports else [])
    # Names some aggregate defines, bad values included, as the filter's
    # managed_flavor_names reads them from the API DB.
    managed = {
        k[len(codec.KEY_PREFIX) :]
        for a in aggs
        for k in a.metadata
        if codec.is_flavor_key(k)
    }
    got = product_verdicts(aggs, hosts, requests, managed, reject_unmanaged, with_ports)
    if reject_unmanaged and any(name not in managed for name, _ in aliases):
        assert all(v and "reject_unmanaged_requests" in v for v in got), got
        return
    want = reference_verdicts(aggs, hosts, requests, managed, with_ports)
    for verdict, expected in zip(got, want, strict=True):
        if expected == "pass":
            assert verdict is None, (verdict, cloud)
        else:
            assert verdict is not None and REASONS[expected] in verdict, (
                expected,
                verdict,
                cloud,
            )


@settings(max_examples=1000, deadline=None)
@given(clouds(), st.booleans(), st.booleans())
def test_decide_host_agrees_with_the_reference(cloud, reject_unmanaged, with_ports):
    check_agreement(cloud, reject_unmanaged, with_ports)


def _one_cloud(pool_count, wanted):
    """One aggregate defining a100 on one host with one A100 pool."""
    aggs = [NS(name="g", uuid="u", metadata={codec.make_key("a100"): VALUES[0]})]
    hosts = [(aggs, [dict(_gpu[0], numa_node=0, count=pool_count)])]
    return aggs, hosts, [("a100", wanted)], []


def test_agreement_on_a_fit_and_a_refusal():
    check_agreement(_one_cloud(2, 2), False, False)
    check_agreement(_one_cloud(1, 2), False, False)
    aggs, hosts, aliases, _ = _one_cloud(1, 2)
    requests = nova_requests(aliases, [])
    assert reference_verdicts(aggs, hosts, requests, {"a100"}, False) == ["no-fit"]


def test_a_decision_passing_every_host_is_caught(monkeypatch):
    monkeypatch.setattr(decision, "decide_host", lambda *a, **k: None)
    with pytest.raises(AssertionError):
        check_agreement(_one_cloud(1, 2), False, False)


def test_a_decision_refusing_a_fitting_host_is_caught(monkeypatch):
    why = "PCI flavor 'a100' could not be served: 0 free device(s) matched"
    monkeypatch.setattr(decision, "decide_host", lambda *a, **k: why)
    with pytest.raises(AssertionError):
        check_agreement(_one_cloud(2, 1), False, False)
