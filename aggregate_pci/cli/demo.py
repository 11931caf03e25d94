"""``demo``: the end-to-end walkthrough on an embedded, in-process Nova."""

from __future__ import annotations

import argparse
import importlib.util

from cliff import command

from aggregate_pci.cli import common


class RunDemo(command.Command):
    """Run the end-to-end demo on an in-process Nova (needs Nova's test harness)."""

    _epilog = common.exit_codes(
        "an expected placement did not happen, or Nova is missing"
    )

    auth_required = False

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        if importlib.util.find_spec("nova") is None:  # imports nothing
            self.app.stderr.write(
                "error: demo runs an in-process Nova and needs Nova with its "
                "test harness: pip install nova (in a scratch virtualenv), or "
                "run 'tools/tox.sh -e demo' from a source checkout\n"
            )
            return 1
        from aggregate_pci.demo import run  # imports Nova: only when run

        return run.main()
