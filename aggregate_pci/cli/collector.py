"""How a command's process treats Python's garbage collector (issue 21):
what lives as long as the process is frozen (``gc.freeze``) so that no
collection walks it again: what loading Nova made, before a read of its
databases, and everything left, at exit."""

from __future__ import annotations

import atexit
import gc

#: Whether this process freezes its objects at exit (``freeze_at_exit``).
_FREEZING_AT_EXIT: list[bool] = []


def freeze_at_exit() -> None:
    """Once per process: at exit, freeze every object left (``gc.freeze``),
    so the interpreter's exit frees them without walking them all for
    cycles, Nova's modules included: about 0.6 s of every command
    (docs/benchmarks.md), under ``aggregate-pci`` and ``openstack pci``
    alike.  Nothing changes before exit."""
    if not _FREEZING_AT_EXIT:
        atexit.register(gc.freeze)
        _FREEZING_AT_EXIT.append(True)


#: Whether this process has frozen what loading Nova made (once only).
_FROZEN_AFTER_LOADING: list[bool] = []


def freeze_after_loading() -> None:
    """Once per process, after Nova's code and a nova.conf are loaded for a
    read of its databases: ``gc.freeze`` what starting up and loading made
    (objects that live as long as the process), so the read's collections
    stop walking them (issue 21: 0.6 s of collections at 10,000 hosts, half
    of it that walk).  Only once: later reads (the exporter's refreshes)
    leave garbage that must stay collectable."""
    if not _FROZEN_AFTER_LOADING:
        gc.freeze()
        _FROZEN_AFTER_LOADING.append(True)
