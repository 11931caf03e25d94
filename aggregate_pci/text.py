"""Text shown to people: control characters escaped, in one place for every
row printer, message and metric label (pure: imports nothing)."""

from __future__ import annotations

from typing import Any


def printable(text: Any) -> Any:
    """``text`` with control characters (C0, DEL, C1: terminal escape
    sequences, newlines) shown as ``\\xNN``; other values unchanged."""
    if not isinstance(text, str):
        return text
    return "".join(
        "\\x%02x" % ord(c) if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c
        for c in text
    )
