"""The admin guide's SR-IOV port example, run as written on the real cloud.

The cloud (tools/cloud/cloud.sh): compute1 has three ConnectX-5 VFs (15b3:101e,
type-VF, 0000:3b:00.2-4), compute2 two (0000:3b:00.2-3), all tagged
physnet2 by ``[pci] device_spec``; nova-scheduler runs AggregatePciFilter
with ``[aggregate_pci] manage_port_requests = true``; Neutron is the small
in-memory stub of tools/cloud/stubs.py.

The commands are read from docs/admin-guide.md ("Neutron SR-IOV ports")
and must equal those of docs/scheduler.md ("Worked example"), so the pages
cannot drift from what runs here.  Then, as one scenario (file order):
vm1 lands on compute1 holding one of its VFs; a second port server goes
to compute1 too (Nova's weighers alone would spread it to compute2); once
compute1 leaves rack1-sriov (no restart), the next port server gets "No
valid host" although compute2 still has two free physnet2 VFs.
"""

import json
import pathlib
import shlex

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
CX5 = ("15b3", "101e")
VFS = {
    "compute1": ["0000:3b:00.2", "0000:3b:00.3", "0000:3b:00.4"],
    "compute2": ["0000:3b:00.2", "0000:3b:00.3"],
}


def commands_after(text, marker, prompt=""):
    """The commands of the first code block after ``marker`` (backslash
    continuations joined, ``prompt`` stripped), each as an argv list."""
    lines = text[text.index(marker) :].splitlines()[1:]
    block, started = [], False
    for line in lines:
        code = line.startswith("    ") or (prompt and line.startswith(prompt))
        if line.startswith("```"):
            if started:
                break
            started = True
            continue
        if code or (started and line.strip()):
            started = True
            block.append(line)
        elif started:
            break
    joined = "\n".join(block).replace("\\\n", " ")
    argvs = []
    for line in joined.splitlines():
        line = line.strip()
        if prompt:
            assert line.startswith(prompt), line
            line = line[len(prompt) :]
        argvs.append(shlex.split(line))
    return argvs


def docs_example():
    """The admin guide's example, checked equal to scheduler.md's."""
    guide = commands_after(
        (DOCS / "admin-guide.md").read_text(),
        "Example: keep physnet2 ports on the ConnectX-5 VFs of rack 1.",
    )
    scheduler = commands_after(
        (DOCS / "scheduler.md").read_text(),
        "Worked example (physnet2 on the ConnectX-5 VFs of rack 1 only):",
        prompt="$ ",
    )
    assert guide == scheduler, (guide, scheduler)
    assert guide and all(a[0] in ("openstack", "aggregate-pci") for a in guide)
    return guide


def run_example(cloud, argvs, first_batch_extra=()):
    """Runs the commands in page order; consecutive ``openstack`` commands
    share one OpenStackClient process (its batch mode; each process costs
    3-4 s), ``aggregate-pci`` commands run alone and must exit 0."""
    group = list(first_batch_extra)
    for argv in argvs + [None]:
        if argv is not None and argv[0] == "openstack":
            group.append(shlex.join(argv[1:]))
            continue
        if group:
            cloud.batch(group, timeout=420)
            group = []
        if argv is not None:
            proc = cloud.run(*argv)
            assert proc.returncode == 0, proc.stdout + proc.stderr


