"""The PCI flavor's metadata key and Nova's limits on aggregate metadata.

A PCI flavor named ``NAME`` is stored on a Nova host aggregate under the
metadata key ``pci_flavor:NAME``.  This module owns that namespace, the
name rules, Nova's key and value length limits, and ``PciFlavorError``, the
error of every key and value check (``value`` parses the values).
"""

from __future__ import annotations

import re
from typing import Any

from aggregate_pci.errors import AggregatePciError

KEY_PREFIX = "pci_flavor:"

#: Nova's limits on aggregate metadata (nova/api/openstack/compute/schemas).
MAX_KEY_LENGTH = 255
MAX_VALUE_LENGTH = 255

# ``\Z`` (not ``$``) everywhere: ``$`` would accept a trailing newline.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_NOVA_KEY_RE = re.compile(r"[a-zA-Z0-9\-_:. ]{1,255}\Z")


class PciFlavorError(AggregatePciError, ValueError):
    """Any problem with a PCI flavor key or value.

    Carries the aggregate (when known), the metadata key and a sentence that
    says what is wrong and how to fix it.
    """

    def __init__(
        self, reason: str, key: str | None = None, aggregate: str | None = None
    ) -> None:
        self.reason = reason
        self.key = key
        self.aggregate = aggregate
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.aggregate is not None:
            where.append("aggregate %r" % self.aggregate)
        if self.key is not None:
            where.append("key %r" % self.key)
        return "%s: %s" % (", ".join(where), self.reason) if where else self.reason

    def with_context(
        self, key: str | None = None, aggregate: str | None = None
    ) -> "PciFlavorError":
        """Return a copy naming ``key``/``aggregate`` where not yet known."""
        return PciFlavorError(self.reason, self.key or key, self.aggregate or aggregate)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # keep the attributes through pickling/copying
        return (PciFlavorError, (self.reason, self.key, self.aggregate))


def validate_name(name: Any, aggregate: str | None = None) -> str:
    """Return ``name`` if it is a valid PCI flavor name, else raise."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PciFlavorError(
            "invalid PCI flavor name %r: use 1-64 characters from "
            "A-Z a-z 0-9 _ . -, starting with a letter or digit (the name "
            "must also fit Nova's 'pci_passthrough:alias=NAME:COUNT')" % (name,),
            key=None,
            aggregate=aggregate,
        )
    return name


def make_key(name: str) -> str:
    """The aggregate metadata key for PCI flavor ``name``."""
    key = KEY_PREFIX + validate_name(name)
    if len(key) > MAX_KEY_LENGTH or not _NOVA_KEY_RE.match(key):
        raise PciFlavorError("Nova would refuse this key", key=key)
    return key


def is_flavor_key(key: str) -> bool:
    """True if ``key`` is in our namespace (whether or not its name is valid)."""
    return key.startswith(KEY_PREFIX)


def name_from_key(key: str, aggregate: str | None = None) -> str:
    """The PCI flavor name of metadata key ``key``; raise if it is not ours."""
    if not is_flavor_key(key):
        raise PciFlavorError(
            "not a PCI flavor key: it must start with %r" % KEY_PREFIX,
            key=key,
            aggregate=aggregate,
        )
    try:
        return validate_name(key[len(KEY_PREFIX) :])
    except PciFlavorError as exc:
        raise exc.with_context(key=key, aggregate=aggregate) from None
