"""The end-to-end demo on an embedded, in-process Nova, and that Nova.

- ``scenario``: what the demo defines and boots, and what it expects (pure).
- ``render``: its tables and the capture of the filter's "rejected" lines.
- ``embedded_nova``: a real Nova in-process (a test fixture: it subclasses
  Nova's functional-test base), also used by the tests and tools.
- ``case``: the demo's steps on the embedded Nova.
- ``run``: ``main()``, what ``aggregate-pci demo`` runs.

Importing this package loads nothing heavy; ``case`` and ``embedded_nova``
import Nova.  Only the demo command, this package, tests/ and tools/ may
import it (tests/pure/test_layering.py).

Run: ``aggregate-pci demo`` or ``python -m aggregate_pci.demo``.
"""
