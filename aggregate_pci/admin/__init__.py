"""Admin library layer: manage PCI flavors on Nova host aggregates.

Importable without any CLI parsing: ``api.PciFlavorAdmin`` takes a
keystoneauth1 session and talks to Nova through python-novaclient.
"""
