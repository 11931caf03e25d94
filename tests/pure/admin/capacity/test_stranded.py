"""Stranded devices (issue 20): devices matching a PCI flavor on hosts in
no aggregate defining it, in ``capacity --stranded`` and ``check``."""

import unittest

from aggregate_pci.admin import models
from aggregate_pci.admin.capacity import report
from aggregate_pci.admin.checks import lint

A100 = '{"vendor_id":"10de","product_id":"20b5"}'


def pool(product, count, used):
    return {
        "vendor_id": "10de",
        "product_id": product,
        "dev_type": "type-PCI",
        "address": "0000:81:00.0",
        "count": count,
        "used": used,
    }


RECORDS = models.pci_flavor_records(
    models.Aggregate(1, "gpu-hosts", None, ("c1",), {"pci_flavor:a100": A100})
)
HOSTS = {
    "c1": [pool("20b5", 2, 0)],
    "c3": [pool("20b5", 1, 1), pool("1eb8", 4, 0)],
    "c4": [pool("1eb8", 1, 0)],
}


class StrandedTest(unittest.TestCase):
    def test_rows_per_flavor_and_host_outside_its_aggregates(self):
        self.assertEqual(
            [report.CapacityRow("a100", report.STRANDED, "c3", 2, 1, 1)],
            report.stranded(RECORDS, HOSTS),
        )

    def test_check_warns_naming_the_hosts(self):
        issues = lint.lint(RECORDS, [("gpu", {"a100": 1})], None, HOSTS)
        (stranded,) = [i for i in issues if "stranded" in i.message]
        self.assertEqual(
            (lint.WARNING, "PCI flavor 'a100'"), (stranded.severity, stranded.subject)
        )
        self.assertIn("2 matching device(s) on host(s) c3", stranded.message)

    def test_nothing_stranded_when_every_host_is_in(self):
        self.assertEqual(
            [], report.stranded(RECORDS, {"c1": HOSTS["c1"], "c4": HOSTS["c4"]})
        )


if __name__ == "__main__":
    unittest.main()
