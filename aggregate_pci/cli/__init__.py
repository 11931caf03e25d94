"""Command-line interface: cliff commands behind ``aggregate-pci`` and the
OpenStackClient plugin (``openstack pci flavor ...``), thin over ``admin``."""
