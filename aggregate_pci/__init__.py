"""aggregate-pci: PCI flavors stored as Nova host-aggregate metadata.

The pure core (``codec``, ``matching``, ``alias``) imports nothing from
Nova, novaclient, keystoneauth or SQL libraries; adapters build on it.
"""
