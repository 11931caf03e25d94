"""Faults on the real cloud (issue 22): a hung database gives one line within
the deadline, stops nothing, and loses nothing.

MariaDB is frozen with SIGSTOP (a hung server: connections open, nothing
answers), then thawed with SIGCONT, while ``capacity`` and an exporter
refresh read Nova's databases.  After each fault the same command works
again and ``audit`` finds nothing wrong.  The cloud is left as it was found.
"""

import os
import signal
import time

TIMEOUT = 10


def aggregate_pci(cloud, *argv, timeout=120):
    start = time.monotonic()
    proc = cloud.run("aggregate-pci", "--timeout", TIMEOUT, *argv, timeout=timeout)
    return proc, time.monotonic() - start


def healthy_then_hung(cloud, argv, between=None):
    """``aggregate-pci ARGV`` against the healthy database (it must succeed),
    ``between()``, then again with MariaDB frozen by SIGSTOP (resumed at
    once after).  The frozen run must fail within --timeout plus 10 % beyond
    the healthy run's time (start-up and reads); returns it."""
    proc, healthy = aggregate_pci(cloud, *argv)
    assert proc.returncode == 0, proc.stderr
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
