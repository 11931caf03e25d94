"""``aggregate-pci alias-config`` (aggregate_pci.cli.alias_config) over
requests-mock."""

from tests.fixtures.fake_nova import CliTestBase


class AliasConfigTest(CliTestBase):
    """The [pci] alias lines of the cloud's PCI flavors."""

    def test_alias_config(self):
        rc, out, _ = self.run_cli("alias-config")
        self.assertEqual(0, rc)
        self.assertEqual(
            '[pci]\nalias = {"name": "a100", "product_id": "20b5", '
            '"vendor_id": "10de"}\n',
            out,
        )
