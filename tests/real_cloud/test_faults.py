"""Faults on the real cloud (issue 22): a hung database gives one line within
the deadline, stops nothing, and loses nothing.

MariaDB is frozen with SIGSTOP (a hung server: connections open, nothing
answers), then thawed with SIGCONT, while ``capacity`` and an exporter
refresh read Nova's databases.  After each fault the same command works
again and ``audit`` finds nothing wrong.  The cloud is left as it was found.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.fixtures import cloud_db as db

TIMEOUT = 10


def aggregate_pci(cloud, *argv, timeout=120):
    start = time.monotonic()
    proc = cloud.run("aggregate-pci", "--timeout", TIMEOUT, *argv, timeout=timeout)
    return proc, time.monotonic() - start


def healthy_then_hung(cloud, argv, between=None):
    """``aggregate-pci ARGV`` against the healthy database (it must succeed),
    ``between()``, then again with MariaDB frozen by SIGSTOP (resumed at
    once after).  The frozen run must fail within --timeout plus 10 % beyond
    the healthy run's time (start-up and reads: the slower of two runs, as
    start-up alone varies by seconds on a loaded machine); returns it."""
    healthy = 0.0
    for _ in range(2):
        proc, took = aggregate_pci(cloud, *argv)
        assert proc.returncode == 0, proc.stderr
        healthy = max(healthy, took)
    if between is not None:
        between()
    pid = int((cloud.root / "run" / "mariadb.pid").read_text().strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        proc, took = aggregate_pci(cloud, *argv)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    print("healthy run %.1f s, hung database %.1f s" % (healthy, took))
    assert took < healthy + TIMEOUT * 1.1, (healthy, took)
    return proc


def test_capacity_against_a_hung_database(cloud):
    proc = healthy_then_hung(
        cloud, ["capacity", "--config-file", cloud.nova_admin_conf]
    )
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot read"), lines[0]
    assert "no answer within" in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_exporter_refresh_against_a_hung_database(cloud, tmp_path):
    textfile = tmp_path / "pci.prom"
    argv = ["exporter", "--config-file", cloud.nova_admin_conf, "--once",
            "--textfile", str(textfile)]  # fmt: skip
    written = []

    def keep_what_was_written():
        written.append(textfile.read_text())
        assert "aggregate_pci_up" in written[0] or "aggregate_pci_devices" in written[0]

    proc = healthy_then_hung(cloud, argv, keep_what_was_written)
    assert "left as it was" in proc.stderr, proc.stderr
    assert textfile.read_text() == written[0]


def test_after_the_faults_everything_reads_and_audit_is_clean(cloud):
    proc, _ = aggregate_pci(cloud, "capacity", "--config-file", cloud.nova_admin_conf)
    assert proc.returncode == 0, proc.stderr
    proc, _ = aggregate_pci(cloud, "audit", "--config-file", cloud.nova_admin_conf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 instance(s) hold devices their flavor excludes" in proc.stderr


# kill -9 of nova-scheduler in the middle of a burst of PCI boots: a100 is
# defined on compute1's aggregate only (two A100), so of the four in BURST
# at most two are served, both on compute1, and compute2's A100 stays free;
# the scheduler comes back with the filter (cloud.sh restart) and serves
# the requests queued meanwhile, and nothing the burst left behind holds a
# device outside its flavor.
A100 = ["--vendor-id", "10de", "--product-id", "20b5", "--device-type", "type-PCI"]
BURST = ["fault-burst-%d" % i for i in range(1, 5)]


@pytest.fixture
def a100_on_compute1(cloud):
    """Aggregate fault-c1 (compute1) defining a100, a Nova flavor fault.a100;
    removed afterwards with every server of BURST."""
    try:
        cloud.batch(
            [
                "aggregate create fault-c1",
                "aggregate add host fault-c1 compute1",
                "pci flavor create a100 --aggregate fault-c1 " + " ".join(A100),
                "flavor create --vcpus 1 --ram 64 --disk 0 "
                "--property pci_passthrough:alias=a100:1 fault.a100",
            ]
        )
        keys = cloud.sql(
            "SELECT m.`key` FROM nova_api.aggregate_metadata m JOIN nova_api.aggregates a"
            " ON a.id = m.aggregate_id WHERE a.name = 'fault-c1'"
        )
        assert keys == [["pci_flavor:a100"]], keys
        yield
    finally:
        left = burst_rows(cloud)
        cloud.batch(
            (["server delete --wait " + " ".join(r[0] for r in left)] if left else [])
            + [
                "aggregate remove host fault-c1 compute1",
                "aggregate delete fault-c1",
                "flavor delete fault.a100",
            ]
        )


def burst_rows(cloud):
    """(name, vm_state, task_state, host) of BURST's instances in both cells
    (cell0 holds those that were never scheduled)."""
    names = ", ".join("'%s'" % n for n in BURST)
    query = (
        "SELECT display_name, vm_state, IFNULL(task_state, ''), IFNULL(host, '')"
        " FROM %s.instances WHERE deleted = 0 AND display_name IN (" + names + ")"
    )
    return cloud.sql(query % "nova" + " UNION ALL " + query % "nova_cell0")


def wait_for_burst(cloud, done, timeout):
    """``burst_rows``, polled every 0.2 s until ``done(rows)`` or TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        rows = burst_rows(cloud)
        if done(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_scheduler_killed_mid_burst(cloud, a100_on_compute1):
    before = cloud.aggregates()
    creates = [
        "server create --flavor fault.a100 --image %s --nic none %s" % (cloud.image, n)
        for n in BURST
    ]
    burst = subprocess.Popen(
        ["openstack"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(cloud.env, OS_CLOUD="admin"),
    )
    burst.stdin.write("\n".join(creates) + "\n")
    burst.stdin.close()
    try:
        # The first one scheduled (its instance is in a cell): kill -9 while
        # the others are on their way.
        rows = wait_for_burst(cloud, bool, 90)
        cloud.kill9("scheduler")
        print("scheduler killed with %d of %d in a cell" % (len(rows), len(BURST)))
        assert rows, "no server of the burst was scheduled within 90 s"
        # Some were still to be scheduled: the restarted scheduler serves them.
        assert len(rows) < len(BURST), "the kill came after the whole burst"
    finally:
        burst.wait(timeout=120)
    cloud.restart("scheduler")
    # Each server ends ACTIVE or ERROR (a request the dead scheduler had
    # taken fails when the conductor's call times out: the cloud's conductor
    # has rpc_response_timeout = 20).
    rows = wait_for_burst(
        cloud,
        lambda rows: (
            len(rows) == len(BURST)
            and all(r[1] in ("active", "error") and not r[2] for r in rows)
        ),
        150,
    )
    print(rows)
    states = {r[0]: (r[1], r[3]) for r in rows}
    assert sorted(states) == sorted(BURST), rows
    assert all(s in ("active", "error") for s, _ in states.values()), rows
    active = [n for n, (s, _) in states.items() if s == "active"]
    assert 1 <= len(active) <= 2, states
    assert all(states[n][1] == "compute1" for n in active), states
    # Each served server holds its own A100 on compute1; compute2's is free.
    ids = dict(cloud.sql("SELECT display_name, uuid FROM nova.instances"
                         " WHERE deleted = 0 AND vm_state = 'active'"))  # fmt: skip
    held = [d for n in active for d in cloud.devices_of(ids[n])]
    assert len(held) == len(active) == len(set(held)), held
    assert {h for h, _ in held} == {"compute1"}, held
    assert cloud.sql(
        "SELECT count(*) FROM nova.pci_devices p JOIN nova.compute_nodes c"
        " ON c.id = p.compute_node_id WHERE c.host = 'compute2'"
        " AND p.product_id = '20b5' AND p.status = 'available' AND p.deleted = 0"
    ) == [["1"]]
    cloud.audit()
    assert cloud.aggregates() == before


# kill -9 of `aggregate-pci migrate` (from a pci_flavors table, docs/migration.md)
# in the middle of its writes (aggregates created, hosts added, keys set),
# then `migrate --undo`: the aggregates are
# exactly as before the run, and audit is clean.
FAULT_TABLE = (
    "CREATE DATABASE IF NOT EXISTS pci_faults;"
    + db.pci_flavors_table("pci_faults")
    + """
INSERT INTO pci_faults.pci_flavors (name, spec) VALUES
 ('fk-a100', '{"vendor_id":"10de","product_id":"20b5","device_type":"type-PCI"}'),
 ('fk-t4', '{"vendor_id":"10de","product_id":"1eb8","device_type":"type-PCI"}'),
 ('fk-vf', '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF"}'),
 ('fk-gpu', '[{"vendor_id":"10de","product_id":"20b5","device_type":"type-PCI"},
             {"vendor_id":"10de","product_id":"1eb8","device_type":"type-PCI"}]');
"""
)
# What a whole run writes: 4 aggregates created, 7 hosts added (fk-t4 on
# compute2 only), 4 metadata sets; the kill comes after KILL_AFTER of them.
WRITES = 15
KILL_AFTER = 6


@pytest.fixture
def legacy_table(cloud):
    """pci_faults.pci_flavors (FAULT_TABLE); dropped afterwards, and any
    pci-flavor-fk-* aggregate a failed test left is removed."""
    cloud.sql(FAULT_TABLE)
    yield "mysql+pymysql://root@localhost/pci_faults?unix_socket=%s" % (
        cloud.root / "mariadb" / "sock"
    )
    cloud.sql("DROP DATABASE pci_faults")
    left = cloud.sql(
        "SELECT a.name, IFNULL(h.host, '') FROM nova_api.aggregates a LEFT JOIN"
        " nova_api.aggregate_hosts h ON h.aggregate_id = a.id"
        " WHERE a.name LIKE 'pci-flavor-fk-%'"
    )
    if left:
        cloud.batch(
            ["aggregate remove host %s %s" % (a, h) for a, h in left if h]
            + ["aggregate delete %s" % a for a in sorted({a for a, _ in left})]
        )


def journal_events(journal):
    return [json.loads(line)["event"] for line in journal.read_text().splitlines()]


def test_migrate_killed_mid_run_then_undo(cloud, legacy_table, tmp_path):
    before = cloud.aggregates()
    journal = tmp_path / "migrate.journal"
    argv = ["aggregate-pci", "--timeout", "30", "migrate", "--db-url", legacy_table,
            "--auto-aggregates", "--config-file", cloud.nova_admin_conf,
            "--journal", str(journal)]  # fmt: skip
    run = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(cloud.env, OS_CLOUD="admin"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and run.poll() is None:
            if journal.exists() and journal_events(journal).count("done") >= KILL_AFTER:
                break
            time.sleep(0.02)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL, "migrate ended before the kill"
    events = journal_events(journal)
    print("killed after %d of %d writes: %s" % (events.count("done"), WRITES, events))
    assert KILL_AFTER <= events.count("done") < WRITES, events
    killed = cloud.aggregates()
    assert killed != before
    # A call in flight when the process died may still be applied by
    # nova-api; an operator types the next command seconds later.
    time.sleep(1)
    proc = cloud.run("aggregate-pci", "--timeout", "30", "migrate", "--undo", journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert cloud.aggregates() == before
    cloud.audit()
