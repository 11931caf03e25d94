"""Migration of PCI flavors to aggregate metadata.

Sources (a ``pci_flavors`` table, nova.conf ``[pci] alias``) are read into
``model.SourceData``; ``plan`` decides, without I/O, what to write;
``apply`` writes it through the admin library layer with a journal that
``undo`` replays backwards.
"""
