"""Text shown to people: control characters escaped, in one place for every
row printer, message and metric label (pure: imports nothing)."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
#: ``scheme://user:PASSWORD@host``: the password of any URL, up to the LAST
#: ``@`` of the authority (a raw ``@`` in a password is common).
_URL_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)[^/?#\s'\"]*@")


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_RE.sub(lambda m: m.group(1) + MASK + "@", text)


def printable(text: Any) -> Any:
    """``text`` with control characters (C0, DEL, C1: terminal escape
    sequences, newlines) shown as ``\\xNN``; other values unchanged."""
    if not isinstance(text, str):
        return text
    return "".join(
        "\\x%02x" % ord(c) if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c
        for c in text
    )
