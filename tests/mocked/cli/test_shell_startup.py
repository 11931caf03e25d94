"""What an offline command imports at start (issue 21): its own module,
not every command's, and not cliff's interactive mode (cmd2); and how a
command's process ends: its objects frozen, not walked, at exit."""

import ast
import json
import subprocess
import sys

import pytest

from aggregate_pci.admin import inventory
from tests.fixtures.inventory_docs import ALLOCATION

SCRIPT = """
import sys

import pytest
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


def one_host_inventory(tmp_path, allocations):
    """An inventory file of one host without pools, holding ``allocations``."""
    path = tmp_path / "inv.json"
    doc = {
        "format": inventory.FORMAT,
        "version": inventory.VERSION,
        "aggregates": [],
        "hosts": {"c1": []},
        "allocations": allocations,
    }
    path.write_text(json.dumps(doc))
    return path


def test_an_offline_command_imports_its_module_only(tmp_path):
    path = one_host_inventory(tmp_path, [ALLOCATION])
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


EXIT_SCRIPT = """
import atexit, gc, sys
# registered first, so it runs after every other exit handler
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count()))
if sys.argv[1] == "openstack":
    from openstackclient import shell
    status = shell.main(["--os-auth-type", "none", "pci", "flavor", *sys.argv[2:]])
else:
    from aggregate_pci.cli import shell
    status = shell.main(sys.argv[2:])
print("frozen after the command:", gc.get_freeze_count())
sys.exit(status)
"""


@pytest.mark.parametrize("front_end", ["aggregate-pci", "openstack"])
def test_a_command_exits_without_walking_its_objects(tmp_path, front_end):
    """At exit every object left is frozen (``gc.freeze``), so the
    interpreter's exit does not walk them all for cycles (docs/benchmarks.md);
    nothing is frozen while the command runs."""
    path = one_host_inventory(tmp_path, [ALLOCATION])
    argv = ["capacity", "--inventory", str(path), "-f", "value"]
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, front_end, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    after, at_exit = proc.stdout.splitlines()[-2:]
    assert after == "frozen after the command: 0"
    assert int(at_exit.removeprefix("frozen at exit: ")) > 0


def test_freezing_at_exit_is_registered_once(monkeypatch, tmp_path):
    import gc

    from aggregate_pci.cli import collector, shell

    registered = []
    monkeypatch.setattr(collector, "_FREEZING_AT_EXIT", [])
    monkeypatch.setattr(collector.atexit, "register", registered.append)
    path = one_host_inventory(tmp_path, [])
    for _ in range(2):
        assert shell.main(["capacity", "--inventory", str(path), "-f", "value"]) == 0
    assert registered == [gc.freeze]


def test_what_loading_made_is_frozen_once(monkeypatch):
    """The exporter reads Nova's databases again and again: only the first
    read freezes (later reads' garbage stays collectable)."""
    from aggregate_pci.cli import collector

    freezes = []
    monkeypatch.setattr(collector, "_FROZEN_AFTER_LOADING", [])
    monkeypatch.setattr(collector.gc, "freeze", lambda: freezes.append(1))
    for _ in range(3):
        collector.freeze_after_loading()
    assert freezes == [1]
