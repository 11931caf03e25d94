"""Fake scale nodes for tools/cloud/cloud.sh (AGGREGATE_PCI_CLOUD_SCALE_NODES).

    python scale_layout.py NODES HOSTS DIR

splits NODES fake nodes over HOSTS nova-compute processes (``scale1`` ...)
and writes ``DIR/scaleN/fake_pci_nodes.json`` for each: node name -> list of
Nova PCI device dicts, read by ``MultiNodePciFakeDriver``
(tools/cloud/fake_pci_driver.py).  Prints one line per host:
``HOST NODES NODES_WITH_DEVICES``.

Node ``i`` (0-based over the whole cloud) gets, by ``i % 10``: 0-2 four
A100s (two per NUMA node), 3-4 two A100s and two T4s, 5-6 two T4s, 7 one
A100, 8-9 no device.  Which hosts are in aggregates defining PCI flavors is
up to whoever uses the cloud (tools/bench/cloud_scheduler.py).
"""

import json
import os
import sys

A100 = "20b5"
T4 = "1eb8"
# (product id, bus) per device, by i % 10.
LAYOUTS = {
    0: [(A100, 0x81), (A100, 0x82), (A100, 0xC1), (A100, 0xC2)],
    1: [(A100, 0x81), (A100, 0x82), (A100, 0xC1), (A100, 0xC2)],
    2: [(A100, 0x81), (A100, 0x82), (A100, 0xC1), (A100, 0xC2)],
    3: [(A100, 0x81), (A100, 0x82), (T4, 0xC3), (T4, 0xC4)],
    4: [(A100, 0x81), (A100, 0x82), (T4, 0xC3), (T4, 0xC4)],
    5: [(T4, 0x83), (T4, 0x84)],
    6: [(T4, 0x83), (T4, 0x84)],
    7: [(A100, 0x81)],
    8: [],
    9: [],
}


def device(product: str, bus: int) -> dict:
    """One Nova PCI device dict as a virt driver reports it."""
    return {
        "address": f"0000:{bus:02x}:00.0",
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "status": "available",
        "parent_addr": None,
        "numa_node": 0 if bus < 0xC0 else 1,
        "label": f"label_10de_{product}",
    }


def layout(nodes: int, hosts: int) -> dict[str, dict[str, list[dict]]]:
    """Host -> node name -> devices, nodes spread evenly over the hosts."""
    out: dict[str, dict[str, list[dict]]] = {}
    per_host, extra = divmod(nodes, hosts)
    i = 0
    for h in range(1, hosts + 1):
        host = f"scale{h}"
        out[host] = {}
        for _ in range(per_host + (1 if h <= extra else 0)):
            out[host][f"{host}-n{i:03d}"] = [device(p, b) for p, b in LAYOUTS[i % 10]]
            i += 1
    return out


def main(argv: list[str]) -> int:
    """Write each host's fake_pci_nodes.json and print its counts."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    nodes, hosts, root = int(argv[0]), int(argv[1]), argv[2]
    if not 1 <= hosts <= nodes:
        print(
            f"scale_layout: need 1 <= hosts ({hosts}) <= nodes ({nodes})",
            file=sys.stderr,
        )
        return 2
    for host, node_devices in layout(nodes, hosts).items():
        os.makedirs(os.path.join(root, host), exist_ok=True)
        with open(os.path.join(root, host, "fake_pci_nodes.json"), "w") as f:
            json.dump(node_devices, f, indent=1)
        print(host, len(node_devices), sum(1 for d in node_devices.values() if d))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
