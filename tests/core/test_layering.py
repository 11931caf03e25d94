"""The layering rules as tests (Nova's hacking checks are the model).

- The pure modules load no Nova, no HTTP client, no SQL and no CLI
  framework, and nothing under ``admin/nova_io/``, ``admin/exporter/`` or
  ``cli/``: each is imported in a fresh interpreter and ``sys.modules`` is
  inspected afterwards.  Pure are the core modules named in ``PURE_MODULES``
  and every module found under ``PURE_FOLDERS`` (``admin/checks/``,
  ``admin/capacity/`` and the admin root: models, errors, inventory); a
  module planted there is checked without editing this file.
- The inventory file format loads no HTTP layer.
- The scheduler filter loads no CLI.
- The CLI modules import no Nova, HTTP or SQL library themselves: they
  parse and render, the library layer does the work.
- Both command entry-point groups in setup.cfg list the same commands.
"""

import ast
import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Top-level packages the pure modules must not load.
HEAVY = (
    "nova",
    "novaclient",
    "keystoneauth1",
    "sqlalchemy",
    "cliff",
    "osc_lib",
    "openstack",
    "openstackclient",
    "requests",
    "pymysql",
)

#: Pure modules outside the pure folders, named one by one.
PURE_MODULES = (
    "aggregate_pci.codec",
    "aggregate_pci.matching",
    "aggregate_pci.alias",
    "aggregate_pci.conf",
    "aggregate_pci.scheduler.decision",
    "aggregate_pci.scheduler.ports",
    "aggregate_pci.migrate.model",
    "aggregate_pci.migrate.plan",
    "aggregate_pci.migrate.target_choice",
    "aggregate_pci.migrate.journal",
)

#: Folders under the repository root whose modules are all pure: (folder,
#: with its subfolders).  The admin root holds models, errors, inventory.
PURE_FOLDERS = (
    ("aggregate_pci/admin", False),
    ("aggregate_pci/admin/checks", True),
    ("aggregate_pci/admin/capacity", True),
)

#: Packages of ours a pure module must not load: Nova I/O, the Prometheus
#: exporter, the CLI.
IMPURE_PACKAGES = (
    "aggregate_pci.admin.nova_io",
    "aggregate_pci.admin.exporter",
    "aggregate_pci.cli",
)

#: Libraries a CLI module may not import itself (the library layer does).
CLI_FORBIDDEN = (
    "nova",
    "novaclient",
    "keystoneauth1",
    "sqlalchemy",
    "requests",
    "pymysql",
)


