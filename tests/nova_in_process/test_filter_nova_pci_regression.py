"""Nova's own PCI functional tests, re-run with AggregatePciFilter enabled.

No aggregate defines a PCI flavor in these tests, so our filter must change
nothing: every Nova assertion stays as Nova wrote it, and on top of that each
call of our filter is checked to return every host it was given.  Each test
that schedules a PCI request must have reached our filter with it, and the
totals are printed at the end of the module.

By default SRIOVServersTest leaves out Nova's matrix of live-migration
failure cases (``test_live_migrate_VF_*_fails_*``, 14 tests, the same boot
and scheduling path as the success cases that stay in) to keep the run at a
few minutes; ``AGGREGATE_PCI_NOVA_FULL=1`` runs them too.

``AGGREGATE_PCI_MANAGE_PORTS=1`` runs them with ``[aggregate_pci]
manage_port_requests`` on: no aggregate fixes a physical network here, so
Nova's SR-IOV port tests must stay green with it on too.

The Nova module is imported as a module (not its class names) so pytest does
not also collect Nova's original classes from here.
"""

import collections
import os

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
import pytest
from nova.tests.functional.libvirt import test_pci_sriov_servers as nova_pci

import aggregate_pci.filter  # noqa: F401  (registers [aggregate_pci] options)
from tests.fixtures.nova_harness import FILTER_PATH

FILTER_NAME = FILTER_PATH.rsplit(".", 1)[1]

#: Totals over the module, printed when its last test is done.
TOTALS: collections.Counter = collections.Counter()
#: Tests in which our filter saw no PCI request (class, method).
NO_PCI_CALLS: list = []


def _pci_requests(spec_obj):
    reqs = getattr(spec_obj, "pci_requests", None)
    return list(reqs.requests) if reqs and reqs.requests else []


class FilterCallCheck:
    """Mixin for a Nova ``_PCIServersTestBase`` class: enable our filter
    (first among the extra filters, the recommended place) and check it."""

    ADDITIONAL_FILTERS = [FILTER_NAME, "NUMATopologyFilter", "PciPassthroughFilter"]

    def setUp(self):
        self.flags(
            available_filters=["nova.scheduler.filters.all_filters", FILTER_PATH],
            group="filter_scheduler",
        )
        if os.environ.get("AGGREGATE_PCI_MANAGE_PORTS") == "1":
            self.flags(manage_port_requests=True, group="aggregate_pci")
        super().setUp()
        self.agg_pci_calls = collections.Counter()
        host_manager = self.scheduler.manager.host_manager
        ours = [
            f for f in host_manager.enabled_filters if type(f).__name__ == FILTER_NAME
        ]
        self.assertEqual(1, len(ours), "%s is not enabled" % FILTER_NAME)
        self._wrap_filter(ours[0])
        self._wrap_filter_runs(host_manager.filter_handler)
        # Cleanups run last-in first-out: this runs right after the test
        # body, before the services are stopped.
        self.addCleanup(self._check_filter_calls)

    def _wrap_filter(self, agg_filter):
        orig = agg_filter.filter_all
        calls = self.agg_pci_calls

        def counting_filter_all(filter_obj_list, spec_obj):
            hosts_in = list(filter_obj_list)
            hosts_out = list(orig(hosts_in, spec_obj))
            reqs = _pci_requests(spec_obj)
            calls["calls"] += 1
            calls["pci_calls"] += bool(reqs)
            calls["alias_calls"] += any(getattr(r, "alias_name", None) for r in reqs)
            calls["hosts_in"] += len(hosts_in)
            calls["hosts_out"] += len(hosts_out)
            if [id(h) for h in hosts_out] != [id(h) for h in hosts_in]:
                calls["changed"] += 1
            return hosts_out

        agg_filter.filter_all = counting_filter_all

    def _wrap_filter_runs(self, handler):
        orig = handler.get_filtered_objects
        calls = self.agg_pci_calls

        def counting_run(filters, objs, spec_obj, index=0):
            calls["pci_filter_runs"] += bool(_pci_requests(spec_obj))
            return orig(filters, objs, spec_obj, index)

        handler.get_filtered_objects = counting_run

    def _check_filter_calls(self):
        calls = self.agg_pci_calls
        TOTALS.update(calls)
        TOTALS["tests"] += 1
        if not calls["pci_calls"]:
            NO_PCI_CALLS.append(self.id().rsplit(".", 2)[-2:])
        self.assertEqual(
            0,
            calls["changed"],
            "%s removed or reordered hosts although no aggregate defines a "
            "PCI flavor: %s" % (FILTER_NAME, dict(calls)),
        )
        if calls["pci_filter_runs"]:
            self.assertGreater(
                calls["pci_calls"],
                0,
                "the scheduler filtered hosts for PCI requests %d time(s) "
                "but %s never saw one: %s"
                % (calls["pci_filter_runs"], FILTER_NAME, dict(calls)),
            )


@pytest.fixture(scope="module", autouse=True)
def _report_filter_totals(request):
    yield
    lines = [
        "%s over Nova's PCI tests: %s"
        % (FILTER_NAME, ", ".join("%s=%d" % kv for kv in sorted(TOTALS.items())))
    ]
    lines += ["  no PCI request reached it in %s.%s" % tuple(t) for t in NO_PCI_CALLS]
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


class PCIServersTest(FilterCallCheck, nova_pci.PCIServersTest):
    """Flavor-alias PCI boots, PCI in Placement on."""


class PCIServersWithPreferredNUMATest(
    FilterCallCheck, nova_pci.PCIServersWithPreferredNUMATest
):
    """Alias with the 'preferred' NUMA policy."""


class PCIServersWithRequiredNUMATest(
    FilterCallCheck, nova_pci.PCIServersWithRequiredNUMATest
):
    """Alias with the 'required' NUMA policy (the boot must fail)."""


class SRIOVServersTest(FilterCallCheck, nova_pci.SRIOVServersTest):
    """SR-IOV ports and PF/VF aliases, PCI in Placement off."""


#: Live-migration failure matrix left out of the default run (time only).
LIVE_MIGRATION_FAILURE_MATRIX = sorted(
    name
    for name in dir(nova_pci.SRIOVServersTest)
    if name.startswith("test_live_migrate_VF_") and "_fails_" in name
)

if os.environ.get("AGGREGATE_PCI_NOVA_FULL") != "1":
    for _name in LIVE_MIGRATION_FAILURE_MATRIX:
        setattr(SRIOVServersTest, _name, None)
