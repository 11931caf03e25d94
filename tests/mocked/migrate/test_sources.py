"""Migration sources: the pci_flavors table on sqlite, and nova.conf."""

import os
import tempfile
import textwrap
import unittest

import sqlalchemy as sa

from aggregate_pci.migrate import sources
from tests.fixtures.flavor_db import (
    A100,
    SCHEMA,
    check_scenario,
    digest,
    make_db,
    scenario_rows,
)


class TableSqliteTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "flavors.db")
        self.url = "sqlite:///" + self.path

    def test_rows_judged_and_source_untouched(self):
        make_db(self.url, scenario_rows())
        before = digest(self.path)
        data = sources.read_table(self.url)
        check_scenario(self, data)
        self.assertEqual(before, digest(self.path))
        self.assertEqual("table pci_flavors at " + self.url, data.description)

    def test_session_is_read_only(self):
        make_db(self.url, scenario_rows()[:1])
        engine = sa.create_engine(self.url)
        sa.event.listen(
            engine, "connect", lambda conn, _r: sources._read_only(conn, "sqlite")
        )
        with engine.connect() as conn, self.assertRaises(sa.exc.OperationalError):
            conn.exec_driver_sql("DELETE FROM pci_flavors")
        engine.dispose()

    def test_spec_mixing_device_types_is_a_bad_row(self):
        make_db(
            self.url,
            [
                {
                    "id": 7,
                    "name": "x",
                    "deleted": 0,
                    "spec": '[{"vendor_id":"10de","product_id":"20b5",'
                    '"device_type":"type-PF"},'
                    '{"vendor_id":"10de","product_id":"20b6"}]',
                }
            ],
        )
        data = sources.read_table(self.url)
        self.assertEqual({}, data.flavors)
        self.assertIn(
            "device_type differs between definitions (unset on "
            "aggregate(s) (this spec); type-PF on aggregate(s) "
            "(this spec)); Nova needs one device_type per alias name",
            data.bad[0].reason,
        )

    def test_missing_table(self):
        sa.create_engine(self.url).connect().close()
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(self.url)
        self.assertIn("table 'pci_flavors' not found", str(ctx.exception))

    def test_missing_column_is_named(self):
        make_db(self.url, [], SCHEMA.replace("spec TEXT,", ""))
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(self.url)
        self.assertIn("column 'spec' is missing", str(ctx.exception))

    def test_wrong_column_type_is_named(self):
        make_db(self.url, [], SCHEMA.replace("deleted INTEGER", "deleted VARCHAR(5)"))
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(self.url)
        self.assertIn(
            "column 'deleted' must be an integer (0 = live), found VARCHAR(5)",
            str(ctx.exception),
        )

    def test_json_spec_column_is_read(self):
        # MySQL's native JSON type (PyMySQL hands it over as text)
        make_db(
            self.url,
            [{"id": 1, "name": "a100", "spec": A100}],
            SCHEMA.replace("spec TEXT", "spec JSON"),
        )
        self.assertEqual(["a100"], list(sources.read_table(self.url).flavors))

    def test_row_without_id_is_listed_by_name(self):
        make_db(
            self.url,
            [
                {"id": None, "name": "a100", "spec": A100},
                {"id": 2, "name": "t4", "spec": A100},
            ],
            SCHEMA.replace("id INTEGER PRIMARY KEY", "id INTEGER"),
        )
        data = sources.read_table(self.url)
        self.assertEqual(["t4"], list(data.flavors))
        self.assertEqual(
            ["pci_flavors row name='a100' (no id): the row has no id"],
            [str(b) for b in data.bad],
        )

    def test_null_deleted_is_a_bad_row(self):
        make_db(
            self.url,
            [{"id": 1, "name": "a", "spec": A100}],
            SCHEMA.replace("deleted INTEGER NOT NULL DEFAULT 0", "deleted INTEGER"),
        )
        data = sources.read_table(self.url)
        self.assertEqual({}, data.flavors)
        self.assertIn("column 'deleted' is NULL", str(data.bad[0]))

    def test_unreachable_url(self):
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table("sqlite:////nonexistent-dir/x.db")
        self.assertIn(
            "sqlite database file '/nonexistent-dir/x.db' does not exist",
            str(ctx.exception),
        )

    def test_wrong_sqlite_path_creates_no_file(self):
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(self.url)
        self.assertIn("does not exist (nothing was created)", str(ctx.exception))
        self.assertEqual([], os.listdir(self.dir.name))

    def test_read_only_file_is_read_without_any_new_file(self):
        make_db(self.url, scenario_rows())
        os.chmod(self.path, 0o444)
        before = digest(self.path)
        check_scenario(self, sources.read_table(self.url))
        self.assertEqual(before, digest(self.path))
        self.assertEqual(["flavors.db"], os.listdir(self.dir.name))

    def test_password_is_not_shown(self):
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table("nosuchdialect://u:s3cret@h/db")
        self.assertNotIn("s3cret", str(ctx.exception))


