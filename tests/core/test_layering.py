"""The layering rules as tests (Nova's hacking checks are the model).

- The pure core and the pure admin/migration modules load no Nova, no HTTP
  client, no SQL and no CLI framework: each is imported in a fresh
  interpreter and ``sys.modules`` is inspected afterwards.
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
import subprocess
import sys
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

PURE = (
    "aggregate_pci.codec",
    "aggregate_pci.matching",
    "aggregate_pci.capacity",
    "aggregate_pci.alias",
    "aggregate_pci.conf",
    "aggregate_pci.scheduler.request",
    "aggregate_pci.scheduler.host_view",
    "aggregate_pci.scheduler.decision",
    "aggregate_pci.scheduler.claim_judge",
    "aggregate_pci.scheduler.ports",
    "aggregate_pci.admin.errors",
    "aggregate_pci.admin.models",
    "aggregate_pci.admin.lint",
    "aggregate_pci.admin.host_lint",
    "aggregate_pci.admin.audit",
    "aggregate_pci.admin.port_lint",
    "aggregate_pci.admin.report",
    "aggregate_pci.admin.explain",
    "aggregate_pci.admin.headroom",
    "aggregate_pci.admin.inventory",
    "aggregate_pci.migrate.model",
    "aggregate_pci.migrate.plan",
    "aggregate_pci.migrate.target_choice",
    "aggregate_pci.migrate.journal",
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


def loaded_by(module: str) -> set[str]:
    """Top-level packages in sys.modules after importing ``module`` alone."""
    code = (
        "import json, sys; import %s; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))" % module
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return set(json.loads(out))


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
        for module in PURE:
            with self.subTest(module=module):
                heavy = loaded_by(module) & set(HEAVY)
                self.assertEqual(
                    set(), heavy, "%s loads %s" % (module, ", ".join(sorted(heavy)))
                )

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
            sorted(set(standalone.values()) - {"aggregate_pci.cli.demo:Demo"}),
            sorted(osc.values()),
        )
        self.assertEqual(len(osc), len(set(osc.values())))
        # Each OSC name is the standalone name under "pci flavor".
        by_target = {v: k for k, v in standalone.items()}
        for name, target in osc.items():
            self.assertIn(by_target[target], (name, "flavor_" + name))
