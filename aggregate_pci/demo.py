"""The end-to-end demo on an embedded, in-process Nova.

Starts Nova's API, conductor, scheduler (with AggregatePciFilter), placement
and three computes with fake PCI devices (GPUs and an SR-IOV NIC), defines
PCI flavors on aggregates through ``aggregate_pci.admin`` over a
keystoneauth1 session, boots servers and prints what happened.  Exits
non-zero if any expected placement did not happen.

Run: ``aggregate-pci demo`` or ``python -m aggregate_pci.demo``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import unittest
from typing import Any, Sequence

from aggregate_pci import alias, codec
from aggregate_pci.admin import models
from aggregate_pci.admin.capacity import report

A100 = {"vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
T4 = {"vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI"}
VF = {
    "vendor_id": "8086",
    "product_id": "1515",
    "device_type": "type-VF",
    "physical_network": "physnet2",
}

#: aggregate -> (hosts, {PCI flavor: definition})
AGGREGATES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "gpu-a100": (["compute1"], {"a100": A100}),
    "gpu-nvidia": (["compute1", "compute2"], {"t4": T4, "nv-any": [A100, T4]}),
    "sriov-physnet2": (["compute2"], {"vf-physnet2": VF}),
}

#: (pci_passthrough:alias, hosts where it may land or None for "No valid host")
BOOTS = [
    ("a100:1", {"compute1"}),
    ("a100:1", {"compute1"}),
    ("a100:1", None),  # compute3's A100s are in no aggregate
    ("vf-physnet2:2", {"compute2"}),
    ("t4:1,nv-any:1", {"compute2"}),  # compute1 has one device left
    ("nv-any:1", {"compute1"}),
    ("t4:1", None),
]


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    from prettytable import PrettyTable

    table = PrettyTable(list(header))
    table.align = "l"
    for row in rows:
        table.add_row(list(row))
    return "%s\n%s" % (title, table.get_string())


class _Capture(logging.Handler):
    """Collects the filter's "rejected" DEBUG lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " rejected: " in message:
            self.lines.append(message)


def _planned_records() -> list[models.PciFlavorRecord]:
    """PCI flavor records of AGGREGATES as they will be created."""
    records = []
    for agg_name, (hosts, flavors) in AGGREGATES.items():
        for name, spec in flavors.items():
            definition = codec.definition_from_json(spec)
            records.append(
                models.PciFlavorRecord(
                    name,
                    agg_name,
                    tuple(hosts),
                    codec.make_key(name),
                    codec.encode(definition),
                    definition,
                )
            )
    return records


