"""What an offline command imports at start (issue 21): its own module,
not every command's, and not cliff's interactive mode (cmd2)."""

import ast
import json
import subprocess
import sys

from aggregate_pci.admin import inventory
from tests.fixtures.inventory_docs import ALLOCATION

SCRIPT = """
import sys
from aggregate_pci.cli import shell
status = shell.main(sys.argv[1:])
print(sorted(m for m in sys.modules if m.startswith(("cmd2", "aggregate_pci.cli."))))
sys.exit(status)
"""


def run(*argv):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_an_offline_command_imports_its_module_only(tmp_path):
    path = tmp_path / "inv.json"
    doc = {
        "format": inventory.FORMAT,
        "version": inventory.VERSION,
        "aggregates": [],
        "hosts": {"c1": []},
        "allocations": [ALLOCATION],
    }
    path.write_text(json.dumps(doc))
    lines = run("capacity", "--inventory", str(path), "-f", "value")
    modules = ast.literal_eval(lines[-1])  # the list printed last
    assert "aggregate_pci.cli.capacity" in modules
    assert not [m for m in modules if m.startswith("cmd2")]
    for other in ("audit", "check", "exporter", "explain", "migrate", "flavor"):
        assert "aggregate_pci.cli.%s" % other not in modules


def test_help_still_lists_every_command():
    out = "\n".join(run("help"))
    for name in ("audit", "capacity", "check", "explain", "exporter", "migrate"):
        assert "\n  %s " % name in out


def test_the_collector_is_tuned_for_the_command_only(monkeypatch):
    import gc

    from aggregate_pci.cli import shell

    seen = []
    monkeypatch.setattr(
        shell.AggregatePciApp, "run", lambda self, argv: seen.append(gc.get_threshold())
    )
    before = gc.get_threshold()
    shell.main(["capacity"])
    assert seen == [shell.GC_THRESHOLDS]
    assert gc.get_threshold() == before


def test_the_installed_command_exits_without_walking_its_objects(monkeypatch):
    """``aggregate-pci`` runs ``console``: ``main``, then ``gc.freeze`` (the
    interpreter's exit then skips the collector's walks, docs/benchmarks.md);
    ``main`` alone, as tests and tools call it, freezes nothing."""
    import gc
    import importlib.metadata

    from aggregate_pci.cli import shell

    (script,) = [
        ep
        for ep in importlib.metadata.entry_points(group="console_scripts")
        if ep.name == "aggregate-pci"
    ]
    assert script.value == "aggregate_pci.cli.shell:console"
    monkeypatch.setattr(shell.AggregatePciApp, "run", lambda self, argv: 3)
    gc.unfreeze()
    try:
        assert shell.main(["capacity"]) == 3
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(sys, "argv", ["aggregate-pci", "capacity"])
        assert shell.console() == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
