"""``main()`` of the demo: run the case, print the verdict, return the exit code."""

from __future__ import annotations

import os
import sys
import unittest


def main() -> int:
    """Run the demo; return 0 if every expected placement happened."""
    os.environ.setdefault(
        "OS_WSGI__API_PASTE_CONFIG",
        os.path.join(sys.prefix, "etc", "nova", "api-paste.ini"),
    )
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    from aggregate_pci.demo import case  # imports Nova

    def out(text: str) -> None:
        print(text + "\n", flush=True)

    state = {"ok": True}
    result = unittest.TestResult()
    case.Demo(out, state).run(result)
    for _, trace in result.errors + result.failures:
        print(trace, file=sys.stderr)
    if result.errors or result.failures or not state["ok"]:
        print("DEMO FAILED: an expected placement did not happen", file=sys.stderr)
        return 1
    print("DEMO OK: every server landed where the PCI flavors say it should.")
    return 0
