"""The docs carry no machine's paths (issue 20): a transcript or a command
copied from a developer's run must show paths an operator has, not the
temporary directories or checkouts of the machine that generated it."""

import re
import unittest

from tests.fixtures import paths

#: Paths that exist only on the machine that ran something.
MACHINE_PATHS = re.compile(
    r"/tmp/tmp\w+"  # tempfile.mkdtemp()
    r"|(?<![\w.-])/(?:work|check|root)/"  # checkouts and CI workspaces
    r"|/home/\w+"
    r"|/var/folders/"
)


def doc_files():
    root = paths.ROOT
    yield root / "README.md"
    yield from sorted((root / "docs").rglob("*.md"))
    yield from sorted((root / "releasenotes").rglob("*.yaml"))


class MachinePathsTest(unittest.TestCase):
    def test_no_machine_paths_in_docs(self):
        found = []
        for path in doc_files():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for m in MACHINE_PATHS.finditer(line):
                    found.append(
                        "%s:%d: %s" % (path.relative_to(paths.ROOT), n, m.group())
                    )
        self.assertEqual([], found)

    def test_the_pattern_finds_what_it_must(self):
        for text in (
            "--config-file /tmp/tmpez2iklbp/nova.conf",
            "cloud.sh up /work/cloudB",
            "/check/work/main/tests",
            "/home/alice/venv",
        ):
            self.assertTrue(MACHINE_PATHS.search(text), text)
        for text in (
            "COPY aggregate_pci-*.whl /tmp/",
            "/etc/nova/nova.conf",
            "tools/work/x",
        ):
            self.assertFalse(MACHINE_PATHS.search(text), text)


if __name__ == "__main__":
    unittest.main()
