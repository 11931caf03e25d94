#!/usr/bin/env python3
"""Run the admin guide's walkthrough against an in-process Nova and print a
terminal transcript (``$ command`` then its real output).

Nova (API, scheduler with AggregatePciFilter, conductor, placement, two
computes with fake GPUs) runs in this process from Nova's functional-test
harness.  ``openstack ...`` runs through OpenStackClient's shell and
``aggregate-pci ...`` through ours, both in-process with ``OS_AUTH_TYPE=
admin_token``, ``OS_ENDPOINT`` and ``OS_TOKEN`` pointing at that API (a token the harness maps to the admin
role, as keystonemiddleware would).  ``aggregate-pci capacity --config-file``
runs in a subprocess on a nova.conf pointing at file copies of the
harness's databases.  The Nova flavor and the servers are made through
the harness's API client (``openstack flavor create`` fails against the
fixed endpoint, ``openstack server create`` would look the image up in
Glance, which has no endpoint here); the transcript says so.

Usage: tools/walkthrough.py   (from the repository root; exits 1 on failure)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault(
    "OS_WSGI__API_PASTE_CONFIG",
    os.path.join(sys.prefix, "etc", "nova", "api-paste.ini"),
)
os.environ.setdefault("LC_ALL", "C.UTF-8")

import nova.tests.functional  # noqa: E402,F401  (before other Nova imports)

# isort: split

import logging  # noqa: E402

import fixtures  # noqa: E402

from aggregate_pci import embedded_nova  # noqa: E402
from aggregate_pci.cli import shell  # noqa: E402

AGGREGATE_PCI = os.path.join(os.path.dirname(sys.executable), "aggregate-pci")

#: The transcript lines (kept outside the test case: Nova's harness deletes
#: a test's public attributes when it ends).
TRANSCRIPT: list[str] = []


class Walkthrough(embedded_nova.AggregatePciTestBase):
    """The walkthrough as one harness run, recorded in ``TRANSCRIPT``."""

    def runTest(self) -> None:
        self.addCleanup(logging.disable, logging.INFO)
        self.start_compute(
            "compute1",
            pci_info=embedded_nova.gpu_host(
                [
                    (0x81, embedded_nova.GPU_A100),
                    (0x82, embedded_nova.GPU_A100),
                    (0x83, embedded_nova.GPU_T4),
                ]
            ),
        )
        self.start_compute(
            "compute2",
            pci_info=embedded_nova.gpu_host([(0x81, embedded_nova.GPU_A100)]),
        )
        embedded_nova.accept_tokens(self)
        self.env = embedded_nova.without_os_env(
            OS_AUTH_TYPE="admin_token",
            OS_ENDPOINT=self.api.base_url,
            OS_TOKEN="admin-token",
        )

        self.note("1. An aggregate with the GPU hosts")
        self.openstack("aggregate create gpu-hosts -c name -c hosts")
        self.openstack("aggregate add host gpu-hosts compute1 -c name -c hosts")
        self.openstack("aggregate add host gpu-hosts compute2 -c name -c hosts")

        self.note("2. PCI flavors on it")
        self.aggregate_pci(
            "flavor create a100 --aggregate gpu-hosts "
            "--vendor-id 10de --product-id 20b5 --device-type type-PCI"
        )
        self.aggregate_pci(
            "flavor create t4 --aggregate gpu-hosts --dry-run "
            '--spec \'{"vendor_id":"10de","product_id":"1eb8",'
            '"device_type":"type-PCI"}\''
        )
        self.aggregate_pci(
            "flavor create t4 --aggregate gpu-hosts "
            '--spec \'{"vendor_id":"10de","product_id":"1eb8",'
            '"device_type":"type-PCI"}\''
        )
        self.aggregate_pci(
            "flavor create t4 --aggregate gpu-hosts --vendor-id 10de --product-id 1db4",
            expect=1,
        )
        self.aggregate_pci("flavor list")

        self.note("3. Nova's [pci] alias from the aggregates")
        alias = self.aggregate_pci("alias-config")
        conf = os.path.join(self.useFixture(fixtures.TempDir()).path, "pci-alias.conf")
        with open(conf, "w") as f:
            f.write(alias)
        running = sorted(json.dumps(a, sort_keys=True) for a in self.PCI_ALIAS)
        generated = sorted(
            json.dumps(json.loads(line.split("=", 1)[1]), sort_keys=True)
            for line in alias.splitlines()
            if line.startswith("alias")
        )
        self.assertEqual(running, generated)
        self.note(
            "(this Nova was started with exactly these [pci] alias "
            "entries; a real cloud restarts nova-api and nova-compute "
            "after changing them)"
        )

        self.note("4. A Nova flavor requesting one A100, and a server")
        flavor_id = self._create_flavor(
            name="gpu.a100",
            vcpu=1,
            memory_mb=512,
            disk=1,
            extra_spec={"pci_passthrough:alias": "a100:1"},
        )
        self.note(
            "(Nova flavor gpu.a100 created with extra spec "
            "pci_passthrough:alias=a100:1 through the compute API: "
            "'openstack flavor create' fails against this harness's "
            "fixed endpoint with \"Service requires API version '3' "
            "but the configured version is '2'\")"
        )
        for name in ("vm1", "vm2"):
            server = self._create_server(
                name=name, flavor_id=flavor_id, networks="none"
            )
            self.note(
                "(server %s booted with flavor gpu.a100 through the "
                "compute API: %s on %s)"
                % (name, server["status"], server["OS-EXT-SRV-ATTR:host"])
            )

        self.note("5. Lint and read capacity")
        self.aggregate_pci("check --nova-conf %s" % conf)
        nova_conf = embedded_nova.write_nova_conf(self)
        self.process("capacity --config-file %s" % nova_conf)
        self.process("capacity --config-file %s --fit gpu.a100" % nova_conf)

    # -- transcript helpers ---------------------------------------------

    def note(self, text: str) -> None:
        TRANSCRIPT.append("# " + text)

    def _record(
        self, prog: str, argv: str, rc: int, out: str, err: str, expect: int
    ) -> str:
        TRANSCRIPT.append("$ %s %s" % (prog, argv))
        text = (out + err).rstrip("\n")
        if text:
            TRANSCRIPT.append(text)
        if rc:
            TRANSCRIPT.append("(exit status %d)" % rc)
        self.assertEqual(expect, rc, "%s %s: %s" % (prog, argv, err))
        return out

    def aggregate_pci(self, argv: str, expect: int = 0) -> str:
        out, err = io.StringIO(), io.StringIO()
        with self.env:
            rc = shell.main(shlex.split(argv), stdout=out, stderr=err)
        return self._record(
            "aggregate-pci", argv, rc, out.getvalue(), err.getvalue(), expect
        )

    def openstack(self, argv: str, expect: int = 0) -> str:
        from openstackclient import shell as osc_shell

        out, err = io.StringIO(), io.StringIO()
        with self.env, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = osc_shell.OpenStackShell().run(shlex.split(argv))
        return self._record(
            "openstack", argv, rc, out.getvalue(), err.getvalue(), expect
        )

    def process(self, argv: str, expect: int = 0) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        proc = subprocess.run(
            [AGGREGATE_PCI] + shlex.split(argv),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return self._record(
            "aggregate-pci", argv, proc.returncode, proc.stdout, proc.stderr, expect
        )


def main() -> int:
    case = Walkthrough()
    result = unittest.TestResult()
    case.run(result)
    print("\n".join(TRANSCRIPT))
    for _, trace in result.errors + result.failures:
        print(trace, file=sys.stderr)
    return 1 if result.errors or result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
