"""Issue 22, point 6: a URL's password is masked up to the LAST ``@`` of
its authority (a raw ``@`` in a password was only partly masked)."""

import unittest

from aggregate_pci.cli import secrets
from aggregate_pci.migrate import sources


class LastAtTest(unittest.TestCase):
    CASES = [
        ("mysql+pymysql://u:p@ss@w@rd@db.example/nova",
         "mysql+pymysql://u:***@db.example/nova"),
        ("--db-url mysql://nova:s3cr@t@10.0.0.5:3306/nova_api?charset=utf8",
         "--db-url mysql://nova:***@10.0.0.5:3306/nova_api?charset=utf8"),
        ("'mysql://a:b@c@h/d' and http://x:y@z/ ok",
         "'mysql://a:***@h/d' and http://x:***@z/ ok"),
        ("mysql://host:3306/db", "mysql://host:3306/db"),
        ("http://host:5000/p?next=a@b", "http://host:5000/p?next=a@b"),
        ("mysql://u:@@host/db", "mysql://u:***@host/db"),
    ]  # fmt: skip

    def test_mask(self):
        for raw, masked in self.CASES:
            with self.subTest(raw=raw):
                self.assertEqual(masked, secrets.mask(raw))

    def test_source_descriptions(self):
        url = "mysql+pymysql://u:p@ss@w@rd@127.0.0.1:1/db"
        self.assertNotIn("ss@w", sources._describe(url))
        self.assertIn("u:***@127.0.0.1:1/db", sources._describe(url))
