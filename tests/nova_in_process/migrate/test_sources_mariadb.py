"""The pci_flavors table source on a real MariaDB server (PyMySQL).

Reads ``AGGREGATE_PCI_TEST_MYSQL_URL`` (``tools/mariadb.sh start`` prints
one; ``.ci/run`` exports it).  Without it the tests skip locally; under
``CI=true`` they fail instead, so CI cannot silently skip them.
"""

import unittest

import sqlalchemy as sa

from aggregate_pci.migrate import sources
from tests.fixtures.flavor_db import (
    MYSQL_SCHEMA,
    ScratchDatabase,
    check_scenario,
    make_db,
    scenario_rows,
)


class MariaDbTableTest(unittest.TestCase):
    def setUp(self):
        self.db = ScratchDatabase(self)

    def test_rows_judged_and_source_untouched(self):
        make_db(self.db.url, scenario_rows(), MYSQL_SCHEMA)
        before = self.db.checksum()
        data = sources.read_table(self.db.url)
        check_scenario(self, data)
        self.assertEqual(before, self.db.checksum())
        self.assertTrue(self.db.url.startswith("mysql+pymysql://"))

    def test_session_is_read_only(self):
        make_db(self.db.url, scenario_rows()[:1], MYSQL_SCHEMA)
        engine = sa.create_engine(self.db.url)
        sa.event.listen(
            engine, "connect", lambda conn, _r: sources._read_only(conn, "mysql")
        )
        with engine.connect() as conn, self.assertRaises(sa.exc.DBAPIError) as ctx:
            conn.exec_driver_sql("DELETE FROM pci_flavors")
        self.assertIn("READ ONLY", str(ctx.exception))
        engine.dispose()

    def test_wrong_and_missing_columns_are_named(self):
        schema = MYSQL_SCHEMA.replace(
            "deleted INT NOT NULL DEFAULT 0", "deleted DATETIME"
        ).replace("created_at DATETIME, ", "")
        make_db(self.db.url, [], schema)
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(self.db.url)
        msg = str(ctx.exception)
        self.assertIn("column 'created_at' is missing", msg)
        self.assertIn(
            "column 'deleted' must be an integer (0 = live), found DATETIME", msg
        )

    def test_boolean_deleted_column_is_accepted(self):
        make_db(
            self.db.url,
            [
                {
                    "name": "a100",
                    "deleted": 0,
                    "spec": '{"vendor_id":"10de","product_id":"20b5"}',
                }
            ],
            MYSQL_SCHEMA.replace("deleted INT", "deleted BOOLEAN"),
        )
        self.assertEqual(["a100"], list(sources.read_table(self.db.url).flavors))

    def test_missing_table(self):
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(self.db.url)
        self.assertIn("table 'pci_flavors' not found", str(ctx.exception))

    def test_locked_table_read_times_out(self):
        # Another session holds the table: the read waits for it.  The read
        # timeout ends the wait (issue 11, point 3): no hang, one line.
        import time

        make_db(self.db.url, scenario_rows()[:1], MYSQL_SCHEMA)
        engine = sa.create_engine(self.db.url)
        with engine.connect() as holder:
            holder.exec_driver_sql("LOCK TABLES pci_flavors WRITE")
            start = time.monotonic()
            with self.assertRaises(sources.SourceError) as ctx:
                sources.read_table(self.db.url, timeout=2)
            took = time.monotonic() - start
            holder.exec_driver_sql("UNLOCK TABLES")
        engine.dispose()
        self.assertLess(took, 15)
        self.assertIn(
            "(no answer within 2 s); the timeout changes it", str(ctx.exception)
        )
