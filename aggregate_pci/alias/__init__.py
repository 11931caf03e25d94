"""Nova's ``[pci] alias`` and ``pci_passthrough:alias``: the one owner of
their rules here, as ``nova/pci/request.py`` is in Nova.

- ``parse_request``: the ``NAME:COUNT[,...]`` extra spec of a Nova flavor.
- ``merge``: ``[pci] alias`` values judged and merged by name as Nova's
  ``get_alias_from_config`` does (one JSON object each; entries of one name
  ORed, agreeing on ``numa_policy`` and ``device_type``, each setting
  ``device_type`` when there are several), one ``Refused`` per bad entry.
- ``generate``: the entries PCI flavors need, and why a flavor cannot be one.
- ``read_conf``: the values of a nova.conf, with Nova's own option definition
  (``[DEFAULT] pci_alias`` still read, as Nova does).

Pure apart from reading the given nova.conf files with oslo.config.
"""

from aggregate_pci.alias.conf import ConfError, option, read_conf
from aggregate_pci.alias.generate import (
    AliasConflict,
    generate,
    line,
    problem,
    signature_text,
)
from aggregate_pci.alias.rules import (
    FIELDS,
    SPEC_KEY,
    Alias,
    Entry,
    Refused,
    RequestError,
    Signature,
    merge,
    parse_request,
    predicates,
    request_of,
)

__all__ = [
    "FIELDS",
    "SPEC_KEY",
    "Alias",
    "AliasConflict",
    "ConfError",
    "Entry",
    "Refused",
    "RequestError",
    "Signature",
    "generate",
    "line",
    "merge",
    "option",
    "parse_request",
    "predicates",
    "problem",
    "read_conf",
    "request_of",
    "signature_text",
]
