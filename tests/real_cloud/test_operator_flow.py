"""PCI flavors on a real multi-process cloud, only through operator commands.

The cloud (tools/cloud/cloud.sh): compute1 has two A100 (10de:20b5) at
0000:81:00.0 and 0000:82:00.0; compute2 has one A100 at 0000:81:00.0 and a
T4 (10de:1eb8) at 0000:83:00.0; nova-scheduler runs AggregatePciFilter from
nova.conf; nova-api and the computes have ``[pci] alias`` a100 and t4.

The tests run in file order and build on each other (one scenario):
a100 is first defined on an aggregate holding compute1 only, so A100
servers must go to compute1 although compute2 has a free A100; the third
gets "No valid host"; then the same flavor is defined on compute2's
aggregate, with no restart, and the next server lands on compute2.
"""

import json
import re

import pytest

from tests.fixtures import cloud_db as db

A100 = ["--vendor-id", "10de", "--product-id", "20b5", "--device-type", "type-PCI"]


@pytest.fixture(scope="module")
def scenario(cloud):
    # One OpenStackClient process for the setup (each costs 3-4 s).
    cloud.batch(
        [
            "aggregate create agg-c1",
            "aggregate add host agg-c1 compute1",
            "aggregate create agg-c2",
            "aggregate add host agg-c2 compute2",
            "flavor create --vcpus 1 --ram 64 --disk 0 "
            "--property pci_passthrough:alias=a100:1 gpu.a100",
            "flavor create --vcpus 1 --ram 64 --disk 0 "
            "--property pci_passthrough:alias=t4:1 gpu.t4",
        ]
    )
    aggs = {a["Name"]: a for a in cloud.osc_json("aggregate", "list", "--long")}
    assert set(aggs) >= {"agg-c1", "agg-c2"}, aggs
    state = {"servers": []}
    yield state
    # Leave the cloud as found: servers first (they hold devices).
    cmds = []
    if state["servers"]:
        cmds.append("server delete --wait " + " ".join(state["servers"]))
    cmds += [
        "aggregate remove host agg-c1 compute1",
        "aggregate remove host agg-c2 compute2",
        "aggregate delete agg-c1 agg-c2",
        "flavor delete gpu.a100 gpu.t4",
    ]
    cloud.batch(cmds)


def boot(cloud, name, expect_ok=True, flavor="gpu.a100"):
    proc = cloud.osc(
        "server",
        "create",
        "--flavor",
        flavor,
        "--image",
        cloud.image,
        "--nic",
        "none",
        "--wait",
        name,
        "-f",
        "json",
        check=False,
        timeout=300,
    )
    if expect_ok:
        if proc.returncode != 0:
            # Say why (Nova's fault), and leave no ERROR server behind for the
            # next tests to trip over (names are reused).
            shown = cloud.osc("server", "show", name, "-f", "json", check=False)
            cloud.osc("server", "delete", "--wait", name, check=False)
            raise AssertionError(
                "server create %s failed: %s\n%s" % (name, proc.stderr, shown.stdout)
            )
        return json.loads(proc.stdout)
    return proc


def show(cloud, name):
    return cloud.osc_json("server", "show", name)


def test_pci_flavor_create_as_admin(cloud, scenario):
    proc = cloud.osc(
        "pci", "flavor", "create", "a100", "--aggregate", "agg-c1", *A100, "-f", "json"
    )
    rows = json.loads(proc.stdout)
    assert rows["result"] == "created", rows
    assert rows["key"] == "pci_flavor:a100"
    listed = cloud.osc_json("aggregate", "show", "agg-c1")
    assert json.loads(listed["properties"]["pci_flavor:a100"]) == {
        "device_type": "type-PCI",
        "product_id": "20b5",
        "vendor_id": "10de",
    }


def test_non_admin_is_refused(cloud, scenario):
    proc = cloud.run(
        "openstack",
        "pci",
        "flavor",
        "create",
        "x1",
        "--aggregate",
        "agg-c1",
        *A100,
        cloud="demo",
    )
    assert proc.returncode == 1, proc
    assert "admin role required" in proc.stderr
    # Nothing was written.
    props = cloud.osc_json("aggregate", "show", "agg-c1")["properties"]
    assert "pci_flavor:x1" not in props


def test_alias_config_matches_nova_conf_and_check_passes(cloud, scenario):
    proc = cloud.osc("pci", "flavor", "alias-config")
    generated = [
        json.loads(v) for v in re.findall(r"^alias = (.*)$", proc.stdout, re.M)
    ]
    assert generated == [
        {
            "device_type": "type-PCI",
            "name": "a100",
            "product_id": "20b5",
            "vendor_id": "10de",
        }
    ]
    with open(cloud.nova_conf) as f:
        configured = [
            json.loads(v) for v in re.findall(r"^alias = (.*)$", f.read(), re.M)
        ]
    assert generated[0] in configured
    proc = cloud.osc(
        "pci", "flavor", "check", "--nova-conf", cloud.nova_conf, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"check: 0 error\(s\)", proc.stdout + proc.stderr)


