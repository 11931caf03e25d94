"""``explain`` for Neutron ports (issue 20): port PCI requests judged with
the filter's own code (scheduler/ports.py), out-of-scope hosts naming the
aggregates that manage the physical network."""

import unittest

from aggregate_pci.admin import models
from aggregate_pci.admin.checks import explain

CX5 = '{"vendor_id":"15b3","product_id":"101e","device_type":"type-VF","physical_network":"physnet2"}'


def vf_pool(count, physnet="physnet2"):
    return {
        "vendor_id": "15b3",
        "product_id": "101e",
        "dev_type": "type-VF",
        "address": "0000:3b:00.0",
        "physical_network": physnet,
        "remote_managed": "false",  # Nova tags every pool so
        "count": count,
    }


AGGS = [
    models.Aggregate(
        1, "rack1-sriov", None, ("compute1",), {"pci_flavor:physnet2-cx5": CX5}
    ),
    models.Aggregate(2, "rack2", None, ("compute2",), {}),
]
HOSTS = {"compute1": [vf_pool(2)], "compute2": [vf_pool(4)], "compute3": []}


def port(physnet="physnet2", vnic_type="direct"):
    return explain.Request("", 1, None, (explain.port_spec(physnet, vnic_type),))


class ExplainPortsTest(unittest.TestCase):
    def test_port_out_of_scope_names_the_managing_aggregates(self):
        result = explain.explain(AGGS, HOSTS, [port()], manage_ports=True)
        by_host = {h.host: h for h in result.hosts}
        self.assertEqual(explain.UNVERIFIED, by_host["compute1"].category)
        self.assertEqual(
            {"port:physnet2": ["rack1-sriov"]}, by_host["compute1"].aggregates
        )
        self.assertEqual({"port:physnet2": 2}, by_host["compute1"].free)
        for host in ("compute2", "compute3"):
            self.assertEqual(explain.OUT_OF_SCOPE, by_host[host].category)
            self.assertEqual("physnet2 managed by rack1-sriov", by_host[host].scope)

    def test_ports_are_left_to_nova_unless_managed(self):
        result = explain.explain(AGGS, HOSTS, [port()], manage_ports=False)
        self.assertEqual({explain.NOT_MANAGED}, {h.category for h in result.hosts})
        other = explain.explain(AGGS, HOSTS, [port("physnet9")], manage_ports=True)
        self.assertEqual({explain.NOT_MANAGED}, {h.category for h in other.hosts})

    def test_direct_physical_port_lacks_a_pf(self):
        result = explain.explain(
            AGGS,
            {"compute1": [vf_pool(2)]},
            [port(vnic_type="direct-physical")],
            manage_ports=True,
        )
        (host,) = result.hosts
        self.assertEqual(explain.LACKS, host.category)

    def test_port_spec_is_novas(self):
        self.assertEqual(
            {"physical_network": "physnet2", "remote_managed": "False"},
            explain.port_spec("physnet2", "direct"),
        )
        self.assertEqual(
            {"physical_network": "p", "remote_managed": "True"},
            explain.port_spec("p", "remote-managed"),
        )
        self.assertEqual("vdpa", explain.port_spec("p", "vdpa")["dev_type"])


if __name__ == "__main__":
    unittest.main()
