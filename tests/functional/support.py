"""The functional tier's shared fixtures: the embedded Nova's test base and
helpers (see aggregate_pci.demo.embedded_nova), imported from here by every test."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

from aggregate_pci.demo.embedded_nova import (  # noqa: F401  (re-exported for the tests)
    FILTER_PATH,
    GPU_A100,
    GPU_T4,
    NIC,
    TOKENS,
    AggregatePciTestBase,
    accept_tokens,
    gpu_host,
    without_os_env,
    write_nova_conf,
)


def held_devices(test):
    """{"HOST_ADDRESS": instance_uuid} of every device the cell DB records as
    claimed or allocated, on every compute node (Placement's PCI provider
    names have the same form)."""
    from nova import objects

    held = {}
    for cn in objects.ComputeNodeList.get_all(test.ctxt):
        for dev in objects.PciDeviceList.get_by_compute_node(test.ctxt, cn.id):
            if dev.instance_uuid:
                held["%s_%s" % (cn.hypervisor_hostname, dev.address.upper())] = (
                    dev.instance_uuid
                )
    return held


def instance_devices(test, server):
    """Sorted "HOST_ADDRESS" of the devices the cell DB gives ``server``."""
    return sorted(k for k, v in held_devices(test).items() if v == server["id"])


def _pci_providers(test):
    """{rp_uuid: name} of Placement's PCI device providers (PCI in Placement:
    one per device or PF, named HOST_ADDRESS, holding only PCI resources)."""
    rps = test.placement.get("/resource_providers", version="1.14").body
    return {
        rp["uuid"]: rp["name"]
        for rp in rps["resource_providers"]
        if rp["name"] != rp.get("root_provider_uuid") and "_0000:" in rp["name"]
    }


def placement_pci_usage(test):
    """{"HOST_ADDRESS": devices used} of every PCI provider with a usage."""
    out = {}
    for uuid, name in _pci_providers(test).items():
        usages = test.placement.get("/resource_providers/%s/usages" % uuid).body
        used = sum(usages["usages"].values())
        if used:
            out[name] = used
    return out


def placement_pci_allocations(test, consumer):
    """Sorted "HOST_ADDRESS" of the PCI providers ``consumer`` (an instance
    or migration uuid) holds an allocation on."""
    names = _pci_providers(test)
    allocs = test.placement.get("/allocations/%s" % consumer).body["allocations"]
    return sorted(
        names[rp]
        for rp, alloc in allocs.items()
        if rp in names and any(alloc["resources"].values())
    )
