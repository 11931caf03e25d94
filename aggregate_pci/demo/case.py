"""The demo's steps on the embedded Nova: start three computes, define the
scenario's PCI flavors through ``aggregate_pci.admin`` over a keystoneauth1
session, check the generated ``[pci] alias``, boot the servers and print
where each landed, which hosts were rejected and why, and free devices per
PCI flavor before and after.  Importing this module imports Nova."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

import nova.tests.functional  # noqa: F401  (before other Nova imports)
from nova.tests.fixtures import libvirt as fakelibvirt

from aggregate_pci import alias, codec
from aggregate_pci.admin import models
from aggregate_pci.admin.capacity import report
from aggregate_pci.admin.nova_io import client, nova_db
from aggregate_pci.demo import embedded_nova, render, scenario

Out = Callable[[str], None]

#: The columns of the table of booted servers.
BOOT_HEADER = [
    "server",
    "pci_passthrough:alias",
    "landed on",
    "expected",
    "as expected",
]


def sriov_host() -> Any:
    """compute2: one PF with four VFs, and two T4 GPUs."""
    nic = fakelibvirt.HostPCIDevicesInfo(
        num_pci=0, num_pfs=1, num_vfs=4, bus=0x5E, numa_node=0
    )
    t4 = (scenario.T4["vendor_id"], scenario.T4["product_id"])
    return embedded_nova.gpu_host([(0x81, t4), (0x82, t4)], info=nic, iommu_base=60)


class Demo(embedded_nova.AggregatePciTestBase):
    """The demo as one test case; ``state["ok"]`` turns False on a surprise."""

    PCI_DEVICE_SPEC = scenario.device_spec()
    # nova.conf's [pci] alias is what ``aggregate-pci alias-config``
    # generates from the planned aggregates (Nova reads it at start).
    PCI_ALIAS = alias.generate(models.definitions_by_name(scenario.planned_records()))

    def __init__(self, out: Out, state: dict[str, bool]) -> None:
        super().__init__("runTest")
        self.out = out
        self.state = state

    def runTest(self) -> None:
        # Runs first among the cleanups: Nova's thread pools log their
        # shutdown at INFO, which is noise in the demo's output.
        self.addCleanup(logging.disable, logging.INFO)
        started = time.monotonic()
        self._start_computes()
        admin = client.PciFlavorAdmin(self.keystone_session())
        records = self._define_pci_flavors(admin)
        self._check_alias_config(records)
        self._show_capacity(records, "before")
        self._boot_servers()
        self._show_capacity(admin.list_pci_flavors(), "after")
        self.out(
            "Demo took %.1f s (in-process Nova start included)."
            % (time.monotonic() - started)
        )

    def _start_computes(self) -> None:
        """compute1: two A100 and a T4; compute2: SR-IOV NIC and two T4;
        compute3: two A100 in no aggregate."""
        a100, t4 = embedded_nova.GPU_A100, embedded_nova.GPU_T4
        self.start_compute(
            "compute1",
            pci_info=embedded_nova.gpu_host([(0x81, a100), (0x82, a100), (0x83, t4)]),
        )
        self.start_compute("compute2", pci_info=sriov_host())
        self.start_compute(
            "compute3", pci_info=embedded_nova.gpu_host([(0x81, a100), (0x82, a100)])
        )

    def _define_pci_flavors(
        self, admin: client.PciFlavorAdmin
    ) -> list[models.PciFlavorRecord]:
        """Create the scenario's aggregates and PCI flavors; print and return them."""
        for agg_name, (hosts, flavors) in scenario.AGGREGATES.items():
            admin.create_aggregate(agg_name)
            for member in hosts:
                admin.add_host(agg_name, member)
            for name, spec in flavors.items():
                admin.create_pci_flavor(
                    name, agg_name, codec.definition_from_json(spec)
                )
        records = admin.list_pci_flavors()
        self.out(
            render.table(
                "PCI flavors on aggregates (through aggregate_pci.admin "
                "over a keystoneauth1 session)",
                ["PCI flavor", "aggregate", "hosts", "definition"],
                [
                    (r.name, r.aggregate, ", ".join(r.hosts), r.value)
                    for r in sorted(records, key=lambda r: (r.name, r.aggregate))
                ],
            )
        )
        return records

    def _check_alias_config(self, records: Sequence[models.PciFlavorRecord]) -> None:
        """Say whether alias-config on the aggregates gives the demo's nova.conf."""
        generated = {
            alias.line(e) for e in alias.generate(models.definitions_by_name(records))
        }
        configured = {alias.line(e) for e in self.PCI_ALIAS}
        same = generated == configured
        self.out(
            "[pci] alias generated from the aggregates (alias-config) %s "
            "the demo's nova.conf%s"
            % (
                "matches" if same else "DIFFERS FROM",
                ""
                if same
                else ":\n  only generated: %s\n"
                "  only configured: %s"
                % (sorted(generated - configured), sorted(configured - generated)),
            )
        )
        self.state["ok"] &= same

    def _boot_servers(self) -> None:
        """Boot every server of the scenario; print where each landed and
        the hosts the filter rejected."""
        rows, rejections = [], []
        with render.captured_rejections() as capture:
            for i, (spec, expected) in enumerate(scenario.BOOTS, 1):
                capture.lines.clear()
                rows.append(self._boot_one(i, spec, expected))
                for line in sorted(set(capture.lines)):
                    rejections.append(("server-%d" % i, line))
        self.out(
            render.table(
                "Servers booted (flavor extra spec pci_passthrough:alias)",
                BOOT_HEADER,
                rows,
            )
        )
        self.out(
            render.table(
                "Hosts rejected by AggregatePciFilter, and why",
                ["server", "reason"],
                rejections,
            )
        )

    def _boot_one(
        self, i: int, spec: str, expected: set[str] | None
    ) -> tuple[str, ...]:
        """Boot server ``i`` with a Nova flavor asking ``spec``; its table row."""
        flavor = self.nova_flavor(spec, name="demo%d" % i)
        wanted = "ACTIVE" if expected else "ERROR"
        server = self.boot(flavor, expected_state=wanted)
        host = self.host_of(server) if expected else None
        if expected:
            good = host in expected
        else:
            good = "No valid host" in server.get("fault", {}).get("message", "")
        self.state["ok"] &= good
        return (
            "server-%d" % i,
            spec,
            host or "No valid host",
            ", ".join(sorted(expected)) if expected else "No valid host",
            "yes" if good else "NO",
        )

    def _show_capacity(
        self, records: Sequence[models.PciFlavorRecord], when: str
    ) -> None:
        """Print devices per PCI flavor and host from Nova's DB."""
        pools = nova_db.host_pools(self.ctxt)
        rows = [
            (r.flavor, r.name, r.matching, r.used, r.free)
            for r in report.capacity(records, pools)
            if r.scope == "host"
        ]
        self.out(
            render.table(
                "Devices per PCI flavor and host, %s booting "
                "(a device matching two flavors counts in both rows)" % when,
                ["PCI flavor", "host", "matching", "used", "free"],
                rows,
            )
        )
