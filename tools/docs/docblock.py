"""The generated block of a docs page: the text between two marker lines.

Shared by the transcript tools (tools/docs/walkthrough.py,
tools/docs/migrate_walkthrough.py, tools/docs/audit_walkthrough.py): each one owns its
markers and its block's text; this module finds, rewrites and compares the
block.  Standard library only (the cloud lane's tox env has just pytest).
"""

from __future__ import annotations

import difflib
import sys


def page_block(path: str, begin: str, end: str) -> tuple[str, str, str]:
    """(text through the begin marker's line, the block, text from the end marker)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(
            "%s has no generated-block markers: add the lines %r and %r "
            "around the block" % (path, begin, end)
        )
    head = start + len(begin) + 1
    return text[:head], text[head:stop], text[stop:]


def write_block(path: str, begin: str, end: str, block: str) -> None:
    """Replace the page's block (between the markers) with ``block``."""
    head, _, tail = page_block(path, begin, end)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + block + tail)


def block_diff(path: str, begin: str, end: str, block: str) -> str:
    """Unified diff from the page's block to ``block`` ('' when they are equal)."""
    on_page = page_block(path, begin, end)[1]
    return "".join(
        difflib.unified_diff(
            on_page.splitlines(keepends=True),
            block.splitlines(keepends=True),
            fromfile="%s (on the page)" % path,
            tofile="%s (this run)" % path,
        )
    )


def check_block(path: str, begin: str, end: str, block: str, tool: str) -> int:
    """0 when the page's block is ``block``; else print the diff and return 1."""
    diff = block_diff(path, begin, end, block)
    if not diff:
        return 0
    sys.stderr.write(diff)
    print(
        "%s differs from this run: regenerate it with %s --write %s"
        % (path, tool, path),
        file=sys.stderr,
    )
    return 1


def publish(
    text: str,
    block: str,
    begin: str,
    end: str,
    tool: str,
    write: str | None = None,
    check: str | None = None,
) -> int:
    """A tool's exit status after printing ``text``, or writing ``block`` into
    the page ``write``, or checking the page ``check`` against it."""
    if write:
        write_block(write, begin, end, block)
    elif check:
        return check_block(check, begin, end, block, tool)
    else:
        sys.stdout.write(text)
    return 0
