"""Admin library layer: manage PCI flavors on Nova host aggregates.

Importable without any CLI parsing: ``nova_io.client.PciFlavorAdmin`` takes
a keystoneauth1 session and talks to Nova through python-novaclient.  By
role: ``nova_io/`` (Nova API, DB, device tags), ``checks/`` (pure analyses),
``capacity/`` (capacity table and fit, pure), ``exporter/`` (Prometheus);
models, errors and the inventory file at this root.
"""
