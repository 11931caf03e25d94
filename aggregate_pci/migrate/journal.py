"""The migration journal: an append-only JSON-lines file of every write.

Each write is recorded as an ``intent`` (with the value it replaces)
BEFORE the API call and a ``done`` or ``failed`` after it, each line
flushed and fsynced, so a run killed mid-call still leaves a journal that
``undo`` can replay.  Runs append to the same file; an ``undo`` line marks
everything before it as rolled back.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Iterator


class JournalError(Exception):
    """The journal cannot be read or written."""


class Journal:
    """Appends records to ``path``; the file is created on the first write."""

    def __init__(self, path: str, run_info: dict[str, Any] | None = None) -> None:
        self.path = path
        self.run_info = dict(run_info or {})
        self._started = False
        self._seq = 0

    def _write(self, record: dict[str, Any]) -> None:
        try:
            _drop_torn_tail(self.path)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise JournalError(
                "cannot write journal %s: %s" % (self.path, exc)
            ) from None

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._seq = (
                max((r.get("seq", 0) for r in read(self.path)), default=0)
                if os.path.exists(self.path)
                else 0
            )
            self._write(dict(self.run_info, event="run", time=_now()))

    def intent(self, op: str, **fields: Any) -> int:
        """Record a write about to be made; return its sequence number."""
        self._start()
        self._seq += 1
        self._write(dict(fields, event="intent", op=op, seq=self._seq))
        return self._seq

    def done(self, seq: int, **fields: Any) -> None:
        self._write(dict(fields, event="done", seq=seq))

    def failed(self, seq: int, error: str) -> None:
        self._write({"event": "failed", "seq": seq, "error": error})

    def mark_undone(self, **fields: Any) -> None:
        """Everything recorded so far is rolled back."""
        self._write(dict(fields, event="undo", time=_now()))


def _drop_torn_tail(path: str) -> None:
    """Cut a last line left unfinished by a crash (that write was never
    attempted: records are fsynced before their API call)."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def read(path: str) -> Iterator[dict[str, Any]]:
    """The records of a journal, in order; a torn last line is ignored
    (a crash while writing it means that write was never attempted)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except OSError as exc:
        raise JournalError("cannot read journal %s: %s" % (path, exc)) from None
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines) and not line.endswith("\n"):
                return
            raise JournalError(
                "journal %s, line %d is not a journal record" % (path, number)
            ) from None
        if not isinstance(record, dict) or "event" not in record:
            raise JournalError(
                "journal %s, line %d is not a journal record" % (path, number)
            )
        yield record


def pending_intents(path: str) -> list[dict[str, Any]]:
    """The write intents recorded since the last undo, oldest first; an
    intent whose write completed carries its ``done`` record."""
    intents: list[dict[str, Any]] = []
    by_seq: dict[Any, dict[str, Any]] = {}
    for record in read(path):
        if record["event"] == "undo":
            intents, by_seq = [], {}
        elif record["event"] == "intent":
            intents.append(record)
            by_seq[record.get("seq")] = record
        elif record["event"] == "done" and record.get("seq") in by_seq:
            by_seq[record["seq"]]["done"] = record
    return intents
