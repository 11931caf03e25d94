"""Neutron-port PCI requests scoped by aggregate metadata (scheduler/ports.py)."""

from types import SimpleNamespace as NS

from aggregate_pci.scheduler import decision, host_view, ports, request

CX5_VF = (
    '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF",'
    '"physical_network":"physnet2"}'
)
INTEL_VF = (
    '{"vendor_id":"8086","product_id":"1515","device_type":"type-VF",'
    '"physical_network":"physnet2"}'
)
GPU = '{"vendor_id":"10de","product_id":"20b5"}'


def port_req(physnet="physnet2", count=1, **extra):
    spec = {"physical_network": physnet, "remote_managed": "False"}
    spec.update(extra)
    return NS(alias_name=None, count=count, spec=[spec], request_id="r-" + physnet)


def alias_req(name, count=1):
    return NS(alias_name=name, count=count, spec=[{}], request_id="a-" + name)


def agg(name, **metadata):
    return NS(name=name, uuid="uuid-" + name, metadata=metadata)


def vf_pool(vendor="15b3", product="101e", physnet="physnet2", count=1, **extra):
    pool = {
        "vendor_id": vendor,
        "product_id": product,
        "dev_type": "type-VF",
        "numa_node": 0,
        "address": "0000:81:00.0",
        "physical_network": physnet,
        "remote_managed": "false",
        "count": count,
    }
    pool.update(extra)
    return pool


def gpu_pool(count=1):
    return {
        "vendor_id": "10de",
        "product_id": "20b5",
        "dev_type": "type-PCI",
        "numa_node": 0,
        "address": "0000:82:00.0",
        "count": count,
    }


def cache():
    return host_view.DefinitionCache(64)


def decide(plan, aggregates, pools):
    preds = host_view.host_predicates(aggregates, plan, cache())
    if isinstance(preds, str):
        return "out of scope: " + preds
    return decision.explain(pools, plan, preds)


# -- which physical networks are managed ---------------------------------


def test_managed_physnets_from_valid_definitions_only():
    physnet3 = CX5_VF.replace("physnet2", "PhysNet3")
    values = [CX5_VF, GPU, "{not json", "[%s,%s]" % (physnet3, GPU)]
    assert ports.managed_physnets(values) == {"physnet2", "physnet3"}
    assert ports.managed_physnets(values, cache().parse) == {"physnet2", "physnet3"}
    assert ports.managed_physnets([GPU]) == set()


# -- plans -----------------------------------------------------------------


def test_no_port_request_no_lookup():
    def boom():
        raise AssertionError("physnets must not be looked up")

    assert ports.extend_plan(None, [alias_req("a100")], boom) is None
    tunnelled = NS(alias_name=None, count=1, spec=[{"physical_network": None}])
    assert ports.extend_plan(None, [tunnelled], boom) is None


def test_unmanaged_physnet_is_left_to_nova():
    assert ports.extend_plan(None, [port_req("physnet1")], lambda: {"physnet2"}) is None


def test_managed_physnet_case_insensitive_and_identical_ports_summed():
    plan = ports.extend_plan(
        None,
        [port_req("PhysNet2"), port_req("physnet2"), port_req("physnet2")],
        lambda: {"physnet2"},
    )
    assert [(r.name, r.count, r.request_ids) for r in plan.requests] == [
        ("port:PhysNet2", 1, ()),
        ("port:physnet2", 2, ()),
    ]


def test_port_requests_join_the_alias_plan_and_reject_all_wins():
    base = request.plan_request([alias_req("a100")], lambda: {"a100"}, False)
    plan = ports.extend_plan(
        base, [alias_req("a100"), port_req()], lambda: {"physnet2"}
    )
    assert [r.name for r in plan.requests] == ["a100", "port:physnet2"]
    rejected = request.RequestPlan((), reject_all="x")
    assert ports.extend_plan(rejected, [port_req()], lambda: {"physnet2"}) is rejected


def test_request_names_show_non_default_spec_keys():
    assert ports.request_name({"physical_network": "p", "remote_managed": "False"}) == (
        "port:p"
    )
    name = ports.request_name(
        {"physical_network": "p", "remote_managed": "True", "dev_type": "type-PF"}
    )
    assert name == "port:p[dev_type=type-PF,remote_managed=True]"


# -- host decisions ------------------------------------------------------


def port_plan(*reqs, managed=("physnet2",)):
    return ports.extend_plan(None, reqs, lambda: set(managed))


def test_host_outside_defining_aggregates_is_out_of_scope():
    plan = port_plan(port_req())
    # In an aggregate, but its flavor does not fix physnet2.
    assert decide(plan, [agg("gpu", **{"pci_flavor:a100": GPU})], [vf_pool()]) == (
        "out of scope: port:physnet2"
    )
    assert decide(plan, [], [vf_pool()]) == "out of scope: port:physnet2"
    assert decide(plan, [agg("r1", **{"pci_flavor:cx5": CX5_VF})], [vf_pool()]) is None


def test_only_devices_matching_the_definition_and_the_physnet():
    plan = port_plan(port_req())
    aggs = [agg("r1", **{"pci_flavor:cx5": CX5_VF})]
    # An Intel VF on physnet2 is outside the definition; a CX5 VF tagged
    # physnet1 does not serve a physnet2 port.
    assert decide(plan, aggs, [vf_pool("8086", "1515"), vf_pool(physnet="physnet1")])
    assert decide(plan, aggs, [vf_pool(physnet="PHYSNET2")]) is None


