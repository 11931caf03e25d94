"""pytest shim for Nova's functional-test harness.

``nova.test.TestCase._clear_attrs`` deletes every public instance attribute
at cleanup, including the one pytest keeps for the test method; keep the
attributes whose names start with ``test``.
"""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova import test as nova_test

_orig_clear_attrs = nova_test.TestCase._clear_attrs


def _clear_attrs_keep_tests(self):
    kept = {k: v for k, v in self.__dict__.items() if k.startswith("test")}
    _orig_clear_attrs(self)
    self.__dict__.update(kept)


nova_test.TestCase._clear_attrs = _clear_attrs_keep_tests
