"""Each front end spells an error's hint in its own syntax, in one place
(common.error_text, used by the commands' error handler)."""

import types
import unittest

from aggregate_pci.admin import errors
from aggregate_pci.cli import common
from aggregate_pci.errors import Hint


def error():
    return errors.Unreachable(
        "cannot list host aggregates: no answer",
        hint=Hint(
            "raise {option} if Nova is just slow; {command} lists them",
            option="timeout",
            command="flavor list",
        ),
    )


class FrontEndSpellingTest(unittest.TestCase):
    def test_standalone(self):
        app = types.SimpleNamespace(program=common.STANDALONE)
        self.assertEqual(
            "cannot list host aggregates: no answer; raise --timeout if Nova "
            "is just slow; 'aggregate-pci flavor list' lists them",
            common.error_text(app, error()),
        )

    def test_openstackclient(self):
        app = types.SimpleNamespace()  # OSC's shell: no program of ours
        self.assertEqual(
            "cannot list host aggregates: no answer; raise "
            "--os-pci-flavor-timeout if Nova is just slow; 'openstack pci "
            "flavor list' lists them",
            common.error_text(app, error()),
        )
        self.assertEqual(
            "'openstack pci flavor inventory export'",
            common.spell_command(app, "inventory export"),
        )


if __name__ == "__main__":
    unittest.main()


class ShortTest(unittest.TestCase):
    """``common.short``: a problem's first clause, within the width."""

    def test_first_clause_after_a_third_of_the_width(self):
        text = "stranded: 3 matching device(s) on host(s) c1, c2, c3; add those hosts"
        self.assertEqual(
            "stranded: 3 matching device(s) on host(s) c1, c2, c3 ...",
            common.short(text, width=60),
        )

    def test_long_first_clause_is_cut_at_the_width(self):
        text = "x" * 300
        self.assertEqual(60, len(common.short(text, width=60)))
        self.assertTrue(common.short(text, width=60).endswith(" ..."))

    def test_short_text_is_kept(self):
        self.assertEqual("fine", common.short("fine", width=60))
