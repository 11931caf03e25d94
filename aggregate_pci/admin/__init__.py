"""Admin library layer: manage PCI flavors on Nova host aggregates.

Importable without any CLI parsing: ``client.PciFlavorAdmin`` takes a
keystoneauth1 session and talks to Nova through python-novaclient.
"""