def modules_loaded_by(module: str, root: str = ROOT) -> set[str]:
    """Every name in sys.modules after importing ``module`` alone from ``root``."""
    code = (
        "import json, sys; import %s; print(json.dumps(sorted(sys.modules)))" % module
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return set(json.loads(out))


def loaded_by(module: str) -> set[str]:
    """Top-level packages in sys.modules after importing ``module`` alone."""
    return {m.split(".")[0] for m in modules_loaded_by(module)}


def pure_modules(root: str = ROOT) -> list[str]:
    """``PURE_MODULES`` plus every module found under ``PURE_FOLDERS``."""
    found = set(PURE_MODULES)
    for folder, recursive in PURE_FOLDERS:
        for top, dirs, names in os.walk(os.path.join(root, folder)):
            if not recursive:
                dirs.clear()
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            package = os.path.relpath(top, root).replace(os.sep, ".")
            for name in names:
                if name == "__init__.py":
                    found.add(package)
                elif name.endswith(".py"):
                    found.add("%s.%s" % (package, name[: -len(".py")]))
    return sorted(found)


def impurities(module: str, root: str = ROOT) -> set[str]:
    """What ``module`` loads that a pure module must not: heavy libraries
    (top-level names) and our impure packages."""
    loaded = modules_loaded_by(module, root)
    bad = {m.split(".")[0] for m in loaded} & set(HEAVY)
    bad.update(
        package
        for package in IMPURE_PACKAGES
        for m in loaded
        if m == package or m.startswith(package + ".")
    )
    return bad


def imported_names(path: str) -> set[str]:
    """Top-level packages a source file imports anywhere (AST)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


class LayeringTest(unittest.TestCase):
    def test_pure_modules_load_nothing_heavy(self):
        modules = pure_modules()
        # The folders are walked: their modules are found, not listed here.
        self.assertIn("aggregate_pci.admin.checks.lint", modules)
        self.assertIn("aggregate_pci.admin.capacity.report", modules)
        self.assertIn("aggregate_pci.admin.models", modules)
        self.assertNotIn("aggregate_pci.admin.nova_io", modules)
        for module in modules:
            with self.subTest(module=module):
                bad = impurities(module)
                self.assertEqual(
                    set(), bad, "%s loads %s" % (module, ", ".join(sorted(bad)))
                )

    def test_rules_catch_a_planted_violation(self):
        """A module planted in a pure folder (in a copy of the tree) that
        loads an HTTP library and Nova I/O is found and reported."""
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(
                os.path.join(ROOT, "aggregate_pci"),
                os.path.join(tmp, "aggregate_pci"),
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            # A stand-in "requests", so the check runs without the real one.
            os.mkdir(os.path.join(tmp, "requests"))
            open(os.path.join(tmp, "requests", "__init__.py"), "w").close()
            planted = os.path.join(
                tmp, "aggregate_pci", "admin", "checks", "planted.py"
            )
            with open(planted, "w", encoding="utf-8") as f:
                f.write("import requests\nimport aggregate_pci.admin.nova_io\n")
            self.assertIn("aggregate_pci.admin.checks.planted", pure_modules(tmp))
            self.assertEqual(
                {"requests", "aggregate_pci.admin.nova_io"},
                impurities("aggregate_pci.admin.checks.planted", tmp),
            )
            self.assertEqual(set(), impurities("aggregate_pci.admin.checks.lint", tmp))

    @unittest.skipIf(
        importlib.util.find_spec("nova") is None,
        "the filter needs Nova (tox -e core runs without it)",
    )
    def test_filter_loads_no_cli(self):
        loaded = loaded_by("aggregate_pci.filter")
        self.assertFalse(loaded & {"cliff", "osc_lib", "openstackclient"}, loaded)
        code = (
            "import sys, aggregate_pci.filter; print([m for m in sys.modules "
            "if m.startswith('aggregate_pci.cli') or "
            "m.startswith('aggregate_pci.admin')])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        self.assertEqual("[]", out.strip())

    def test_cli_modules_only_parse_and_render(self):
        cli = os.path.join(ROOT, "aggregate_pci", "cli")
        for name in sorted(os.listdir(cli)):
            if not name.endswith(".py"):
                continue
            with self.subTest(module=name):
                bad = imported_names(os.path.join(cli, name)) & set(CLI_FORBIDDEN)
                self.assertEqual(
                    set(),
                    bad,
                    "aggregate_pci/cli/%s imports %s" % (name, ", ".join(sorted(bad))),
                )

    def test_entry_point_groups_list_the_same_commands(self):
        cfg = configparser.ConfigParser()
        cfg.read(os.path.join(ROOT, "setup.cfg"))
        groups = cfg["options.entry_points"]

        def commands(group, prefix=""):
            out = {}
            for line in groups[group].strip().splitlines():
                name, _, target = line.partition("=")
                name = name.strip()
                self.assertTrue(name.startswith(prefix), name)
                out[name[len(prefix) :]] = target.strip()
            return out

        standalone = commands("aggregate_pci.cli")
        osc = commands("openstack.pci_flavor.v1", "pci_flavor_")
        # The same command classes behind both (``demo`` starts an embedded
        # Nova: standalone only, on purpose).
        self.assertEqual(
            sorted(set(standalone.values()) - {"aggregate_pci.cli.demo:RunDemo"}),
            sorted(osc.values()),
        )
        self.assertEqual(len(osc), len(set(osc.values())))
        # Each OSC name is the standalone name under "pci flavor".
        by_target = {v: k for k, v in standalone.items()}
        for name, target in osc.items():
            self.assertIn(by_target[target], (name, "flavor_" + name))