def test_servers_land_in_scope_and_hold_their_devices(cloud, scenario):
    # compute2 also has a free A100, but only compute1 is in an aggregate
    # defining a100.  Nova's weighers alone would spread the two servers.
    first = boot(cloud, "vm1")
    scenario["servers"].append("vm1")
    second = boot(cloud, "vm2")
    scenario["servers"].append("vm2")
    for srv in (first, second):
        assert srv["status"] == "ACTIVE", srv
        assert srv["OS-EXT-SRV-ATTR:host"] == "compute1", srv
    held = cloud.devices_of(first["id"]) + cloud.devices_of(second["id"])
    assert sorted(held) == [("compute1", "0000:81:00.0"), ("compute1", "0000:82:00.0")]


def test_no_valid_host_where_scope_says_so(cloud, scenario):
    proc = boot(cloud, "vm3", expect_ok=False)
    scenario["servers"].append("vm3")
    assert proc.returncode != 0
    srv = show(cloud, "vm3")
    assert srv["status"] == "ERROR", srv
    assert "No valid host" in json.dumps(srv.get("fault")), srv
    # compute2's A100 is still free: the scope, not capacity, said no.
    assert cloud.sql(
        "SELECT count(*) FROM nova.pci_devices p JOIN nova.compute_nodes c"
        " ON c.id = p.compute_node_id WHERE c.host = 'compute2'"
        " AND p.product_id = '20b5' AND p.status = 'available'"
        " AND p.deleted = 0"
    ) == [["1"]]


def test_metadata_change_takes_effect_without_restart(cloud, scenario):
    pids_before = {p.name: p.read_text() for p in (cloud.root / "run").glob("*.pid")}
    proc = cloud.osc(
        "pci", "flavor", "create", "a100", "--aggregate", "agg-c2", *A100, "-f", "json"
    )
    assert json.loads(proc.stdout)["result"] == "created"
    srv = boot(cloud, "vm4")
    scenario["servers"].append("vm4")
    assert srv["OS-EXT-SRV-ATTR:host"] == "compute2", srv
    assert cloud.devices_of(srv["id"]) == [("compute2", "0000:81:00.0")]
    pids_after = {p.name: p.read_text() for p in (cloud.root / "run").glob("*.pid")}
    assert pids_after == pids_before, "a service was restarted"


def test_capacity_from_the_cells_database(cloud, scenario):
    proc = cloud.osc(
        "pci",
        "flavor",
        "capacity",
        "--config-file",
        cloud.nova_admin_conf,
        "-f",
        "json",
    )
    rows = {
        (r["PCI Flavor"], r["Scope"], r["Name"]): (r["Matching"], r["Used"], r["Free"])
        for r in json.loads(proc.stdout)
    }
    assert rows[("a100", "total", "*")] == (3, 3, 0), rows
    assert rows[("a100", "host", "compute1")] == (2, 2, 0), rows
    assert rows[("a100", "host", "compute2")] == (1, 1, 0), rows


LEGACY_TABLE = (
    db.pci_flavors_table("pci_legacy")
    + """
INSERT INTO pci_legacy.pci_flavors (name, description, spec, deleted) VALUES
 ('t4', 'inference', '{"vendor_id":"10de","product_id":"1eb8","device_type":"type-PCI"}', 0),
 ('k80', 'retired', '{"vendor_id":"10de","product_id":"102d"}', 1);
"""
)


def test_migrate_from_mariadb_table_and_undo(cloud, scenario, tmp_path):
    cloud.sql(LEGACY_TABLE)
    checksum = cloud.sql("CHECKSUM TABLE pci_legacy.pci_flavors")
    # root over the server's socket: no password in argv.
    url = "mysql+pymysql://root@localhost/pci_legacy?unix_socket=%s" % (
        cloud.root / "mariadb" / "sock"
    )
    journal = tmp_path / "migrate.journal"
    proc = cloud.osc(
        "pci",
        "flavor",
        "migrate",
        "--db-url",
        url,
        "--auto-aggregates",
        "--config-file",
        cloud.nova_admin_conf,
        "--journal",
        journal,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    agg = cloud.osc_json("aggregate", "show", "pci-flavor-t4")
    assert agg["hosts"] == ["compute2"], agg
    assert json.loads(agg["properties"]["pci_flavor:t4"]) == {
        "device_type": "type-PCI",
        "product_id": "1eb8",
        "vendor_id": "10de",
    }
    # The migrated flavor schedules: the T4 server goes to compute2's T4.
    srv = boot(cloud, "vm-t4", flavor="gpu.t4")
    scenario["servers"].append("vm-t4")
    assert srv["OS-EXT-SRV-ATTR:host"] == "compute2", srv
    assert cloud.devices_of(srv["id"]) == [("compute2", "0000:83:00.0")]
    # Undo: the aggregate the migration created (and filled) is gone again.
    proc = cloud.osc("pci", "flavor", "migrate", "--undo", journal, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [a["Name"] for a in cloud.osc_json("aggregate", "list")]
    assert "pci-flavor-t4" not in names, names
    assert cloud.sql("CHECKSUM TABLE pci_legacy.pci_flavors") == checksum
