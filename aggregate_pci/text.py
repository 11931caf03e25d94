"""Text shown to people: control characters escaped, in one place for every
row printer, message and metric label (pure: imports nothing)."""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

MASK = "***"
#: ``scheme://user:PASSWORD@host``: the password of any URL, up to the LAST
#: ``@`` of the authority (a raw ``@`` in a password is common).
_URL_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)[^/?#\s'\"]*@")


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_RE.sub(lambda m: m.group(1) + MASK + "@", text)


#: The characters ``printable`` escapes: C0, DEL and C1.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: Any) -> Any:
    """``text`` with control characters (C0, DEL, C1: terminal escape
    sequences, newlines) shown as ``\\xNN``; other values unchanged."""
    if not isinstance(text, str) or _CONTROL_RE.search(text) is None:
        return text
    return _CONTROL_RE.sub(lambda m: "\\x%02x" % ord(m.group()), text)


def all_printable(values: Sequence[Any]) -> bool:
    """Whether ``printable`` leaves every value unchanged (one search over
    a row's strings, not one call per cell)."""
    texts = [v for v in values if isinstance(v, str)]
    return _CONTROL_RE.search("".join(texts)) is None


#: Names a message shows people at most per list (a fleet's flavor may be on
#: 1,000 aggregates); the machine formats carry every name.
LIST_LIMIT = 10


def capped_names(names: Sequence[str], limit: int = LIST_LIMIT) -> str:
    """The first ``limit`` names, then "and N more"."""
    if len(names) <= limit:
        return ", ".join(names)
    return "%s and %d more" % (", ".join(names[:limit]), len(names) - limit)


def listing(template: str, *values: Any) -> dict[str, Any]:
    """``message`` and ``capped`` for a finding: ``template % values``, each
    list among ``values`` joined whole, and cut by ``capped_names``."""

    def fill(join: Callable[[Sequence[str]], str]) -> str:
        return template % tuple(join(v) if isinstance(v, list) else v for v in values)

    full, cut = fill(", ".join), fill(capped_names)
    return {"message": full, "capped": cut if cut != full else None}