def json_documents(text):
    """The JSON documents printed one after another by a batch."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while True:
        start = min(
            (j for j in (text.find("{", i), text.find("[", i)) if j >= 0), default=-1
        )
        if start < 0:
            return docs
        doc, i = decoder.raw_decode(text, start)
        docs.append(doc)


def free_vfs(cloud):
    """{host: [address]} of the CX5 VFs the cell DB has available."""
    rows = cloud.sql(
        "SELECT c.host, p.address FROM nova.pci_devices p JOIN nova.compute_nodes c"
        " ON c.id = p.compute_node_id WHERE p.deleted = 0 AND p.status = 'available'"
        " AND p.vendor_id = '%s' AND p.product_id = '%s'"
        " ORDER BY c.host, p.address" % CX5
    )
    free = {}
    for host, address in rows:
        free.setdefault(host, []).append(address)
    return free


def vf_of(cloud, server_id):
    """(host, address, vendor, product, dev_type) of each device the server holds."""
    return [
        tuple(r)
        for r in cloud.sql(
            "SELECT c.host, p.address, p.vendor_id, p.product_id, p.dev_type"
            " FROM nova.pci_devices p JOIN nova.compute_nodes c"
            " ON c.id = p.compute_node_id WHERE p.deleted = 0"
            " AND p.status = 'allocated' AND p.instance_uuid = '%s'" % server_id
        )
    ]


def show_server_and_port(cloud, server, port):
    """`server show` and `port show` (JSON) in one OpenStackClient process."""
    proc = cloud.batch(
        ["server show %s -f json" % server, "port show %s -f json" % port]
    )
    docs = json_documents(proc.stdout)
    assert len(docs) == 2, proc.stdout + proc.stderr
    return docs


@pytest.fixture(scope="module")
def example(cloud):
    # A rerun starts from a clean cloud: every VF free.
    assert free_vfs(cloud) == VFS, "VFs held before the test: an earlier run leaked"
    state = {"commands": docs_example()}
    yield state
    cloud.batch(
        [
            "server delete --wait vm1 vm2 vm3",
            "port delete port-vm1 port-vm2 port-vm3",
            "aggregate remove host rack1-sriov compute1",
            "aggregate delete rack1-sriov",
            "network delete sriov-net2",
            "flavor delete m1.small",
        ],
        timeout=420,
    )


def test_docs_example_runs_as_written(cloud, example):
    # m1.small is the example's prerequisite (this cloud has no Nova
    # flavors); created in the first OpenStackClient process of the example.
    run_example(
        cloud,
        example["commands"],
        first_batch_extra=["flavor create --vcpus 1 --ram 64 --disk 0 m1.small"],
    )
    srv, port = show_server_and_port(cloud, "vm1", "port-vm1")
    assert srv["status"] == "ACTIVE", srv
    assert srv["OS-EXT-SRV-ATTR:host"] == "compute1", srv
    held = vf_of(cloud, srv["id"])
    assert len(held) == 1, held
    host, address, vendor, product, dev_type = held[0]
    assert (host, (vendor, product), dev_type) == ("compute1", CX5, "type-VF")
    assert address in VFS["compute1"], held
    # Nova bound the port to the VF it claimed.
    assert port["binding_host_id"] == "compute1", port
    assert port["device_id"] == srv["id"], port
    profile = port["binding_profile"]
    assert profile["pci_slot"] == address, profile
    assert profile["physical_network"] == "physnet2", profile
    assert profile["pci_vendor_info"] == "15b3:101e", profile
    example["vm1_vf"] = address


def test_second_port_server_stays_in_scope(cloud, example):
    # compute2 has two free physnet2 VFs and more free RAM: without the
    # scope Nova's weighers would put vm2 there.
    cloud.batch(
        [
            "port create --vnic-type direct --network sriov-net2 port-vm2",
            "server create --flavor m1.small --image cirros --port port-vm2 --wait vm2",
        ],
        timeout=420,
    )
    srv, port = show_server_and_port(cloud, "vm2", "port-vm2")
    assert srv["status"] == "ACTIVE", srv
    assert srv["OS-EXT-SRV-ATTR:host"] == "compute1", srv
    held = vf_of(cloud, srv["id"])
    assert [(h, (v, p)) for h, _, v, p, _ in held] == [("compute1", CX5)], held
    assert held[0][1] != example.get("vm1_vf"), held
    assert port["binding_profile"]["pci_slot"] == held[0][1], port
    # compute1 still has a free in-scope VF.
    assert len(free_vfs(cloud)["compute1"]) == 1


def test_no_valid_host_once_the_host_leaves_the_aggregate(cloud, example):
    pids_before = {p.name: p.read_text() for p in (cloud.root / "run").glob("*.pid")}
    cloud.batch(
        [
            "aggregate remove host rack1-sriov compute1",
            "port create --vnic-type direct --network sriov-net2 port-vm3",
            "server create --flavor m1.small --image cirros --port port-vm3 --wait vm3",
        ],
        timeout=420,
    )
    srv, port = show_server_and_port(cloud, "vm3", "port-vm3")
    assert srv["status"] == "ERROR", srv
    assert "No valid host" in json.dumps(srv.get("fault")), srv
    assert not port["binding_host_id"], port
    # Free physnet2 VFs on both hosts: the scope, not capacity, said no.
    free = free_vfs(cloud)
    assert len(free.get("compute1", [])) == 1, free
    assert free.get("compute2") == VFS["compute2"], free
    pids_after = {p.name: p.read_text() for p in (cloud.root / "run").glob("*.pid")}
    assert pids_after == pids_before, "a service was restarted"
