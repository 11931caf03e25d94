"""Draining a host with a narrowed PCI flavor (issue 17): cold migration and
resize through ``openstack``, the device held read from the cell DB.

The cloud's ``[pci] alias`` ``gpu`` matches both models (A100 10de:20b5,
T4 10de:1eb8).  PCI flavor ``gpu`` is narrowed to one model per aggregate:
A100 on drain-c1 (compute1: two A100), T4 on drain-c2 (compute2: an A100
at 0000:81:00.0 listed before its T4 at 0000:83:00.0).  Nova's claim takes
devices by the alias in pool order, so on compute2 it would take the A100
while the A100 is free: the filter refuses compute2 then (the migration
gets "No valid host" and the instance stays where it was), and passes it
once the A100 is held by another instance (the claim then takes the T4).
"""

import time

import pytest

A100 = "--vendor-id 10de --product-id 20b5 --device-type type-PCI"
T4 = "--vendor-id 10de --product-id 1eb8 --device-type type-PCI"


@pytest.fixture
def drain(cloud):
    """The aggregates, PCI flavors and Nova flavors above; removed afterwards
    with the servers."""
    flavor = "flavor create --vcpus 1 --disk 0 --ram %d --property pci_passthrough:alias=%s %s"
    make, remove = cloud.host_aggregates("drain")
    try:
        cloud.batch(
            make
            + [
                "pci flavor create gpu --aggregate drain-c1 " + A100,
                "pci flavor create gpu --aggregate drain-c2 --allow-different " + T4,
                "pci flavor create a100 --aggregate drain-c2 " + A100,
                flavor % (64, "gpu:1", "drain.gpu"),
                flavor % (96, "gpu:1", "drain.gpu.big"),
                flavor % (64, "a100:1", "drain.a100"),
            ]
        )
        keys = cloud.sql(
            "SELECT m.`key` FROM nova_api.aggregate_metadata m JOIN nova_api.aggregates a"
            " ON a.id = m.aggregate_id WHERE a.name = 'drain-c2' ORDER BY 1"
        )
        assert keys == [["pci_flavor:a100"], ["pci_flavor:gpu"]], keys
        yield
    finally:
        left = cloud.sql(
            "SELECT display_name FROM nova.instances WHERE deleted = 0 AND display_name"
            " IN ('drain-vm', 'drain-blocker')"
        )
        cloud.batch(
            (["server delete --wait " + " ".join(n for [n] in left)] if left else [])
            + remove
            + [
                "flavor delete drain.gpu drain.gpu.big drain.a100",
            ]
        )
        # Nova defect 4 (docs/nova-defects.md): the devices of a server
        # deleted where a confirmed move put it stay held until that
        # compute's next update_available_resource (every 60 s here); the
        # next tests need them.
        cloud.wait_devices_released(timeout=90)


def boot(cloud, name, flavor):
    """``server create --wait``: the server's id (its status is asserted)."""
    srv = cloud.osc_json(
        "server", "create", "--flavor", flavor, "--image", cloud.image,
        "--nic", "none", "--wait", name, timeout=300,
    )  # fmt: skip
    assert srv["status"] == "ACTIVE", srv
    return srv["id"]


def where(cloud, server_id):
    """(vm_state, host, Nova flavor) from the cell DB: ``resized`` is what
    ``server show`` calls VERIFY_RESIZE."""
    [row] = cloud.sql(
        "SELECT i.vm_state, i.host, f.name FROM nova.instances i JOIN nova_api.flavors f"
        " ON f.id = i.instance_type_id WHERE i.uuid = '%s'" % server_id
    )
    return tuple(row)


def migrations(cloud, server_id):
    """Statuses of the server's migrations, oldest first."""
    return [
        r[0]
        for r in cloud.sql(
            "SELECT status FROM nova.migrations WHERE instance_uuid = '%s'"
            " AND deleted = 0 ORDER BY id" % server_id
        )
    ]


def wait_for(what, probe, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, "%s: not within %d s" % (what, timeout)
            return value
        time.sleep(0.5)


def confirm(cloud, server_id):
    """``openstack server resize confirm``; returns the devices the instance
    holds once only the destination's are left (confirm frees the source's)."""
    cloud.osc("server", "resize", "confirm", server_id)
    return wait_for(
        "one device after confirm",
        lambda: len(cloud.devices_of(server_id)) == 1 and cloud.devices_of(server_id),
    )


def test_drain_a_narrowed_flavor_by_migrate_and_resize(cloud, drain):
    vm = boot(cloud, "drain-vm", "drain.gpu")
    assert where(cloud, vm) == ("active", "compute1", "drain.gpu")
    [(host, first)] = cloud.devices_of(vm)
    assert host == "compute1" and first in ("0000:81:00.0", "0000:82:00.0")

    # Drain compute1: compute2's claim would take its free A100 (gpu is T4
    # there): refused up front, the instance keeps its host and device.
    cloud.osc("server", "migrate", "drain-vm")
    wait_for("the migration fails", lambda: migrations(cloud, vm) == ["error"])
    assert where(cloud, vm) == ("active", "compute1", "drain.gpu")
    assert cloud.devices_of(vm) == [("compute1", first)]

    # With compute2's A100 held by another instance the claim takes the T4.
    cloud.batch(
        [
            "server create --flavor drain.a100 --image %s --nic none --wait drain-blocker"
            % cloud.image,
            "server migrate --wait drain-vm",
        ]
    )
    [[blocker]] = cloud.sql(
        "SELECT uuid FROM nova.instances WHERE deleted = 0 AND display_name = 'drain-blocker'"
    )
    assert cloud.devices_of(blocker) == [("compute2", "0000:81:00.0")]
    assert where(cloud, vm) == ("resized", "compute2", "drain.gpu")
    assert confirm(cloud, vm) == [("compute2", "0000:83:00.0")]

    # Resize to another Nova flavor of the same PCI flavor: back to compute1
    # (Nova does not resize onto the same host by default), onto an A100.
    wait_for("active after confirm", lambda: where(cloud, vm)[0] == "active")
    cloud.osc("server", "resize", "--flavor", "drain.gpu.big", "--wait", "drain-vm",
              timeout=300)  # fmt: skip
    assert where(cloud, vm) == ("resized", "compute1", "drain.gpu.big")
    [(host, address)] = confirm(cloud, vm)
    assert host == "compute1" and address in ("0000:81:00.0", "0000:82:00.0")
    cloud.audit()
