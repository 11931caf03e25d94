"""The standalone ``aggregate-pci`` command (osc-lib shell: ``--os-cloud``
with clouds.yaml, ``OS_*`` variables, ``--os-*`` options, ``--debug``)."""

from __future__ import annotations

import sys
from typing import Any, Callable

from cliff import commandmanager
from osc_lib import shell

import aggregate_pci
from aggregate_pci.admin import api

COMMAND_GROUP = "aggregate_pci.cli"


class AggregatePciApp(shell.OpenStackShell):
    """cliff App with osc-lib's auth handling and our command group.

    ``admin_factory`` (returning a ``PciFlavorAdmin``) and ``nova_context``
    (an in-process Nova's admin context) let a caller that already has a
    session or a configured Nova (the demo, tests) run the same commands.
    """

    def __init__(self, admin_factory: Callable[[], api.PciFlavorAdmin] | None = None,
                 nova_context: Any = None, stdout: Any = None,
                 stderr: Any = None) -> None:
        super().__init__(
            description=__doc__.splitlines()[0],
            version=getattr(aggregate_pci, "__version__", "0"),
            command_manager=commandmanager.CommandManager(COMMAND_GROUP),
            stdout=stdout, stderr=stderr, deferred_help=True)
        self.admin_factory = admin_factory
        self.nova_context = nova_context

    def prepare_to_run_command(self, cmd: Any) -> None:
        if self.admin_factory is not None:
            return
        super().prepare_to_run_command(cmd)

    def clean_up(self, cmd: Any, result: int, err: BaseException | None) -> None:
        if self.admin_factory is not None:
            return
        super().clean_up(cmd, result, err)


def main(argv: list[str] | None = None, **kwargs: Any) -> int:
    """Entry point of ``aggregate-pci``; ``kwargs`` go to the App."""
    return AggregatePciApp(**kwargs).run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
