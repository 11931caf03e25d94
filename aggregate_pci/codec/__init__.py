"""The PCI flavor codec: the one package that owns the metadata format.

- ``keys``: the key ``pci_flavor:NAME``, name rules, Nova's metadata limits
  and ``PciFlavorError``.
- ``value``: the value's JSON (match objects ORed), parsed, validated and
  serialised canonically; every PCI flavor of one aggregate's metadata.

Pure.  Callers use the names below as ``codec.NAME``.
"""

from aggregate_pci.codec.keys import (
    KEY_PREFIX,
    MAX_KEY_LENGTH,
    MAX_VALUE_LENGTH,
    PciFlavorError,
    is_flavor_key,
    make_key,
    name_from_key,
    validate_name,
)
from aggregate_pci.codec.value import (
    DEVICE_TYPES,
    NUMA_POLICIES,
    DeviceMatch,
    PciFlavorDefinition,
    canonicalize,
    definition_from_json,
    definitions_from_metadata,
    encode,
    loads,
    parse_document,
    parse_match,
    parse_value,
)

__all__ = [
    "DEVICE_TYPES",
    "KEY_PREFIX",
    "MAX_KEY_LENGTH",
    "MAX_VALUE_LENGTH",
    "NUMA_POLICIES",
    "DeviceMatch",
    "PciFlavorDefinition",
    "PciFlavorError",
    "canonicalize",
    "definition_from_json",
    "definitions_from_metadata",
    "encode",
    "is_flavor_key",
    "loads",
    "make_key",
    "name_from_key",
    "parse_document",
    "parse_match",
    "parse_value",
    "validate_name",
]
