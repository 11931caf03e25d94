"""Install and docs promises (issue 11, points 14, 16, 17): the mysql
extra, a sqlite CREATE TABLE that runs as written, README's install section
and its script example, no documented option that does not exist."""

import configparser
import os
import pathlib
import re
import sqlite3
import tempfile
import unittest
from unittest import mock

import requests_mock

from aggregate_pci.migrate import sources
from tests.fixtures import fake_nova as fakes

ROOT = pathlib.Path(__file__).resolve().parents[2]


class DocsInstallTest(unittest.TestCase):
    def test_mysql_extra(self):
        cfg = configparser.ConfigParser()
        cfg.read(ROOT / "setup.cfg")
        extra = cfg["options.extras_require"]["mysql"]
        self.assertIn("PyMySQL>=", extra)
        self.assertIn("aggregate-pci[mysql]", (ROOT / "docs/migration.md").read_text())

    def test_sqlite_create_table_of_the_docs_runs(self):
        page = (ROOT / "docs/migration.md").read_text()
        blocks = re.findall(r"```sql\n(.*?)```", page, re.S)
        sqlite_block = [b for b in blocks if "INTEGER PRIMARY KEY" in b]
        self.assertEqual(1, len(sqlite_block), blocks)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.db")
            conn = sqlite3.connect(path)
            conn.executescript(sqlite_block[0])
            conn.execute(
                "INSERT INTO pci_flavors (name, spec) VALUES "
                '(\'a100\', \'{"vendor_id":"10de","product_id":"20b5"}\')'
            )
            conn.commit()
            conn.close()
            data = sources.read_table("sqlite:///" + path)
        self.assertEqual(["a100"], list(data.flavors))

    def test_readme_install_section(self):
        readme = (ROOT / "README.md").read_text()
        section = readme.split("## Install on a real cloud", 1)[1].split("\n## ", 1)[0]
        for needed in (
            "nova-scheduler",
            "nova-compute",
            "nova-api",
            "available_filters = aggregate_pci.filter.AggregatePciFilter",
            "[pci] alias",
            "restart nova-scheduler",
            "aggregate_pci.filter=DEBUG",
            "rejected:",
            "aggregate-pci[mysql]",
            "get_session()",
        ):
            self.assertIn(needed, section)

    def test_readme_script_example_runs(self):
        readme = (ROOT / "README.md").read_text()
        code = re.search(
            r"## Install on a real cloud.*?```python\n(.*?)```", readme, re.S
        ).group(1)
        with tempfile.TemporaryDirectory() as d:
            clouds = os.path.join(d, "clouds.yaml")
            with open(clouds, "w") as fh:
                fh.write(
                    "clouds:\n  mycloud:\n    auth_type: none\n"
                    "    auth:\n      endpoint: http://nova.test/v2.1\n"
                )
            agg = fakes.aggregate(
                1, "gpu", metadata={"pci_flavor:a100": '{"vendor_id":"10de"}'}
            )
            with (
                mock.patch.dict(os.environ, {"OS_CLIENT_CONFIG_FILE": clouds}),
                requests_mock.Mocker() as m,
                mock.patch("builtins.print") as printed,
            ):
                fakes.FakeNova(m, [agg])
                exec(compile(code, "README.md", "exec"), {})
        printed.assert_called_once_with(["a100"])

    def test_docs_name_no_removed_demo_options(self):
        for page in ("README.md", "docs/admin-guide.md"):
            text = (ROOT / page).read_text()
            self.assertNotIn("demo --hosts", text, page)
            self.assertNotIn("[--hosts N]", text, page)
            self.assertNotIn("aggregate_pci.admin.api", text, page)
