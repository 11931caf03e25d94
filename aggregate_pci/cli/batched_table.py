"""Long tables through cliff's table formatter at a fraction of its cost,
byte for byte the same output.

prettytable spends its time per cell (formatting, measuring, justifying):
61,000 rows of ``audit --summary`` cost more than the audit.  It prints a
cell holding several lines as that many lines, each justified to the
column's width, and cliff's default table has no rule between rows; so
consecutive rows handed over as one row whose cells join theirs with
newlines come out as the rows themselves, for a few cells' cost.  The
first row goes alone (cliff aligns each column by its first row's value
types).  Only where nothing can tell the difference: the table format
without sorting by cliff, wrapping to a width (--max-width, --fit-width, a
terminal) or a cell of another type than str, int or float (which
prettytable, given no number format, prints by ``str`` too), or with a line
break (human formats escape those before).  Applied in one place, the
shared table output of every command (``common.HandlesErrors``), to a
``Lister``'s rows only: a ``ShowOne``'s data is one record's values.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator, Sequence

from cliff import lister

#: Rows joined into one.
CHUNK = 1000


def applies(parsed_args: Any) -> bool:
    """Whether cliff would print a plain table: no sorting, no wrapping
    (its ``_assign_max_widths`` sets no width)."""
    return (
        getattr(parsed_args, "formatter", None) == "table"
        and not getattr(parsed_args, "sort_columns", None)
        and int(getattr(parsed_args, "max_width", 0) or 0) <= 0
        and not getattr(parsed_args, "fit_width", False)
        and not sys.stdout.isatty()
    )


def _joinable(row: Sequence[Any]) -> bool:
    """Cells prettytable prints by ``str``, on one line each."""
    for value in row:
        kind = type(value)
        if kind is str:
            if "\n" in value or "\r" in value:
                return False
        elif kind is not int and kind is not float:
            return False
    return True


def _joined(chunk: list[Sequence[Any]]) -> tuple[str, ...]:
    return tuple("\n".join(map(str, column)) for column in zip(*chunk, strict=True))


def batched(rows: Iterable[Sequence[Any]], size: int = CHUNK) -> Iterator[Any]:
    """``rows``, the first alone and then up to ``size`` joinable rows of
    equal length at a time as one (see the module's docstring)."""
    it = iter(rows)
    for first in it:
        yield first
        break
    chunk: list[Sequence[Any]] = []
    for row in it:
        if _joinable(row) and (not chunk or len(row) == len(chunk[0])):
            chunk.append(row)
            if len(chunk) >= size:
                yield _joined(chunk)
                chunk = []
            continue
        if chunk:
            yield _joined(chunk)
            chunk = []
        yield row
    if chunk:
        yield _joined(chunk)


def table_rows(command: Any, parsed_args: Any, data: Any) -> Any:
    """``data`` as ``command`` hands it to cliff: a ``Lister``'s rows
    batched when they print as a plain table, anything else as it is."""
    if isinstance(command, lister.Lister) and applies(parsed_args):
        return batched(data)
    return data
