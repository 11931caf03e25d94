"""The root of every error aggregate-pci raises, and the hints in them.

Pure (imports nothing of the project, nor anything heavy), so every layer
can subclass ``AggregatePciError``.  An error's message says what is wrong
and where (its subclasses keep the aggregate, key, file... as attributes);
a ``Hint`` says how to fix it, naming a command or a global option that
each front end (``aggregate-pci``, ``openstack pci flavor``) spells in its
own syntax when it prints the error.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

#: Spells a command (e.g. ``"inventory export"``) or a global option
#: (e.g. ``"timeout"``) for the reader.
Speller = Callable[[str], str]


def neutral_command(name: str) -> str:
    """A command as both front ends share it: ``'inventory export'``."""
    return "'%s'" % name


def neutral_option(name: str) -> str:
    """A global option without a front end's syntax: ``the timeout``."""
    return "the %s" % name


@dataclasses.dataclass(frozen=True)
class Hint:
    """How to fix a problem: ``text`` with ``{command}`` and ``{option}``
    where the front end's spelling of ``command`` and ``option`` goes."""

    text: str
    command: str | None = None
    option: str | None = None

    def render(
        self,
        command: Speller = neutral_command,
        option: Speller = neutral_option,
    ) -> str:
        """The hint with the command and option spelled by ``command`` and
        ``option`` (by default without naming a front end)."""
        text = self.text
        if self.command is not None:
            text = text.replace("{command}", command(self.command))
        if self.option is not None:
            text = text.replace("{option}", option(self.option))
        return text


class AggregatePciError(Exception):
    """Root of every error aggregate-pci raises: a message naming what is
    wrong and where, and optionally a ``Hint`` the front end spells."""

    def __init__(self, message: str, hint: Hint | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def render(
        self,
        command: Speller = neutral_command,
        option: Speller = neutral_option,
    ) -> str:
        """The message, then the hint spelled by ``command``/``option``."""
        text = str(self.args[0]) if self.args else ""
        if self.hint is None:
            return text
        return "%s; %s" % (text, self.hint.render(command, option))

    def __str__(self) -> str:
        return self.render()
