"""The operators' install path (issue 20): pbr versions from git, reno
release notes, and docs/install.md giving the commands .ci/run runs
(tools/release/wheel_check.sh) to build and install the wheel."""

import configparser
import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys
import unittest

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
RENO_SECTIONS = {
    "prelude",
    "features",
    "issues",
    "upgrade",
    "deprecations",
    "critical",
    "security",
    "fixes",
    "other",
}


class InstallTest(unittest.TestCase):
    def test_version_comes_from_git_through_pbr(self):
        self.assertIn("pbr=True", (ROOT / "setup.py").read_text())
        dist = importlib.metadata.distribution("aggregate-pci")
        built = json.loads(dist.read_text("pbr.json") or "null")
        self.assertIsNotNone(built, "installed without pbr: no pbr.json")
        cfg = configparser.ConfigParser()
        cfg.read(ROOT / "setup.cfg")
        nxt = cfg["metadata"]["version"]
        self.assertRegex(
            dist.version, r"^%s(\.dev\d+)?$|^\d+\.\d+\.\d+$" % re.escape(nxt)
        )
        out = subprocess.run(
            [sys.executable, "-m", "aggregate_pci.cli.shell", "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertIn(dist.version, out.stdout + out.stderr)

    def test_release_notes_are_reno_notes(self):
        notes = sorted((ROOT / "releasenotes" / "notes").glob("*.yaml"))
        self.assertTrue(notes)
        for note in notes:
            with self.subTest(note=note.name):
                self.assertRegex(note.name, r"-[0-9a-f]{16}\.yaml$")
                doc = yaml.safe_load(note.read_text())
                self.assertTrue(doc)
                self.assertLessEqual(set(doc), RENO_SECTIONS)

    def test_install_doc_gives_the_commands_ci_runs(self):
        ci = (ROOT / ".ci" / "run").read_text()
        self.assertIn("tools/release/wheel_check.sh", ci)
        script = (ROOT / "tools" / "release" / "wheel_check.sh").read_text()
        doc = (ROOT / "docs" / "install.md").read_text()
        for command in (
            "-m build --wheel --outdir",
            "aggregate-pci --version",
            "aggregate-pci help flavor create",
        ):
            with self.subTest(command=command):
                self.assertIn(command, script)
                self.assertIn(command, doc)
        self.assertIn('/bin/pip" install -q "$dir"/dist/aggregate_pci-*.whl', script)
        self.assertIn("/bin/pip install dist/aggregate_pci-*.whl", doc)
        self.assertIn("FROM ${BASE_IMAGE}", doc)
        self.assertIn("{% extends parent_template %}", doc)
        readme = (ROOT / "README.md").read_text()
        self.assertIn("docs/install.md", readme)
        self.assertNotIn("pip install aggregate-pci", readme)


if __name__ == "__main__":
    unittest.main()
