"""``aggregate_pci.alias.merge`` judges ``[pci] alias`` exactly as Nova's own
``nova.pci.request.get_alias_from_config`` does, on a table of configs, and
keeps what Nova keeps (names, NUMA policy, device type per entry)."""

import os
import tempfile
import unittest

import nova.conf
from nova import exception as nova_exc
from nova.pci import request as nova_request
from oslo_config import fixture as config_fixture

from aggregate_pci import alias

A = '"vendor_id": "10de", "product_id": "20b5"'
B = '"vendor_id": "10de", "product_id": "1db4"'

CASES = {
    "one": ['{"name": "a", %s}' % A],
    "two names": ['{"name": "a", %s}' % A, '{"name": "b", %s}' % B],
    "two with type": [
        '{"name": "a", %s, "device_type": "type-PF"}' % A,
        '{"name": "a", %s, "device_type": "type-PF"}' % B,
    ],
    "two without type": ['{"name": "a", %s}' % A, '{"name": "a", %s}' % B],
    "one without type": [
        '{"name": "a", %s, "device_type": "type-PF"}' % A,
        '{"name": "a", %s}' % B,
    ],
    "type mismatch": [
        '{"name": "a", %s, "device_type": "type-PF"}' % A,
        '{"name": "a", %s, "device_type": "type-VF"}' % B,
    ],
    "policy mismatch": [
        '{"name": "a", %s, "device_type": "type-PF", "numa_policy": "required"}' % A,
        '{"name": "a", %s, "device_type": "type-PF"}' % B,
    ],
    "explicit legacy equals default": [
        '{"name": "a", %s, "device_type": "type-PF", "numa_policy": "legacy"}' % A,
        '{"name": "a", %s, "device_type": "type-PF"}' % B,
    ],
    "policy": ['{"name": "a", %s, "numa_policy": "preferred"}' % A],
    "list": ['[{"name": "a", %s}]' % A],
    "not json": ['{"name": "a", %s' % A],
    "no name": ["{%s}" % A],
    "unknown field": ['{"name": "a", %s, "colour": "red"}' % A],
    "bad capability": ['{"name": "a", %s, "capability_type": "usb"}' % A],
    "live migratable": ['{"name": "a", %s, "live_migratable": "yes"}' % A],
    "live migratable bad": ['{"name": "a", %s, "live_migratable": "maybe"}' % A],
}


class AliasAgreesWithNovaTest(unittest.TestCase):
    def setUp(self):
        self.fixture = config_fixture.Config(nova.conf.CONF)
        self.fixture.setUp()
        self.addCleanup(self.fixture.cleanUp)
        # Nova >= 2024.2 caches get_alias_from_config; 2024.1 has the
        # uncached _get_alias_from_config.
        self.get_alias = (
            getattr(nova_request, "get_alias_from_config", None)
            or nova_request._get_alias_from_config
        )
        self.cache_clear = getattr(self.get_alias, "cache_clear", lambda: None)
        self.addCleanup(self.cache_clear)

    def nova(self, entries):
        """Nova's aliases for these values, or None if Nova refuses them."""
        self.cache_clear()
        self.fixture.config(alias=entries, group="pci")
        try:
            return self.get_alias()
        except nova_exc.PciInvalidAlias:
            return None

    def test_table(self):
        # Fields this Nova's alias schema knows: live_migratable came after
        # 2024.1 (Nova 29 refuses it; our rules follow the newer schema).
        known = set(nova_request._ALIAS_SCHEMA["properties"])
        cases = {
            case: entries
            for case, entries in CASES.items()
            if "live_migratable" in known or "live_migratable" not in "".join(entries)
        }
        self.assertGreaterEqual(len(cases), len(CASES) - 2)
        for case, entries in cases.items():
            with self.subTest(case=case):
                theirs = self.nova(entries)
                merged, refused = alias.merge(
                    alias.Entry("#%d" % i, e) for i, e in enumerate(entries)
                )
                self.assertEqual(theirs is not None, not refused, refused)
                if theirs is None:
                    continue
                self.assertEqual(set(theirs), set(merged))
                for name, (policy, specs) in theirs.items():
                    self.assertEqual(policy, merged[name].numa_policy)
                    self.assertEqual(
                        [s.get("dev_type") for s in specs],
                        [s.get("device_type") for s in merged[name].specs],
                    )

    def test_read_conf_reads_what_nova_reads(self):
        # [DEFAULT] pci_alias (Nova's deprecated name) is still read.
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write('[DEFAULT]\npci_alias = {"name": "a", %s}\n' % A)
        self.addCleanup(os.unlink, f.name)
        entries, warnings = alias.read_conf([f.name])
        self.assertEqual(['{"name": "a", %s}' % A], [e.text for e in entries])
        self.assertTrue(any("pci_alias" in w for w in warnings), warnings)
