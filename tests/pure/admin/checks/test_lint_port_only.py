"""Port-only PCI flavors (issue 20): a definition fixing physical_network
that no Nova flavor requests is served through Neutron ports; ``check`` does
not call its missing ``[pci] alias`` drift."""

import unittest

from aggregate_pci import alias
from aggregate_pci.admin import models
from aggregate_pci.admin.checks import lint

CX5 = '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF","physical_network":"physnet2"}'
A100 = '{"vendor_id":"10de","product_id":"20b5"}'
A100_ALIAS = '{"name": "a100", "vendor_id": "10de", "product_id": "20b5"}'


def records(metadata):
    agg = models.Aggregate(1, "rack1-sriov", None, ("compute1",), metadata)
    return models.pci_flavor_records(agg)


def conf(*values):
    return [alias.Entry("alias #%d" % i, v) for i, v in enumerate(values)]


class PortOnlyNamesTest(unittest.TestCase):
    def test_physnet_definition_nobody_requests_is_port_only(self):
        by_name = models.definitions_by_name(
            records({"pci_flavor:physnet2-cx5": CX5, "pci_flavor:a100": A100})
        )
        self.assertEqual({"physnet2-cx5"}, models.port_only_names(by_name, []))

    def test_requested_or_untagged_is_not_port_only(self):
        by_name = models.definitions_by_name(
            records({"pci_flavor:physnet2-cx5": CX5, "pci_flavor:a100": A100})
        )
        self.assertEqual(set(), models.port_only_names(by_name, ["physnet2-cx5"]))
        mixed = models.definitions_by_name(
            records({"pci_flavor:mixed": "[%s, %s]" % (CX5, A100)})
        )
        self.assertEqual(set(), models.port_only_names(mixed, []))


class CheckPortOnlyTest(unittest.TestCase):
    def test_port_only_flavor_without_alias_is_no_error(self):
        recs = records({"pci_flavor:physnet2-cx5": CX5, "pci_flavor:a100": A100})
        issues = lint.lint(recs, [("gpu.a100", {"a100": 1})], conf(A100_ALIAS))
        self.assertEqual([], [i for i in issues if i.severity == lint.ERROR])
        (note,) = [i for i in issues if "physnet2-cx5" in i.subject]
        self.assertEqual(lint.WARNING, note.severity)
        self.assertIn("port-only", note.message)
        self.assertIn("manage_port_requests", note.message)

    def test_requested_physnet_flavor_without_alias_is_still_drift(self):
        recs = records({"pci_flavor:physnet2-cx5": CX5})
        issues = lint.lint(recs, [("vf.small", {"physnet2-cx5": 1})], conf())
        errors = [i for i in issues if i.severity == lint.ERROR]
        self.assertEqual(1, len(errors))
        self.assertIn("drift", errors[0].message)
        # The fix names a command each front end spells (issue 19).
        self.assertEqual("alias-config", errors[0].hint.command)
        self.assertIn(
            "regenerate with 'openstack pci flavor alias-config' and restart",
            errors[0].render(lambda name: "'openstack pci flavor %s'" % name),
        )
        self.assertNotIn("aggregate-pci", errors[0].render())

    def test_port_only_alias_nova_conf_has_is_still_compared(self):
        recs = records({"pci_flavor:physnet2-cx5": CX5})
        wrong = '{"name": "physnet2-cx5", "vendor_id": "15b3", "product_id": "1017", "device_type": "type-VF"}'
        issues = lint.lint(recs, [], conf(wrong))
        self.assertEqual(
            ["PCI flavor 'physnet2-cx5', nova.conf [pci] alias"],
            [i.subject for i in issues if i.severity == lint.ERROR],
        )


if __name__ == "__main__":
    unittest.main()
