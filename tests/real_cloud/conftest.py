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
import subprocess

import pytest

from tests.fixtures import cloud_db as db

ENV = "AGGREGATE_PCI_CLOUD"


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
