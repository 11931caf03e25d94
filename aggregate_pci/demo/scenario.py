"""The demo's scenario: devices, aggregates with their PCI flavors, boots
and where each boot may land (pure data, no Nova)."""

from __future__ import annotations

from typing import Any

from aggregate_pci import codec
from aggregate_pci.admin import models

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
BOOTS: list[tuple[str, set[str] | None]] = [
    ("a100:1", {"compute1"}),
    ("a100:1", {"compute1"}),
    ("a100:1", None),  # compute3's A100s are in no aggregate
    ("vf-physnet2:2", {"compute2"}),
    ("t4:1,nv-any:1", {"compute2"}),  # compute1 has one device left
    ("nv-any:1", {"compute1"}),
    ("t4:1", None),
]


def device_spec() -> list[dict[str, str]]:
    """nova.conf's ``[pci] device_spec``: every device of the scenario."""
    return [{k: v for k, v in d.items() if k != "device_type"} for d in (A100, T4, VF)]


def planned_records() -> list[models.PciFlavorRecord]:
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
