"""The inventory document as ``inventory export`` writes it: exactly
``json.dumps(doc, indent=1, sort_keys=True)``, made faster (issue 21).

With ``indent``, ``json`` falls back to its pure-Python encoder: about 10 s
for 10,000 hosts.  Here containers holding containers are laid out in
Python, and each container of plain values (a pool, a device, a request)
is encoded in one call of the C encoder, its item separator carrying the
newline and indentation ``indent=1`` puts between items.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from typing import Any, Callable, Iterator, Sequence, TextIO

_PLAIN = (str, int, float, bool, type(None))
_encode_str = json.encoder.encode_basestring_ascii
#: Pieces of text held before ``dump`` writes them out.
FLUSH_PARTS = 65536


class LazyList:
    """``[make(x) for x in items]``, each made as it is written and then
    dropped: a fleet's million allocations are never held as JSON objects
    at once."""

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Any]) -> None:
        self._items = items
        self._make = make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return map(self._make, self._items)


def dumps(doc: Any) -> str:
    """``json.dumps(doc, indent=1, sort_keys=True)``, byte for byte."""
    parts: list[str] = []
    _write(doc, 0, parts, None, {})
    return "".join(parts)


def dump(doc: Any, fh: TextIO) -> None:
    """``dumps(doc)`` written to ``fh`` piece by piece, never held whole."""
    parts: list[str] = []

    def flush() -> None:
        fh.write("".join(parts))
        parts.clear()

    _write(doc, 0, parts, flush, {})
    flush()


def _scalar(value: Any) -> str:
    """One plain value (or key) as ``json.dumps`` encodes it."""
    if type(value) is str:
        return _encode_str(value)
    return json.dumps(value)


def write_file(doc: Any, path: str) -> None:
    """``dumps(doc)`` and a newline into the file ``path``, through a
    temporary file beside it renamed over it at the end: an interrupted or
    failed export leaves the previous file whole.  A path that exists and
    is not a regular file (a FIFO, ``/dev/stdout``) is written in place.
    Raises OSError."""
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "w", encoding="utf-8") as fh:
            dump(doc, fh)
            fh.write("\n")
        return
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            dump(doc, fh)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@functools.lru_cache(maxsize=None)
def _flat_encoder(level: int) -> Callable[[Any], str]:
    """Encode a container of plain values with the items at ``level``
    (the C encoder, made once per level)."""
    encoder = json.JSONEncoder(sort_keys=True, separators=(",\n" + " " * level, ": "))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    iterencode = make(
        {},
        encoder.default,
        json.encoder.encode_basestring_ascii,
        None,
        encoder.key_separator,
        encoder.item_separator,
        True,
        False,
        True,
    )
    return lambda value: "".join(iterencode(value, 0))


def _small(value: dict[Any, Any]) -> bool:
    """A dict of plain values and dicts of plain values (a pool, a device)."""
    return all(
        type(v) in _PLAIN
        or (type(v) is dict and all(type(w) in _PLAIN for w in v.values()))
        for v in value.values()
    )


def _write(
    value: Any,
    level: int,
    out: list[str],
    flush: Callable[[], None] | None,
    memo: dict[tuple[int, int], tuple[Any, str]] | None,
) -> None:
    """Append the encoding of ``value`` at nesting ``level`` to ``out``,
    handing ``out`` to ``flush`` (if given) when it grows long.  A small
    dict is encoded once per level in ``memo`` (which keeps it alive, so
    that its id names it): hosts of one model share their pools."""
    if isinstance(value, dict):
        if memo is not None:
            hit = memo.get((id(value), level))
            if hit is not None:
                out.append(hit[1])
                return
            if _small(value):
                sub: list[str] = []
                _write(value, level, sub, None, None)
                piece = "".join(sub)
                memo[id(value), level] = (value, piece)
                out.append(piece)
                return
        items = value.items()
        opening, closing = "{", "}"
    elif isinstance(value, (list, tuple, LazyList)):
        items = None
        opening, closing = "[", "]"
    else:
        out.append(_scalar(value))
        return
    if not value:
        out.append(opening + closing)
        return
    inner = "\n" + " " * (level + 1)
    values = value.values() if items is not None else value
    if not isinstance(value, LazyList) and all(type(v) in _PLAIN for v in values):
        text = _flat_encoder(level + 1)(value)
        out.append(opening + inner + text[1:-1] + "\n" + " " * level + closing)
        return
    out.append(opening)
    if items is not None:
        for n, key in enumerate(sorted(value)):
            out.append(("," if n else "") + inner + _scalar(key) + ": ")
            _write(value[key], level + 1, out, flush, memo)
            if flush is not None and len(out) >= FLUSH_PARTS:
                flush()
    else:
        for n, item in enumerate(value):
            out.append(("," if n else "") + inner)
            _write(item, level + 1, out, flush, memo)
            if flush is not None and len(out) >= FLUSH_PARTS:
                flush()
    out.append("\n" + " " * level + closing)
