"""``flavor set|unset NAME --aggregate AGG``: OpenStackClient's verbs for
one aggregate's definition of a PCI flavor, thin over the library calls of
``flavor create --replace`` and ``flavor delete --aggregate``."""

from __future__ import annotations

from aggregate_pci.cli import flavor


class SetPciFlavor(flavor.CreatePciFlavor):
    """Set a PCI flavor's definition on one host aggregate, replacing any
    there ('flavor create --replace'; validated before any call)."""

    replace_option = False


class UnsetPciFlavor(flavor.DeletePciFlavor):
    """Remove a PCI flavor from one host aggregate (only its key; 'flavor
    delete --aggregate')."""

    aggregate_required = True
