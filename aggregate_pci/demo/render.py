"""The demo's output: tables, and the filter's "rejected" DEBUG lines."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator, Sequence


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A titled, left-aligned text table."""
    from prettytable import PrettyTable

    out = PrettyTable(list(header))
    out.align = "l"
    for row in rows:
        out.add_row(list(row))
    return "%s\n%s" % (title, out.get_string())


class Capture(logging.Handler):
    """Collects the filter's "rejected" DEBUG lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " rejected: " in message:
            self.lines.append(message)


@contextlib.contextmanager
def captured_rejections() -> Iterator[Capture]:
    """The package's loggers at DEBUG into a Capture, restored on exit."""
    capture = Capture()
    logger = logging.getLogger("aggregate_pci")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
