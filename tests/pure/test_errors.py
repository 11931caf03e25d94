"""aggregate_pci.errors: one root for every error, hints spelled by the
front end."""

import ast
import os

from aggregate_pci import alias, codec
from aggregate_pci.admin import errors as admin_errors
from aggregate_pci.errors import AggregatePciError, Hint
from aggregate_pci.migrate import journal

ROOT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "aggregate_pci",
)
#: Bases that make a class an error root unless it is ours.
BUILTIN_ERRORS = {"Exception", "ValueError", "RuntimeError", "LookupError", "OSError"}


def test_every_error_class_has_the_one_root():
    roots = []
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                    continue
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & BUILTIN_ERRORS and "AggregatePciError" not in bases:
                    roots.append("%s: %s" % (os.path.relpath(path, ROOT), node.name))
    assert roots == ["errors.py: AggregatePciError"]


def test_the_former_roots_subclass_it():
    for cls in (
        codec.PciFlavorError,
        alias.AliasConflict,
        alias.ConfError,
        alias.RequestError,
        journal.JournalError,
        admin_errors.AdminError,
    ):
        assert issubclass(cls, AggregatePciError), cls
    # Still what callers caught before.
    assert issubclass(codec.PciFlavorError, ValueError)
    assert issubclass(alias.AliasConflict, ValueError)


def test_hint_is_spelled_by_the_front_end_and_neutral_by_default():
    exc = admin_errors.Unreachable(
        "cannot list host aggregates: no answer",
        hint=Hint("raise {option} if Nova is just slow", option="timeout"),
    )
    assert str(exc) == (
        "cannot list host aggregates: no answer; raise the timeout if Nova is just slow"
    )
    assert exc.render(option=lambda o: "--os-pci-flavor-" + o).endswith(
        "; raise --os-pci-flavor-timeout if Nova is just slow"
    )
    found = admin_errors.NotFound(
        "key 'pci_flavor:x': no aggregate defines PCI flavor 'x'",
        hint=Hint("{command} shows the defined ones", command="flavor list"),
    )
    assert str(found).endswith("; 'flavor list' shows the defined ones")
    assert "aggregate-pci" not in str(found)
    # No hint: the message alone.
    assert str(admin_errors.AdminError("plain")) == "plain"


def test_braces_in_data_are_left_alone():
    exc = AggregatePciError(
        "aggregate 'a{command}': bad",
        hint=Hint("see {command}", command="check"),
    )
    assert str(exc) == "aggregate 'a{command}': bad; see 'check'"
