"""docs/migration.md's worked example is what the current code prints:
tools/docs/migrate_walkthrough.py's scenario is run on the in-process Nova and
its transcript compared with the page."""

# Nova's threading mode needs this to be the module's first import; the
# isort split keeps ruff from sorting it below the standard library.
import nova.tests.functional  # noqa: F401

# isort: split

import importlib.util

from tests.fixtures import paths

_ROOT = paths.ROOT
_spec = importlib.util.spec_from_file_location(
    "migrate_walkthrough", _ROOT / "tools" / "docs" / "migrate_walkthrough.py"
)
walkthrough = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(walkthrough)


class WalkthroughDocTest(walkthrough.Walkthrough):
    def test_docs_show_what_the_code_prints(self):
        text = self.transcript()
        _, on_page, _ = walkthrough.page_block(_ROOT / "docs" / "migration.md")
        self.assertEqual(
            on_page,
            text,
            "docs/migration.md is stale: run "
            "tools/docs/migrate_walkthrough.py --write docs/migration.md",
        )
