"""The migration journal: an append-only JSON-lines file of every write.

Each write is recorded as an ``intent`` (with the value it replaces)
BEFORE the API call and a ``done`` or ``failed`` after it, each line
flushed and fsynced, so a run killed mid-call still leaves a journal that
``undo`` can replay.  Runs append to the same file; an ``undo`` line marks
everything before it as rolled back.

Every record carries its run's id (``run``), so records of different runs
cannot be confused, and a run or undo holds an exclusive lock
(``JOURNAL.lock``, see ``locked``) from before its first API call to its
end: a second one on the same journal stops at once, naming the holder.
The journal is created with mode 0600 (it holds metadata values).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import uuid
from typing import Any, Iterator

from aggregate_pci.errors import AggregatePciError

#: Intent operations and the fields each one needs (besides ``aggregate``).
OPS = ("create_aggregate", "add_host", "set_metadata")


class JournalError(AggregatePciError):
    """The journal cannot be read or written."""


class JournalLocked(JournalError):
    """Another run or undo holds the journal's lock."""


def lock_path(path: str) -> str:
    return path + ".lock"


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold the exclusive lock of journal ``path`` (a sibling ``.lock``
    file, flock'ed, holding the owner's pid, removed on release).

    Also checks that the journal can be written, so a run stops before
    its first API call when it could not record its writes.
    """
    fd = _acquire(path)
    try:
        if os.path.exists(path):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
            except OSError as exc:
                raise JournalError(
                    "cannot write journal %s: %s" % (path, exc.strerror)
                ) from None
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path(path))
        os.close(fd)


def _acquire(path: str) -> int:
    name = lock_path(path)
    while True:
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(
                "cannot write journal %s: cannot create its lock file %s: %s"
                % (path, name, exc.strerror)
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise JournalError(
                    "cannot lock journal %s: %s" % (path, exc.strerror)
                ) from None
            raise JournalLocked(
                "journal %s is in use by %s (another migrate or --undo on "
                "the same journal): wait for it to finish, then run again"
                % (path, _holder(name))
            ) from None
        try:
            same = os.stat(name).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if not same:  # the holder released and removed it meanwhile: retry
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        return fd


def _holder(name: str) -> str:
    try:
        with open(name, encoding="ascii") as fh:
            pid = fh.read().strip()
    except (OSError, ValueError):
        pid = ""
    return "pid %s" % pid if pid.isdigit() else "another process"


class Journal:
    """Appends records to ``path``; the file is created on the first write."""

    def __init__(self, path: str, run_info: dict[str, Any] | None = None) -> None:
        self.path = path
        self.run_info = dict(run_info or {})
        self.run_id = uuid.uuid4().hex
        self._started = False
        self._seq = 0

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(dict(record, run=self.run_id), sort_keys=True) + "\n"
        try:
            _repair_tail(self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise JournalError(
                "cannot write journal %s: %s" % (self.path, exc.strerror or exc)
            ) from None

    def _start(self) -> None:
        if not self._started:
            self._started = True
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


def _parses(line: bytes) -> bool:
    try:
        record = json.loads(line.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(record, dict) and "event" in record


def _repair_tail(path: str) -> None:
    """Before appending: a last line without its newline is either torn by
    a crash while it was written (that write was never attempted: records
    are fsynced before their API call), and is cut, or complete (a record
    that parses), and gets its newline.  Never drops a complete record."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        if _parses(data[start:]):
            fh.write(b"\n")
        else:
            fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def _numbered(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with open(path, "rb") as fh:
            lines = fh.readlines()
    except OSError as exc:
        raise JournalError(
            "cannot read journal %s: %s" % (path, exc.strerror or exc)
        ) from None
    for number, raw in enumerate(lines, 1):
        last = number == len(lines) and not raw.endswith(b"\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if last:
                return
            raise JournalError(
                "journal %s, line %d is not UTF-8 text: not a journal record "
                "(restore the file or remove that line)" % (path, number)
            ) from None
        try:
            record = json.loads(text)
        except ValueError:
            if last:
                return
            raise JournalError(
                "journal %s, line %d is not a journal record (not JSON); "
                "restore the file or remove that line" % (path, number)
            ) from None
        if not isinstance(record, dict) or "event" not in record:
            raise JournalError(
                "journal %s, line %d is not a journal record (no 'event'); "
                "restore the file or remove that line" % (path, number)
            )
        yield number, record


def read(path: str) -> Iterator[dict[str, Any]]:
    """The records of a journal, in order; a torn last line is ignored
    (a crash while writing it means that write was never attempted)."""
    for _number, record in _numbered(path):
        yield record


def _check_intent(path: str, number: int, record: dict[str, Any]) -> None:
    """An intent undo can act on, else one line naming what is wrong."""

    def bad(what: str) -> JournalError:
        return JournalError(
            "journal %s, line %d: intent record %s; the file was edited or "
            "is not a migrate journal: restore it or remove that line"
            % (path, number, what)
        )

    if record.get("op") not in OPS:
        raise bad("has unknown op %r (expected one of %s)" % (record.get("op"), OPS))
    if not isinstance(record.get("aggregate"), str):
        raise bad("lacks 'aggregate' (an aggregate name)")
    if record["op"] == "add_host" and not isinstance(record.get("host"), str):
        raise bad("lacks 'host' (a host name)")
    if record["op"] == "set_metadata":
        keys = record.get("keys")
        if not isinstance(keys, dict) or not all(
            isinstance(k, str)
            and isinstance(c, dict)
            and all(
                f in c and (c[f] is None or isinstance(c[f], str))
                for f in ("old", "new")
            )
            for k, c in keys.items()
        ):
            raise bad('lacks \'keys\' ({key: {"old": ..., "new": ...}})')


def pending_intents(path: str) -> list[dict[str, Any]]:
    """The write intents recorded since the last undo, oldest first; an
    intent whose write completed carries its ``done`` record.  Records
    are matched within their run (``run``, absent in older journals)."""
    intents: list[dict[str, Any]] = []
    by_seq: dict[Any, dict[str, Any]] = {}
    for number, record in _numbered(path):
        event = record["event"]
        if event in ("intent", "done", "failed"):
            seq = record.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise JournalError(
                    "journal %s, line %d: %s record has 'seq' %r, not an "
                    "integer; the file was edited or is not a migrate "
                    "journal: restore it or remove that line"
                    % (path, number, event, seq)
                )
        if event == "undo":
            intents, by_seq = [], {}
        elif event == "intent":
            _check_intent(path, number, record)
            intents.append(record)
            by_seq[(record.get("run"), record["seq"])] = record
        elif event == "done":
            intent = by_seq.get((record.get("run"), record["seq"]))
            if intent is not None:
                intent["done"] = record
    return intents