class NovaConfTest(unittest.TestCase):
    def conf(self, text):
        fd, path = tempfile.mkstemp(suffix=".conf")
        with os.fdopen(fd, "w") as fh:
            fh.write(textwrap.dedent(text))
        self.addCleanup(os.unlink, path)
        return path

    def test_entries_of_one_name_are_ored_and_default_pci_alias_read(self):
        path = self.conf("""
            [DEFAULT]
            pci_alias = {"name": "legacy", "vendor_id": "8086", "product_id": "0d58"}
            [pci]
            alias = {"name": "nv", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
            alias = {"name": "nv", "vendor_id": "10DE", "product_id": "1db4", "device_type": "type-PCI"}
            alias = {"name": "vf", "vendor_id": "15b3", "product_id": "101e", "device_type": "type-VF", "numa_policy": "preferred"}
            """)
        data = sources.read_nova_conf([path])
        self.assertEqual({"legacy", "nv", "vf"}, set(data.flavors))
        self.assertEqual(
            '[{"device_type":"type-PCI","product_id":"1db4",'
            '"vendor_id":"10de"},{"device_type":"type-PCI",'
            '"product_id":"20b5","vendor_id":"10de"}]',
            data.flavors["nv"].value,
        )
        self.assertEqual(
            '{"device_type":"type-VF","numa_policy":"preferred",'
            '"product_id":"101e","vendor_id":"15b3"}',
            data.flavors["vf"].value,
        )
        self.assertEqual(
            '{"product_id":"0d58","vendor_id":"8086"}', data.flavors["legacy"].value
        )
        self.assertEqual([], data.bad)
        self.assertTrue(any("pci_alias" in n for n in data.notes), data.notes)

    def test_bad_entries_listed_with_reason(self):
        path = self.conf("""
            [pci]
            alias = {"name": "ok", "vendor_id": "10de", "product_id": "20b5"}
            alias = {"name": "nojson"
            alias = {"name": "rc", "resource_class": "CUSTOM_GPU"}
            alias = {"name": "pol", "vendor_id": "10de", "product_id": "20b5", "numa_policy": "required"}
            alias = {"name": "pol", "vendor_id": "10de", "product_id": "1db4"}
            alias = {"name": "bad/name", "vendor_id": "10de", "product_id": "20b5"}
            alias = {"name": "noids", "device_type": "type-PCI"}
            """)
        data = sources.read_nova_conf([path])
        self.assertEqual(["ok"], list(data.flavors))
        bad = {b.ident: b.reason for b in data.bad}
        self.assertIn("not valid JSON", bad["[pci] alias #2"])
        self.assertIn(
            "'resource_class' cannot be migrated", bad["[pci] alias #3 (alias 'rc')"]
        )
        self.assertIn(
            "NUMA policy mismatch", bad["[pci] alias #4, [pci] alias #5 (alias 'pol')"]
        )
        self.assertIn(
            "invalid PCI flavor name 'bad/name'",
            bad["[pci] alias #6 (alias 'bad/name')"],
        )
        self.assertIn(
            "missing required field 'vendor_id'", bad["[pci] alias #7 (alias 'noids')"]
        )

    def test_device_type_mismatch_refused_like_nova(self):
        path = self.conf("""
            [pci]
            alias = {"name": "x", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PF"}
            alias = {"name": "x", "vendor_id": "10de", "product_id": "20b6"}
            """)
        data = sources.read_nova_conf([path])
        self.assertEqual({}, data.flavors)
        self.assertIn("device_type mismatch", data.bad[0].reason)

    def test_several_entries_of_one_name_need_device_type_like_nova(self):
        # nova.pci.request.get_alias_from_config raises PciInvalidAlias for
        # these (checked below against Nova itself), identical entries too.
        text = """
            [pci]
            alias = {"name": "nv", "vendor_id": "10de", "product_id": "20b5"}
            alias = {"name": "nv", "vendor_id": "10de", "product_id": "1db4"}
            alias = {"name": "same", "vendor_id": "10de", "product_id": "20b5"}
            alias = {"name": "same", "vendor_id": "10de", "product_id": "20b5"}
            alias = {"name": "one", "vendor_id": "10de", "product_id": "20b5"}
            """
        data = sources.read_nova_conf([self.conf(text)])
        self.assertEqual(["one"], list(data.flavors))
        bad = {b.ident: b.reason for b in data.bad}
        self.assertIn(
            "Nova accepts several entries of one name only if each sets device_type",
            bad["[pci] alias #1, [pci] alias #2 (alias 'nv')"],
        )
        self.assertIn(
            "2 entries share this name",
            bad["[pci] alias #3, [pci] alias #4 (alias 'same')"],
        )

    def test_alias_rules_agree_with_nova(self):
        """Each nova.conf is judged by Nova's own get_alias_from_config:
        the migration refuses exactly what Nova refuses."""
        import nova.conf
        from nova import exception as nova_exc
        from nova.pci import request as nova_request
        from oslo_config import fixture as config_fixture

        cases = {
            "ok": ['{"name": "a", "vendor_id": "10de", "product_id": "20b5"}'],
            "two-with-type": [
                '{"name": "a", "vendor_id": "10de", "product_id": "20b5", '
                '"device_type": "type-PF"}',
                '{"name": "a", "vendor_id": "10de", "product_id": "1db4", '
                '"device_type": "type-PF"}',
            ],
            "two-without-type": [
                '{"name": "a", "vendor_id": "10de", "product_id": "20b5"}',
                '{"name": "a", "vendor_id": "10de", "product_id": "1db4"}',
            ],
            "one-without-type": [
                '{"name": "a", "vendor_id": "10de", "product_id": "20b5", '
                '"device_type": "type-PF"}',
                '{"name": "a", "vendor_id": "10de", "product_id": "1db4"}',
            ],
            "policy-mismatch": [
                '{"name": "a", "vendor_id": "10de", "product_id": "20b5", '
                '"device_type": "type-PF", "numa_policy": "required"}',
                '{"name": "a", "vendor_id": "10de", "product_id": "1db4", '
                '"device_type": "type-PF"}',
            ],
        }
        fixture = config_fixture.Config(nova.conf.CONF)
        fixture.setUp()
        self.addCleanup(fixture.cleanUp)
        # Nova >= 2024.2 caches get_alias_from_config; 2024.1 has the
        # uncached _get_alias_from_config.
        get_alias = (
            getattr(nova_request, "get_alias_from_config", None)
            or nova_request._get_alias_from_config
        )
        cache_clear = getattr(get_alias, "cache_clear", lambda: None)
        for case, entries in cases.items():
            with self.subTest(case=case):
                cache_clear()
                fixture.config(alias=entries, group="pci")
                try:
                    get_alias()
                    nova_ok = True
                except nova_exc.PciInvalidAlias:
                    nova_ok = False
                path = self.conf(
                    "[pci]\n" + "".join("alias = %s\n" % e for e in entries)
                )
                data = sources.read_nova_conf([path])
                self.assertEqual(nova_ok, bool(data.flavors) and not data.bad, data.bad)
        cache_clear()

    def test_live_migratable_becomes_a_tag(self):
        path = self.conf("""
            [pci]
            alias = {"name": "x", "vendor_id": "10de", "product_id": "20b5", "live_migratable": "yes"}
            """)
        self.assertEqual(
            '{"live_migratable":"true","product_id":"20b5","vendor_id":"10de"}',
            sources.read_nova_conf([path]).flavors["x"].value,
        )

    def test_missing_file(self):
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_nova_conf(["/nonexistent/nova.conf"])
        self.assertIn("/nonexistent/nova.conf", str(ctx.exception))
