"""A fake Nova virt driver with per-host PCI devices (tools/cloud/cloud.sh).

tools/cloud/cloud.sh copies this module into the cloud venv as
``nova/virt/aggregate_pci_fake.py`` (Nova loads ``compute_driver`` from the
``nova.virt`` namespace) and sets ``compute_driver =
aggregate_pci_fake.PciFakeDriver``.

Nova's ``fake.FakeDriverWithPciResources`` reports the same three PFs with
``'fake-vendor_id'`` on every host: MariaDB's ``pci_devices.vendor_id`` is
VARCHAR(4) and Nova refuses ``[pci] alias`` entries without 4-hex-digit ids.
This subclass reports the devices listed in ``$state_path/fake_pci_devices.json``
instead (one JSON list of Nova's PCI device dicts per compute).
"""

import functools
import inspect
import json
import os
import threading
import time
import uuid

import nova.conf
import oslo_messaging as messaging
from nova.compute import resource_tracker
from nova.virt import fake
from oslo_log import log as logging
from oslo_serialization import jsonutils

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)


class PciFakeDriver(fake.FakeDriverWithPciResources):
    def get_available_resource(self, nodename):
        status = super().get_available_resource(nodename)
        path = os.path.join(CONF.state_path, "fake_pci_devices.json")
        with open(path) as f:
            devices = json.load(f)
        status["pci_passthrough_devices"] = jsonutils.dumps(devices)
        return status


# --- Many nodes in one nova-compute (AGGREGATE_PCI_CLOUD_SCALE_NODES) -------
#
# Nova's fake driver can report several nodes (``_set_nodes``), but Nova's
# ResourceTracker keeps ONE ``pci_tracker`` per nova-compute: built for the
# first node it sees, then reused for every other node (each node would
# report the first node's PCI pools, and claims on any node would take the
# first node's devices).  Real multi-node drivers (ironic) report no PCI
# devices, so Nova never needed more.  For the scale option the process below
# swaps in a ResourceTracker that keeps one PciDevTracker per node: every
# tracker method runs with "its" node (taken from its ``nodename``,
# ``compute_node``, ``resources`` or ``instance`` argument) held in a
# thread-local, and ``self.pci_tracker`` reads and writes that node's tracker.

_current = threading.local()


def _node_of(arguments: dict) -> str | None:
    """The node a ResourceTracker call is about, from its arguments."""
    if arguments.get("nodename"):
        return arguments["nodename"]
    cn = arguments.get("compute_node")
    if cn is not None and cn.obj_attr_is_set("hypervisor_hostname"):
        return cn.hypervisor_hostname
    res = arguments.get("resources")
    if isinstance(res, dict) and res.get("hypervisor_hostname"):
        return res["hypervisor_hostname"]
    inst = arguments.get("instance")
    if inst is not None and inst.obj_attr_is_set("node") and inst.node:
        return inst.node
    return None


def _with_node(method):
    """Run ``method`` with the node its arguments name as the current node."""
    sig = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        node = _node_of(sig.bind_partial(self, *args, **kwargs).arguments)
        previous = getattr(_current, "node", None)
        _current.node = node or previous
        try:
            return method(self, *args, **kwargs)
        finally:
            _current.node = previous

    return wrapper


class PerNodePciResourceTracker(resource_tracker.ResourceTracker):
    """ResourceTracker with one PciDevTracker per node (fake scale nodes only)."""

    @property
    def pci_tracker(self):
        """The current node's PCI tracker (None before it is set up)."""
        return self.__dict__.setdefault("_pci_trackers", {}).get(
            getattr(_current, "node", None)
        )

    @pci_tracker.setter
    def pci_tracker(self, value) -> None:
        node = getattr(_current, "node", None)
        self.__dict__.setdefault("_pci_trackers", {})[node] = value

    def update_available_resource(self, context, nodename, startup=False):
        """Nova's, retried on a DB deadlock.

        Several scale processes inserting ``pci_devices`` rows at start-up
        make MariaDB report deadlocks (about 20 of 200 nodes per start here);
        Nova would retry at the next periodic update, which the scale hosts
        run rarely (``update_resources_interval``).
        """
        for attempt in range(1, 6):
            try:
                return super().update_available_resource(
                    context, nodename, startup=startup
                )
            except messaging.RemoteError as exc:
                if exc.exc_type != "DBDeadlock" or attempt == 5:
                    raise
                LOG.warning(
                    "node %s: DB deadlock updating resources, retry %d",
                    nodename,
                    attempt,
                )
                time.sleep(attempt)


_NODE_ARGS = {"nodename", "compute_node", "resources", "instance"}
for _name, _method in list(vars(resource_tracker.ResourceTracker).items()):
    if not inspect.isfunction(_method) or _name.startswith("__"):
        continue
    if not _NODE_ARGS & set(inspect.signature(_method).parameters):
        continue
    # The subclass's own override, else Nova's method.
    _method = vars(PerNodePciResourceTracker).get(_name, _method)
    setattr(PerNodePciResourceTracker, _name, _with_node(_method))


class MultiNodePciFakeDriver(PciFakeDriver):
    """Several fake nodes in one nova-compute, each with its own PCI devices.

    ``$state_path/fake_pci_nodes.json`` maps node name to its device list
    (written by tools/cloud/scale_layout.py).  Node uuids are derived from
    the node name (uuid5), as Nova's PredictableNodeUUIDDriver does.
    """

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        # nova.compute.manager builds its ResourceTracker right after loading
        # the driver, through this module attribute.
        resource_tracker.ResourceTracker = PerNodePciResourceTracker
        with open(os.path.join(CONF.state_path, "fake_pci_nodes.json")) as f:
            self._node_devices = json.load(f)

    def init_host(self, host):
        """Report the nodes the layout file names."""
        self._host = host
        self._set_nodes(sorted(self._node_devices))

    def get_available_resource(self, nodename):
        """Resources of one node, with that node's devices and stable uuid."""
        status = fake.FakeDriver.get_available_resource(self, nodename)
        if not status:
            return status
        status["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, nodename))
        status["pci_passthrough_devices"] = jsonutils.dumps(
            self._node_devices[nodename]
        )
        return status

    def get_nodenames_by_uuid(self, refresh=False):
        """Node uuid -> name, matching get_available_resource."""
        return {
            str(uuid.uuid5(uuid.NAMESPACE_DNS, n)): n
            for n in self.get_available_nodes()
        }
