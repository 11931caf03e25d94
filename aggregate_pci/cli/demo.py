"""``demo``: the end-to-end walkthrough on an embedded, in-process Nova."""

from __future__ import annotations

import argparse

from cliff import command


class Demo(command.Command):
    """Run the end-to-end demo on an in-process Nova (needs Nova's test harness)."""

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--hosts", type=int, default=3,
                            help="compute hosts to start (default 3)")
        parser.add_argument("--verbose", action="store_true")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        from aggregate_pci import demo  # written separately; imported lazily

        return demo.main(parsed_args)