def test_only_match_objects_fixing_the_physnet_count():
    # A list definition: CX5 VFs on physnet2 OR Intel VFs (any physnet).
    value = "[%s,%s]" % (CX5_VF, '{"vendor_id":"8086","product_id":"1515"}')
    plan = port_plan(port_req())
    aggs = [agg("r1", **{"pci_flavor:mixed": value})]
    assert decide(plan, aggs, [vf_pool("8086", "1515")])
    assert decide(plan, aggs, [vf_pool()]) is None


def test_definitions_of_several_aggregates_are_ored():
    plan = port_plan(port_req())
    aggs = [
        agg("a", **{"pci_flavor:cx5": CX5_VF}),
        agg("b", **{"pci_flavor:x": INTEL_VF}),
    ]
    assert decide(plan, aggs, [vf_pool("8086", "1515")]) is None


def test_bad_definition_is_ignored():
    plan = port_plan(port_req())
    aggs = [agg("a", **{"pci_flavor:cx5": "{bad"})]
    assert decide(plan, aggs, [vf_pool()]) == "out of scope: port:physnet2"


def test_nova_spec_semantics_pf_vdpa_remote_managed_trusted():
    pf = vf_pool(dev_type="type-PF")
    vdpa = vf_pool(dev_type="vdpa")
    remote = vf_pool(remote_managed="true")
    any_type = CX5_VF.replace(',"device_type":"type-VF"', "")
    aggs = [agg("r1", **{"pci_flavor:cx5": any_type})]
    # direct port: VFs only; PFs, vDPA and remote-managed devices excluded.
    direct = port_plan(port_req())
    for pool in (pf, vdpa, remote):
        assert decide(direct, aggs, [pool]), pool
    # direct-physical asks dev_type type-PF: only PFs.
    physical = port_plan(port_req(dev_type="type-PF"))
    assert decide(physical, aggs, [pf]) is None
    assert decide(physical, aggs, [vf_pool()])
    assert decide(port_plan(port_req(dev_type="vdpa")), aggs, [vdpa]) is None
    remote_plan = port_plan(port_req(remote_managed="True"))
    assert decide(remote_plan, aggs, [remote]) is None
    assert decide(remote_plan, aggs, [vf_pool()])
    # trusted must be a tag of the pool (compared as a string).
    trusted = port_plan(port_req(trusted="True"))
    assert decide(trusted, aggs, [vf_pool()])
    assert decide(trusted, aggs, [vf_pool(trusted="true")]) is None
    # A pool without a remote_managed tag (not a network device) never
    # matches a port spec, as in Nova.
    untagged = vf_pool()
    del untagged["remote_managed"]
    assert decide(direct, aggs, [untagged])


def test_definition_device_type_must_agree_with_the_port():
    # The definition fixes type-VF: a direct-physical (PF) port cannot use it.
    plan = port_plan(port_req(dev_type="type-PF"))
    aggs = [agg("r1", **{"pci_flavor:cx5": CX5_VF})]
    assert decide(plan, aggs, [vf_pool(dev_type="type-PF")])


def test_ports_and_aliases_fit_jointly():
    # Two physnet2 ports plus one alias device whose definition also
    # matches the same CX5 VFs: three VFs needed.
    alias_def = '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF"}'
    base = request.plan_request([alias_req("vf")], lambda: {"vf"}, False)
    plan = ports.extend_plan(
        base, [alias_req("vf"), port_req(), port_req()], lambda: {"physnet2"}
    )
    aggs = [agg("r1", **{"pci_flavor:cx5": CX5_VF, "pci_flavor:vf": alias_def})]
    why = decide(plan, aggs, [vf_pool(count=2)])
    assert "2 free device(s) matched, 3 asked for" in why
    assert decide(plan, aggs, [vf_pool(count=3)]) is None


def test_exhaustion_when_in_scope_vfs_are_used():
    plan = port_plan(port_req())
    aggs = [agg("r1", **{"pci_flavor:cx5": CX5_VF})]
    assert "0 free device(s) matched, 1 asked for" in decide(
        plan, aggs, [vf_pool(count=0), gpu_pool(4)]
    )


def test_hosts_fixing_the_physnet_alike_share_one_predicate_and_its_masks():
    """Issue 21: one predicate object per set of match objects within a
    plan, so hosts in different aggregates with the same definition share
    each pool's mask (``RequestMemo.masks``), and the verdicts stay exact."""
    plan = port_plan(port_req())
    (req,) = plan.requests
    c = cache()
    first = req.predicate_for([agg("r1", **{"pci_flavor:cx5": CX5_VF})], c)
    second = req.predicate_for([agg("r2", **{"pci_flavor:other": CX5_VF})], c)
    intel = req.predicate_for([agg("r3", **{"pci_flavor:x": INTEL_VF})], c)
    assert first is second
    assert intel is not first
    memo = request.RequestMemo()
    aggs_a = [agg("r1", **{"pci_flavor:cx5": CX5_VF})]
    aggs_b = [agg("r2", **{"pci_flavor:other": CX5_VF})]
    for aggs, pools, fits in (
        (aggs_a, [vf_pool()], True),
        (aggs_b, [vf_pool(count=2)], True),
        (aggs_b, [vf_pool("8086", "1515")], False),
    ):
        why = decision.decide_host(aggs, pools, plan, c, memo=memo)
        assert (why is None) == fits, why
    assert len(memo.masks) == 1
