"""The real-cloud lane: a cloud started by ``tools/cloud/cloud.sh up DIR``.

``AGGREGATE_PCI_CLOUD=DIR`` names it.  Without it these tests skip; under
``CI=true`` they fail instead, so CI cannot silently skip the lane.
Everything is driven the way an operator does it: ``openstack`` /
``aggregate-pci`` subprocesses with the cloud's clouds.yaml; the one thing
no API shows, which device an instance holds, is read from the cell
database (``nova.pci_devices``) with the ``mariadb`` client.
"""

import json
import os
import pathlib
import shlex
import signal
import subprocess
import time

import pytest

from tests.fixtures import cloud_db as db

ENV = "AGGREGATE_PCI_CLOUD"
CLOUD_SH = pathlib.Path(__file__).resolve().parents[2] / "tools" / "cloud" / "cloud.sh"


class Cloud:
    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.env = dict(os.environ)
        for line in (self.root / "cloud.env").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            self.env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
        self.env.pop("OS_CLOUD", None)
        self.nova_conf = self.env["AGGREGATE_PCI_CLOUD_NOVA_CONF"]
        self.nova_admin_conf = str(
            pathlib.Path(self.nova_conf).with_name("nova-admin.conf")
        )
        self.image = self.env["AGGREGATE_PCI_CLOUD_IMAGE"]

    def run(self, *argv, cloud="admin", stdin=None, timeout=180):
        """One process; returns CompletedProcess (text)."""
        argv = [str(a) for a in argv]
        env = dict(self.env, OS_CLOUD=cloud)
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=env, timeout=timeout
        )
        print(
            "$ OS_CLOUD=%s %s  -> exit %d" % (cloud, shlex.join(argv), proc.returncode)
        )
        if proc.stdout:
            print(proc.stdout)
        if proc.stderr:
            print(proc.stderr)
        return proc

    def osc(self, *argv, cloud="admin", check=True, timeout=180):
        proc = self.run("openstack", *argv, cloud=cloud, timeout=timeout)
        if check:
            assert proc.returncode == 0, "openstack %s failed: %s" % (
                " ".join(map(str, argv)),
                proc.stderr,
            )
        return proc

    def osc_json(self, *argv, **kw):
        return json.loads(self.osc(*argv, "-f", "json", **kw).stdout)

    def batch(self, commands, cloud="admin", timeout=300):
        """Several commands in one OpenStackClient process (stdin mode).

        Its exit status is 1 at end of input whatever happened: callers
        check the resulting state with a later command.
        """
        return self.run(
            "openstack", cloud=cloud, stdin="\n".join(commands) + "\n", timeout=timeout
        )

    def sql(self, query):
        """Rows (lists of str) from the cloud's MariaDB, as root over its socket."""
        return db.sql_rows(self.root, query)

    def devices_of(self, server_id):
        """(host, address) of the PCI devices the cell DB gives the server."""
        return sorted(
            tuple(r)
            for r in self.sql(
                "SELECT c.host, p.address FROM nova.pci_devices p JOIN nova.compute_nodes c"
                " ON c.id = p.compute_node_id WHERE p.deleted = 0 AND p.status = 'allocated'"
                " AND p.instance_uuid = '%s'" % server_id
            )
        )

    def held_by_deleted(self):
        """(host, address, instance uuid) of PCI devices the cell DB still
        gives to deleted instances (Nova defect 4, docs/nova-defects.md)."""
        return sorted(
            tuple(r)
            for r in self.sql(
                "SELECT c.host, p.address, p.instance_uuid FROM nova.pci_devices p"
                " JOIN nova.compute_nodes c ON c.id = p.compute_node_id"
                " JOIN nova.instances i ON i.uuid = p.instance_uuid"
                " WHERE p.deleted = 0 AND i.deleted != 0"
            )
        )

    def wait_devices_released(self, timeout):
        """Wait until no deleted instance holds a PCI device: the computes'
        periodic resource update frees them (defect 4); fail after
        ``timeout`` seconds naming what is still held."""
        deadline = time.monotonic() + timeout
        while True:
            held = self.held_by_deleted()
            if not held:
                return
            assert time.monotonic() < deadline, (
                "deleted instances still hold PCI devices after %d s: %s"
                % (timeout, held)
            )
            time.sleep(1)

    @staticmethod
    def host_aggregates(prefix):
        """OpenStackClient commands that make aggregates PREFIX-c1 and
        PREFIX-c2 holding compute1 and compute2, and those that remove them."""
        pairs = [("%s-c%d" % (prefix, n), "compute%d" % n) for n in (1, 2)]
        make = [c for a, h in pairs for c in ("aggregate create " + a,
                                              "aggregate add host %s %s" % (a, h))]  # fmt: skip
        remove = ["aggregate remove host %s %s" % p for p in pairs]
        remove.append("aggregate delete " + " ".join(a for a, _ in pairs))
        return make, remove

    def aggregates(self):
        """Every aggregate's id, name, hosts and metadata, from nova_api: the
        snapshot a fault must leave unchanged."""
        return sorted(
            tuple(r)
            for r in self.sql(
                "SELECT a.id, a.name, 'host', h.host, '' FROM nova_api.aggregates a"
                " JOIN nova_api.aggregate_hosts h ON h.aggregate_id = a.id"
                " UNION ALL SELECT a.id, a.name, 'key', m.`key`, m.value"
                " FROM nova_api.aggregates a"
                " JOIN nova_api.aggregate_metadata m ON m.aggregate_id = a.id"
                " UNION ALL SELECT id, name, 'aggregate', uuid, '' FROM nova_api.aggregates"
            )
        )

    def audit(self):
        """``aggregate-pci audit`` over the cell DB; asserts it finds nothing."""
        proc = self.run(
            "aggregate-pci", "--timeout", "30", "audit",
            "--config-file", self.nova_admin_conf,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "0 instance(s) hold devices their flavor excludes" in proc.stderr
        return proc

    def kill9(self, service):
        """SIGKILL the service's whole process group (master and workers), as
        the OOM killer or a crash would leave it: no clean shutdown."""
        pid = int((self.root / "run" / ("%s.pid" % service)).read_text())
        os.killpg(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError("%s (pgid %d) still alive after SIGKILL" % (service, pid))

    def restart(self, service):
        """``tools/cloud/cloud.sh restart SERVICE DIR``: started again with the
        command ``up`` gave it; returns once its log says it serves."""
        proc = self.run("bash", CLOUD_SH, "restart", service, self.root, timeout=120)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def cloud():
    root = os.environ.get(ENV)
    if not root:
        msg = "no cloud: set %s=DIR after `tools/cloud/cloud.sh up DIR`" % ENV
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: the cloud lane must not skip)")
        pytest.skip(msg)
    if not (pathlib.Path(root) / "cloud.env").is_file():
        pytest.fail("%s=%s has no cloud.env: is the cloud up?" % (ENV, root))
    return Cloud(root)
