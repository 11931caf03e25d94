"""Neutron SR-IOV ports scoped by aggregate metadata (issue 13), on a real
in-process Nova with Nova's libvirt Neutron fixture (network_4 is a VLAN
network on physical network ``physnet4``; ports have vnic_type direct).

Three computes with one PF and two VFs (8086:1515, tagged physnet4 by
``[pci] device_spec``) each; only compute1 is in the aggregate whose PCI
flavor fixes ``physical_network`` physnet4.
"""

import copy
import logging
import random

import fixtures
import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from nova import objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import base
from oslo_utils import uuidutils

import aggregate_pci.filter  # noqa: F401  (registers [aggregate_pci] options)
from tests.fixtures import nova_harness as support

VF = (fakelibvirt.PCI_VEND_ID, fakelibvirt.VF_PROD_ID)  # 8086:1515
PHYSNET4_VF = (
    '{"vendor_id":"8086","product_id":"1515","device_type":"type-VF",'
    '"physical_network":"physnet4"}'
)
HOSTS = ("compute1", "compute2", "compute3")


class PortTestBase(support.AggregatePciTestBase):
    PCI_DEVICE_SPEC = [
        {"vendor_id": VF[0], "product_id": VF[1], "physical_network": "physnet4"}
    ]
    PCI_ALIAS = []
    MANAGE_PORTS = True
    #: Devices of every compute (fakelibvirt.HostPCIDevicesInfo arguments).
    PCI_INFO = {"num_pci": 0, "num_pfs": 1, "num_vfs": 2}

    def setUp(self):
        self.flags(manage_port_requests=self.MANAGE_PORTS, group="aggregate_pci")
        super().setUp()
        self.neutron = self.useFixture(base.LibvirtNeutronFixture(self))
        for host in HOSTS:
            self.start_compute(
                host,
                pci_info=fakelibvirt.HostPCIDevicesInfo(numa_node=0, **self.PCI_INFO),
            )
        self.agg = self.make_aggregate(
            "physnet4-rack1", ["compute1"], {"pci_flavor:physnet4-vf": PHYSNET4_VF}
        )
        self.flavor = self._create_flavor(name="plain")

    def direct_port(self):
        """A new vnic_type=direct port on network_4 (physnet4)."""
        port = copy.deepcopy(self.neutron.network_4_port_1)
        port["id"] = uuidutils.generate_uuid()
        port["mac_address"] = "fa:16:3e:%02x:%02x:%02x" % tuple(
            random.randint(0, 255) for _ in range(3)
        )
        return self.neutron.create_port({"port": port})["port"]["id"]

    def boot_ports(self, n=1, expected_state="ACTIVE"):
        return self._create_server(
            flavor_id=self.flavor,
            networks=[{"port": self.direct_port()} for _ in range(n)],
            expected_state=expected_state,
        )

    def devices(self, host):
        """The host's PCI devices from the cell DB: {address: (dev_type,
        vendor:product, status, instance_uuid)}."""
        node = objects.ComputeNode.get_by_nodename(self.ctxt, host)
        return {
            d.address: (
                d.dev_type,
                "%s:%s" % (d.vendor_id, d.product_id),
                d.status,
                d.instance_uuid,
            )
            for d in objects.PciDeviceList.get_by_compute_node(self.ctxt, node.id)
        }

    def vfs_of(self, server):
        """(host, address) of every device allocated to ``server``."""
        return sorted(
            (host, address)
            for host in HOSTS
            for address, dev in self.devices(host).items()
            if dev[3] == server["id"]
        )

    def free_vfs(self, host):
        return sum(
            1
            for dev in self.devices(host).values()
            if dev[0] == "type-VF" and dev[2] == "available"
        )


