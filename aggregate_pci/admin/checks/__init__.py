"""Checks: pure analyses of PCI flavors against hosts, ports, allocations and requests."""
