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
- Only the demo command (aggregate_pci/cli/demo.py), the demo package
  itself, tests/ and tools/ import ``aggregate_pci.demo`` (the embedded Nova
  is a test fixture): a static scan of aggregate_pci/.
- Tools import no tests module except ``tests.reference`` (the one
  independent oracle) and the shared fixture package ``tests.fixtures``: a
  static scan of tools/.
- No test module imports another test module: under tests/, only
  ``tests.fixtures`` and ``tests.reference`` are imported (shared helpers
  live in fixture modules): a static scan of tests/.
- docs/layout.md ("where things live") has a row for every product module,
  and names only modules and test paths that exist.
- No product module is over 350 lines (``MAX_MODULE_LINES``): a module that
  grows past it is split by role (issue 19).
"""

import ast
import configparser
import importlib.util
import json
import os
import pathlib
import re
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
    "aggregate_pci.matching",
    "aggregate_pci.alias",
    "aggregate_pci.conf",
    "aggregate_pci.scheduler.request",
    "aggregate_pci.scheduler.host_view",
    "aggregate_pci.scheduler.decision",
    "aggregate_pci.scheduler.claim_judge",
    "aggregate_pci.scheduler.ports",
    "aggregate_pci.scheduler.weigh",
    "aggregate_pci.scheduler.weigh_servable",
    "aggregate_pci.migrate.model",
    "aggregate_pci.migrate.plan",
    "aggregate_pci.migrate.target_choice",
    "aggregate_pci.migrate.journal",
)

#: Folders under the repository root whose modules are all pure: (folder,
#: with its subfolders).  The admin root holds models, errors, inventory.
PURE_FOLDERS = (
    ("aggregate_pci/codec", True),
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
        self.assertIn("aggregate_pci.codec.value", modules)
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
        "the filter needs Nova (tox -e pure runs without it)",
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


# -- static import rules: who may import what --------------------------------

#: Besides tests/ and tools/: the only product files that may import the demo.
DEMO_IMPORTERS = ("aggregate_pci/cli/demo.py", "aggregate_pci/demo/")
#: The only tests packages a tool may import.
TOOLS_MAY_IMPORT = ("tests.reference", "tests.fixtures")
#: The only tests packages a module under tests/ may import: no test module
#: imports another.
TESTS_MAY_IMPORT = ("tests.fixtures", "tests.reference")


def _module_of(path: str) -> tuple[str, bool]:
    """Dotted module name of a repository path, and whether it is a package."""
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imported_modules(path: str, source: str) -> set[str]:
    """Dotted names a source file imports anywhere (AST): ``import a.b`` gives
    a.b; ``from a import b`` gives a.b (relative imports resolved)."""
    module, is_package = _module_of(path)
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.update(base + "." + a.name for a in node.names if a.name != "*")
            if any(a.name == "*" for a in node.names):
                names.add(base)
    return names


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def import_violations(
    sources: dict[str, str],
    forbidden: str,
    allowed_paths: tuple[str, ...] = (),
    allowed_modules: tuple[str, ...] = (),
) -> list[str]:
    """ "PATH imports NAME" for each import under ``forbidden`` in ``sources``
    (path -> text) outside ``allowed_paths`` (a path, or a folder ending in
    "/") and not under one of ``allowed_modules``."""
    out = []
    for path, source in sorted(sources.items()):
        if any(
            path == a or (a.endswith("/") and path.startswith(a)) for a in allowed_paths
        ):
            continue
        for name in sorted(imported_modules(path, source)):
            if _under(name, forbidden) and not any(
                _under(name, a) for a in allowed_modules
            ):
                out.append("%s imports %s" % (path, name))
    return out


def python_sources(folder: str) -> dict[str, str]:
    """path (relative to the repository, "/"-separated) -> text, for every
    .py file under ``folder``."""
    root = pathlib.Path(ROOT)
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((root / folder).rglob("*.py"))
    }


def demo_violations(sources: dict[str, str]) -> list[str]:
    """Product files importing the demo or the embedded Nova."""
    return import_violations(sources, "aggregate_pci.demo", DEMO_IMPORTERS)


def tools_violations(sources: dict[str, str]) -> list[str]:
    """Tools importing a tests module other than the oracle and fixtures."""
    return import_violations(sources, "tests", allowed_modules=TOOLS_MAY_IMPORT)


def violations_in_tests(sources: dict[str, str]) -> list[str]:
    """Modules under tests/ importing a test module (anything under tests
    but the fixtures and the oracle)."""
    return import_violations(sources, "tests", allowed_modules=TESTS_MAY_IMPORT)


class ImportRulesTest(unittest.TestCase):
    def test_only_the_demo_command_imports_the_demo(self):
        sources = python_sources("aggregate_pci")
        self.assertIn("aggregate_pci/cli/demo.py", sources)
        self.assertEqual([], demo_violations(sources))

    def test_a_planted_demo_import_fails(self):
        planted = {
            "aggregate_pci/admin/planted.py": "from aggregate_pci.demo import run\n",
            "aggregate_pci/cli/planted.py": "from .. import demo\n",
            "aggregate_pci/scheduler/planted.py": (
                "def f():\n    import aggregate_pci.demo.embedded_nova\n"
            ),
            "aggregate_pci/filter_planted.py": "from .demo.case import Demo\n",
            # Allowed: the command, the package, and a module merely named demo.
            "aggregate_pci/cli/demo.py": "from aggregate_pci.demo import run\n",
            "aggregate_pci/demo/run.py": "from aggregate_pci.demo import case\n",
            "aggregate_pci/cli/shell.py": "from . import demo\n",
        }
        self.assertEqual(
            [
                "aggregate_pci/admin/planted.py imports aggregate_pci.demo.run",
                "aggregate_pci/cli/planted.py imports aggregate_pci.demo",
                "aggregate_pci/filter_planted.py imports aggregate_pci.demo.case.Demo",
                "aggregate_pci/scheduler/planted.py imports "
                "aggregate_pci.demo.embedded_nova",
            ],
            demo_violations(planted),
        )

    def test_tools_import_no_tests_module_but_the_reference(self):
        sources = python_sources("tools")
        self.assertTrue(sources)
        self.assertEqual([], tools_violations(sources))

    def test_a_planted_tests_import_in_a_tool_fails(self):
        planted = {
            "tools/bench/planted.py": "from tests.real_cloud import db\n",
            "tools/docs/planted.py": "import tests.mocked.fakes\n",
            "tools/planted.py": "from tests.pure.test_layering import ROOT\n",
            # Allowed: the oracle and the fixture package.
            "tools/bench/filter.py": (
                "from tests import reference\nfrom tests.reference import feasible\n"
                "from tests.fixtures import cloud_db\n"
            ),
        }
        self.assertEqual(
            [
                "tools/bench/planted.py imports tests.real_cloud.db",
                "tools/docs/planted.py imports tests.mocked.fakes",
                "tools/planted.py imports tests.pure.test_layering.ROOT",
            ],
            tools_violations(planted),
        )

    def test_no_test_module_imports_another(self):
        sources = python_sources("tests")
        self.assertIn("tests/pure/test_layering.py", sources)
        self.assertEqual([], violations_in_tests(sources))

    def test_a_planted_test_to_test_import_fails(self):
        planted = {
            "tests/mocked/cli/test_planted.py": (
                "from tests.mocked.cli.test_shell import free_port\n"
            ),
            "tests/pure/test_planted.py": "from tests.pure import test_codec\n",
            "tests/nova_in_process/test_planted.py": (
                "def f():\n    import tests.mocked.migrate.test_sources\n"
            ),
            "tests/fixtures/planted.py": "from ..pure.test_codec import A100\n",
            "tests/mocked/cli/test_relative.py": "from .test_shell import free_port\n",
            # Allowed: the fixtures and the oracle, also relatively.
            "tests/mocked/test_allowed.py": (
                "from tests.fixtures import cli_run\nfrom tests import reference\n"
                "from tests.reference import feasible\n"
            ),
            "tests/fixtures/allowed.py": "from . import fake_nova\n",
        }
        self.assertEqual(
            [
                "tests/fixtures/planted.py imports tests.pure.test_codec.A100",
                "tests/mocked/cli/test_planted.py imports "
                "tests.mocked.cli.test_shell.free_port",
                "tests/mocked/cli/test_relative.py imports "
                "tests.mocked.cli.test_shell.free_port",
                "tests/nova_in_process/test_planted.py imports "
                "tests.mocked.migrate.test_sources",
                "tests/pure/test_planted.py imports tests.pure.test_codec",
            ],
            violations_in_tests(planted),
        )


# -- docs/layout.md: every product module, its role, its tests ---------------

LAYOUT = "docs/layout.md"
#: A table row: | `aggregate_pci/...py` | role | tests |
_ROW = re.compile(r"^\|\s*`(aggregate_pci/[^`]+)`\s*\|(.*)\|(.*)\|\s*$")


def layout_rows(text: str) -> dict[str, list[str]]:
    """module path -> the test paths its row names (`tests/...`), or ["none"]
    when the Tests column starts with "none"."""
    rows = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            module, _, tests = match.groups()
            named = re.findall(r"`(tests/[^`]*)`", tests)
            rows[module] = named or (
                ["none"] if tests.strip().startswith("none") else []
            )
    return rows


def product_modules(root: str = ROOT) -> list[str]:
    """Every module file under aggregate_pci/, but an ``__init__.py`` that
    holds only a docstring."""
    out = []
    for path in sorted(pathlib.Path(root, "aggregate_pci").rglob("*.py")):
        if path.name == "__init__.py":
            body = ast.parse(path.read_text(encoding="utf-8")).body
            if all(
                isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                for n in body
            ):
                continue
        out.append(path.relative_to(root).as_posix())
    return out


def layout_problems(text: str, root: str = ROOT) -> list[str]:
    """What makes docs/layout.md untrue: a product module without a row, a
    row naming a module or test path that does not exist, a row naming no
    test (and not saying "none")."""
    rows = layout_rows(text)
    problems = [
        "%s has no row in %s" % (module, LAYOUT)
        for module in product_modules(root)
        if module not in rows
    ]
    for module, tests in sorted(rows.items()):
        if not os.path.isfile(os.path.join(root, module)):
            problems.append("%s names %s, which does not exist" % (LAYOUT, module))
        if not tests:
            problems.append("%s: the row of %s names no test" % (LAYOUT, module))
        for path in tests:
            if path != "none" and not os.path.exists(os.path.join(root, path)):
                problems.append(
                    "%s: the row of %s names %s, which does not exist"
                    % (LAYOUT, module, path)
                )
    return problems


class LayoutTest(unittest.TestCase):
    def test_layout_names_every_module_and_only_what_exists(self):
        with open(os.path.join(ROOT, LAYOUT), encoding="utf-8") as f:
            text = f.read()
        self.assertIn("aggregate_pci/codec/keys.py", layout_rows(text))
        self.assertEqual([], layout_problems(text))

    def test_an_untrue_layout_fails(self):
        """In a copy of the tree: a planted module without a row, a row of a
        module that is gone, a test path that does not exist, a row naming no
        test."""
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(
                os.path.join(ROOT, "aggregate_pci"),
                os.path.join(tmp, "aggregate_pci"),
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            os.makedirs(os.path.join(tmp, "tests", "pure"))
            open(os.path.join(tmp, "tests", "pure", "test_matching.py"), "w").close()
            text = "\n".join(
                "| `%s` | role | `tests/pure/test_matching.py` |" % m
                for m in product_modules(tmp)
            )
            self.assertEqual([], layout_problems(text, tmp))
            open(os.path.join(tmp, "aggregate_pci", "planted.py"), "w").close()
            # An __init__.py that holds code needs a row (a docstring-only
            # one does not).
            init = os.path.join(tmp, "aggregate_pci", "cli", "__init__.py")
            with open(init, "a", encoding="utf-8") as f:
                f.write("X = 1\n")
            text += (
                "\n| `aggregate_pci/gone.py` | role | none: nothing |"
                "\n| `aggregate_pci/matching.py` | role | `tests/pure/test_gone.py` |"
                "\n| `aggregate_pci/filter.py` | role | a test somewhere |"
            )
            self.assertEqual(
                [
                    "aggregate_pci/cli/__init__.py has no row in docs/layout.md",
                    "aggregate_pci/planted.py has no row in docs/layout.md",
                    "docs/layout.md: the row of aggregate_pci/filter.py names no test",
                    "docs/layout.md names aggregate_pci/gone.py, which does not exist",
                    "docs/layout.md: the row of aggregate_pci/matching.py names "
                    "tests/pure/test_gone.py, which does not exist",
                ],
                layout_problems(text, tmp),
            )


# -- module size: no product module over MAX_MODULE_LINES (issue 19) ---------

#: The most lines a product module may have: past it, split it by role.
MAX_MODULE_LINES = 350


def oversized_modules(root: str = ROOT) -> list[str]:
    """Every module file under aggregate_pci/ longer than MAX_MODULE_LINES,
    as "path: N lines", so a growing module is split rather than grown."""
    out = []
    for path in sorted(pathlib.Path(root, "aggregate_pci").rglob("*.py")):
        with open(path, encoding="utf-8") as f:
            count = sum(1 for _ in f)
        if count > MAX_MODULE_LINES:
            out.append(
                "%s: %d lines (at most %d: split it by role)"
                % (path.relative_to(root).as_posix(), count, MAX_MODULE_LINES)
            )
    return out


class ModuleSizeTest(unittest.TestCase):
    def test_no_product_module_is_over_the_limit(self):
        self.assertEqual([], oversized_modules())

    def test_a_planted_long_module_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "aggregate_pci", "admin"))
            for name, lines in (("fits.py", 350), ("admin/long.py", 351)):
                with open(
                    os.path.join(tmp, "aggregate_pci", name), "w", encoding="utf-8"
                ) as f:
                    f.write("x = 1\n" * lines)
            self.assertEqual(
                [
                    "aggregate_pci/admin/long.py: 351 lines (at most 350: split it by role)"
                ],
                oversized_modules(tmp),
            )
