"""``demo``: the end-to-end walkthrough on an embedded, in-process Nova."""

from __future__ import annotations

import argparse

from cliff import command


class Demo(command.Command):
    """Run the end-to-end demo on an in-process Nova (needs Nova's test harness)."""

    auth_required = False

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        from aggregate_pci import demo  # imports Nova: only when run

        return demo.main()