class PortScopingTest(PortTestBase):
    def test_ports_land_in_scope_on_matching_vfs_then_no_valid_host(self):
        first = self.boot_ports()
        second = self.boot_ports()
        for server in (first, second):
            self.assertEqual("compute1", self.host_of(server))
        used = self.vfs_of(first) + self.vfs_of(second)
        self.assertEqual(2, len(set(used)), used)
        for host, address in used:
            dev_type, ids, status, _ = self.devices(host)[address]
            self.assertEqual(
                ("compute1", "type-VF", "8086:1515", "allocated"),
                (host, dev_type, ids, status),
            )
        # compute1's VFs are used; compute2 and compute3 still have two free
        # VFs on physnet4 each but are outside the aggregate.
        self.assertEqual((0, 2, 2), tuple(self.free_vfs(h) for h in HOSTS))
        failed = self.boot_ports(expected_state="ERROR")
        self.assertIn("No valid host", failed["fault"]["message"])
        self.assertGreater(self.filter_calls["filter_all"], 0)

    def test_two_ports_of_one_server_fit_jointly(self):
        server = self.boot_ports(2)
        self.assertEqual("compute1", self.host_of(server))
        self.assertEqual(2, len(self.vfs_of(server)))
        # Three ports never fit the in-scope host (two VFs).
        self.boot_ports(3, expected_state="ERROR")

    def test_moving_a_host_out_of_the_aggregate_applies_to_the_next_boot(self):
        first = self.boot_ports()
        self.assertEqual("compute1", self.host_of(first))
        self.admin_api.remove_host_from_aggregate(self.agg["id"], "compute1")
        self.admin_api.add_host_to_aggregate(self.agg["id"], "compute2")
        second = self.boot_ports()
        self.assertEqual("compute2", self.host_of(second))
        self.assertEqual([("compute2", self.vfs_of(second)[0][1])], self.vfs_of(second))
        # The running server is not touched.
        self.assertEqual("ACTIVE", self.api.get_server(first["id"])["status"])
        self.assertEqual("compute1", self.vfs_of(first)[0][0])

    def test_physnet_no_definition_fixes_is_left_to_nova(self):
        # A flavor without physical_network does not manage physnet4.
        self.set_metadata(
            self.agg["id"],
            {"pci_flavor:physnet4-vf": '{"vendor_id":"8086","product_id":"1515"}'},
        )
        hosts = {self.host_of(self.boot_ports()) for _ in range(4)}
        self.assertNotEqual({"compute1"}, hosts)
        self.assertEqual(4, sum(2 - self.free_vfs(h) for h in HOSTS))

    def test_definition_for_another_device_empties_the_physnet(self):
        # The definition fixes physnet4 but to devices no host has: physnet4
        # is managed and nothing serves it.
        self.set_metadata(
            self.agg["id"],
            {"pci_flavor:physnet4-vf": PHYSNET4_VF.replace("1515", "10ed")},
        )
        failed = self.boot_ports(expected_state="ERROR")
        self.assertIn("No valid host", failed["fault"]["message"])


class PortScopingPlacementTest(PortScopingTest):
    """The same with PCI in Placement on.  Nova 34 does not track
    physnet-tagged devices in Placement (pci_placement_translator skips
    them) nor turn port PCI requests into Placement request groups
    (RequestSpec.generate_request_groups_from_pci_requests skips
    NEUTRON_PORT): ports are still decided on the pools, as without it."""

    PCI_IN_PLACEMENT = True


class PortOptionOffTest(PortTestBase):
    """``manage_port_requests`` off (default): ports are Nova's business,
    whatever the aggregates say."""

    MANAGE_PORTS = False

    def test_ports_ignore_the_aggregate(self):
        servers = [self.boot_ports() for _ in range(4)]
        hosts = [self.host_of(s) for s in servers]
        self.assertNotEqual({"compute1"}, set(hosts))
        self.assertEqual(4, sum(2 - self.free_vfs(h) for h in HOSTS))


NIC_PCI = (fakelibvirt.PCI_VEND_ID, fakelibvirt.PCI_PROD_ID)  # 8086:1533
NIC_PCI_FLAVOR = (
    '{"vendor_id":"8086","product_id":"%s","device_type":"type-PCI"}' % (NIC_PCI[1])
)
# fakelibvirt puts the type-PCI device in slot 0, then each PF and its VFs
# in the next slot: PF1 0000:81:01.0 (VFs .1, .2), PF2 0000:81:02.0.
PF1_VFS, PF2_VFS = "0000:81:01.*", "0000:81:02.*"


def _on_pf(glob):
    """The physnet4 VF definition narrowed to one PF's VFs."""
    return PHYSNET4_VF[:-1] + ',"address":"%s"}' % glob