def _make_case(out: Any, state: dict[str, bool]) -> unittest.TestCase:
    import nova.tests.functional  # noqa: F401  (before other Nova imports)
    from nova.tests.fixtures import libvirt as fakelibvirt

    from aggregate_pci import embedded_nova
    from aggregate_pci.admin.nova_io import client, nova_db

    class Demo(embedded_nova.AggregatePciTestBase):
        PCI_DEVICE_SPEC = [
            {k: v for k, v in d.items() if k != "device_type"} for d in (A100, T4, VF)
        ]
        # nova.conf's [pci] alias is what ``aggregate-pci alias-config``
        # generates from the planned aggregates (Nova reads it at start).
        PCI_ALIAS = alias.generate(models.definitions_by_name(_planned_records()))

        def runTest(self) -> None:
            # Runs first among the cleanups: Nova's thread pools log their
            # shutdown at INFO, which is noise in the demo's output.
            self.addCleanup(logging.disable, logging.INFO)
            started = time.monotonic()
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
            nic = fakelibvirt.HostPCIDevicesInfo(
                num_pci=0, num_pfs=1, num_vfs=4, bus=0x5E, numa_node=0
            )
            for i, bus in enumerate((0x81, 0x82)):
                nic.add_device(
                    dev_type="PCI",
                    bus=bus,
                    slot=0,
                    function=0,
                    iommu_group=60 + i,
                    numa_node=0,
                    vend_id=T4["vendor_id"],
                    prod_id=T4["product_id"],
                )
            self.start_compute("compute2", pci_info=nic)
            self.start_compute(
                "compute3",
                pci_info=embedded_nova.gpu_host(
                    [(0x81, embedded_nova.GPU_A100), (0x82, embedded_nova.GPU_A100)]
                ),
            )

            admin = client.PciFlavorAdmin(self.keystone_session())
            for agg_name, (hosts, flavors) in AGGREGATES.items():
                admin.create_aggregate(agg_name)
                for member in hosts:
                    admin.add_host(agg_name, member)
                for name, spec in flavors.items():
                    admin.create_pci_flavor(
                        name, agg_name, codec.definition_from_json(spec)
                    )
            records = admin.list_pci_flavors()
            out(
                _table(
                    "PCI flavors on aggregates (through aggregate_pci.admin "
                    "over a keystoneauth1 session)",
                    ["PCI flavor", "aggregate", "hosts", "definition"],
                    [
                        (r.name, r.aggregate, ", ".join(r.hosts), r.value)
                        for r in sorted(records, key=lambda r: (r.name, r.aggregate))
                    ],
                )
            )
            generated = {
                alias.line(e)
                for e in alias.generate(models.definitions_by_name(records))
            }
            configured = {alias.line(e) for e in self.PCI_ALIAS}
            out(
                "[pci] alias generated from the aggregates (alias-config) %s "
                "the demo's nova.conf%s"
                % (
                    "matches" if generated == configured else "DIFFERS FROM",
                    ""
                    if generated == configured
                    else ":\n  only generated: %s\n"
                    "  only configured: %s"
                    % (sorted(generated - configured), sorted(configured - generated)),
                )
            )
            state["ok"] &= generated == configured
            self._capacity(out, nova_db, records, "before")

            capture = _Capture()
            logger = logging.getLogger("aggregate_pci")
            old_level = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(capture)
            rows, rejections = [], []
            try:
                for i, (spec, expected) in enumerate(BOOTS, 1):
                    capture.lines.clear()
                    flavor = self.nova_flavor(spec, name="demo%d" % i)
                    wanted = "ACTIVE" if expected else "ERROR"
                    server = self.boot(flavor, expected_state=wanted)
                    host = self.host_of(server) if expected else None
                    good = (
                        (host in expected)
                        if expected
                        else (
                            "No valid host"
                            in server.get("fault", {}).get("message", "")
                        )
                    )
                    state["ok"] &= good
                    rows.append(
                        (
                            "server-%d" % i,
                            spec,
                            host or "No valid host",
                            ", ".join(sorted(expected))
                            if expected
                            else "No valid host",
                            "yes" if good else "NO",
                        )
                    )
                    for line in sorted(set(capture.lines)):
                        rejections.append(("server-%d" % i, line))
            finally:
                logger.removeHandler(capture)
                logger.setLevel(old_level)
            out(
                _table(
                    "Servers booted (flavor extra spec pci_passthrough:alias)",
                    [
                        "server",
                        "pci_passthrough:alias",
                        "landed on",
                        "expected",
                        "as expected",
                    ],
                    rows,
                )
            )
            out(
                _table(
                    "Hosts rejected by AggregatePciFilter, and why",
                    ["server", "reason"],
                    rejections,
                )
            )
            self._capacity(out, nova_db, admin.list_pci_flavors(), "after")
            out(
                "Demo took %.1f s (in-process Nova start included)."
                % (time.monotonic() - started)
            )

        def _capacity(self, out, nova_db, records, when):
            pools = nova_db.host_pools(self.ctxt)
            rows = [
                (r.flavor, r.name, r.matching, r.used, r.free)
                for r in report.capacity(records, pools)
                if r.scope == "host"
            ]
            out(
                _table(
                    "Devices per PCI flavor and host, %s booting "
                    "(a device matching two flavors counts in both rows)" % when,
                    ["PCI flavor", "host", "matching", "used", "free"],
                    rows,
                )
            )

    return Demo()


def main() -> int:
    """Run the demo; return 0 if every expected placement happened."""
    os.environ.setdefault(
        "OS_WSGI__API_PASTE_CONFIG",
        os.path.join(sys.prefix, "etc", "nova", "api-paste.ini"),
    )
    os.environ.setdefault("LC_ALL", "C.UTF-8")

    def out(text: str) -> None:
        print(text + "\n", flush=True)

    state = {"ok": True}
    case = _make_case(out, state)
    result = unittest.TestResult()
    case.run(result)
    for _, trace in result.errors + result.failures:
        print(trace, file=sys.stderr)
    if result.errors or result.failures or not state["ok"]:
        print("DEMO FAILED: an expected placement did not happen", file=sys.stderr)
        return 1
    print("DEMO OK: every server landed where the PCI flavors say it should.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