class PortClaimTest(PortTestBase):
    """The claim guarantee for ports: the compute claims by the port's spec
    (physnet4, not PF), so where the definition is narrower (one PF's VFs
    here) a host passes only if the VFs its claim takes are inside it.
    Nova takes VFs in pool order: PF1's first."""

    PCI_DEVICE_SPEC = PortTestBase.PCI_DEVICE_SPEC + [
        {"vendor_id": NIC_PCI[0], "product_id": NIC_PCI[1]}
    ]
    PCI_ALIAS = [
        {
            "name": "nic-pci",
            "vendor_id": NIC_PCI[0],
            "product_id": NIC_PCI[1],
            "device_type": "type-PCI",
        }
    ]
    PCI_INFO = {"num_pci": 1, "num_pfs": 2, "num_vfs": 4}

    def setUp(self):
        super().setUp()
        self.debug_log = self.useFixture(
            fixtures.FakeLogger(
                name="aggregate_pci", level=logging.DEBUG, format="%(message)s"
            )
        )

    def define(self, glob):
        self.set_metadata(
            self.agg["id"],
            {
                "pci_flavor:physnet4-vf": _on_pf(glob),
                "pci_flavor:nic-pci": NIC_PCI_FLAVOR,
            },
        )

    def held_vfs(self, server):
        return [a for h, a in self.vfs_of(server) if self.devices(h)[a][0] == "type-VF"]

    def assert_refused_for_the_claim(self, failed):
        self.assertIn("No valid host", failed["fault"]["message"])
        refusals = [
            line
            for line in self.debug_log.output.splitlines()
            if line.startswith("host compute1 rejected: the compute's claim would take")
        ]
        self.assertTrue(refusals, self.debug_log.output)
        self.assertIn(
            "would take a VF of 0000:81:01.0 (8086:1515 type-VF, numa_node=0, "
            "physical_network=physnet4, remote_managed=false) for port:physnet4",
            refusals[-1],
        )
        # Nothing was taken on compute1 (no build, no stray VF).
        self.assertEqual(4, self.free_vfs("compute1"))

    def test_definition_the_claim_serves(self):
        self.define(PF1_VFS)
        servers = [self.boot_ports() for _ in range(2)]
        for server in servers:
            self.assertEqual("compute1", self.host_of(server))
        held = sorted(a for s in servers for a in self.held_vfs(s))
        self.assertEqual(["0000:81:01.1", "0000:81:01.2"], held)
        # PF1's VFs are used, PF2's are free but outside the definition.
        self.boot_ports(expected_state="ERROR")
        self.assertEqual(2, self.free_vfs("compute1"))
        # Narrowed to PF2 now: the claim takes from PF2 (PF1 is used up).
        self.define(PF2_VFS)
        third = self.boot_ports()
        self.assertEqual("compute1", self.host_of(third))
        self.assertTrue(self.held_vfs(third)[0].startswith("0000:81:02."))

    def test_definition_the_claim_would_not_serve_is_refused(self):
        # Free PF2 VFs match, but the compute would take a PF1 VF.
        self.define(PF2_VFS)
        self.assert_refused_for_the_claim(self.boot_ports(expected_state="ERROR"))

    def test_alias_and_port_in_one_instance(self):
        flavor = self.nova_flavor("nic-pci:1")
        self.define(PF2_VFS)
        failed = self._create_server(
            flavor_id=flavor,
            networks=[{"port": self.direct_port()}],
            expected_state="ERROR",
        )
        self.assert_refused_for_the_claim(failed)
        self.define(PF1_VFS)
        server = self._create_server(
            flavor_id=flavor,
            networks=[{"port": self.direct_port()}],
            expected_state="ACTIVE",
        )
        self.assertEqual("compute1", self.host_of(server))
        held = {self.devices("compute1")[a][:2] for _, a in self.vfs_of(server)}
        self.assertEqual(
            {("type-PCI", "8086:%s" % NIC_PCI[1]), ("type-VF", "8086:1515")}, held
        )
        self.assertTrue(self.held_vfs(server)[0].startswith("0000:81:01."))


class PortClaimPlacementTest(PortClaimTest):
    """With PCI in Placement: the alias's device is mapped by Placement and
    its candidates pruned; the port's claim is still replayed (alone)."""

    PCI_IN_PLACEMENT = True
