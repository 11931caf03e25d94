"""Timing wrappers for tools/bench/cloud_scheduler.py (scale clouds only).

tools/cloud/cloud.sh copies this module into the cloud venv as
``aggregate_pci_bench_timing.py`` when AGGREGATE_PCI_CLOUD_SCALE_NODES is set,
and the scheduler's extra config file (``scheduler-scale.conf``) names
``TimedAggregatePciFilter`` and ``TimedPciPassthroughFilter`` in
``enabled_filters`` instead of the plain classes, and
``TimedAggregatePciWeigher`` in ``weight_classes``.  They are subclasses that
change nothing but log, per call of ``filter_all`` (one per instance of a
scheduling request, as Nova calls filters)::

    aggregate-pci-bench filter=NAME instance=UUID hosts_in=N hosts_out=M ms=T

and per call of the weigher's ``weigh_objects`` (one per instance, over the
hosts that passed every filter; Nova skips weighing when one host is left)::

    aggregate-pci-bench weigher=AggregatePciWeigher instance=UUID hosts=N ms=T

The weigher's time is ``weigh_objects`` only: Nova's handler then asks
``weight_multiplier`` of every candidate host, which is not timed here.

Importing this module (the scheduler does, when it loads its filters, before
it serves any request) also wraps ``SchedulerManager.select_destinations``,
which logs once per RPC call::

    aggregate-pci-bench select_destinations instances=UUID,... outcome=ok|ExcName ms=T

Times are wall clock (``time.perf_counter``) around the call, as the request
experiences them.
"""

import functools
import time

from nova.scheduler import manager
from nova.scheduler.filters import pci_passthrough_filter
from oslo_log import log as logging

from aggregate_pci import filter as agg_filter
from aggregate_pci import weigher as agg_weigher

LOG = logging.getLogger(__name__)


def _timed(parent: type) -> type:
    """A subclass of the filter class PARENT whose filter_all is timed and logged."""
    name = parent.__name__

    def filter_all(self, filter_obj_list, spec_obj):
        hosts = list(filter_obj_list)
        t0 = time.perf_counter()
        out = list(parent.filter_all(self, hosts, spec_obj))
        ms = (time.perf_counter() - t0) * 1000
        LOG.info(
            "aggregate-pci-bench filter=%s instance=%s hosts_in=%d hosts_out=%d ms=%.3f",
            name,
            getattr(spec_obj, "instance_uuid", None),
            len(hosts),
            len(out),
            ms,
        )
        return out

    return type(
        f"Timed{name}",
        (parent,),
        {"filter_all": filter_all, "__doc__": f"{name}, timed."},
    )


TimedAggregatePciFilter = _timed(agg_filter.AggregatePciFilter)
TimedPciPassthroughFilter = _timed(pci_passthrough_filter.PciPassthroughFilter)


class TimedAggregatePciWeigher(agg_weigher.AggregatePciWeigher):
    """AggregatePciWeigher, timed: logs each weigh_objects call's hosts and wall time."""

    def weigh_objects(self, weighed_obj_list, weight_properties):
        """The parent's weights, unchanged, and one timing line."""
        t0 = time.perf_counter()
        out = super().weigh_objects(weighed_obj_list, weight_properties)
        ms = (time.perf_counter() - t0) * 1000
        LOG.info(
            "aggregate-pci-bench weigher=AggregatePciWeigher instance=%s hosts=%d ms=%.3f",
            getattr(weight_properties, "instance_uuid", None),
            len(weighed_obj_list),
            ms,
        )
        return out


def _wrap_select_destinations() -> None:
    original = manager.SchedulerManager.select_destinations
    if getattr(original, "_aggregate_pci_bench", False):
        return

    @functools.wraps(original)
    def select_destinations(self, context, *args, **kwargs):
        t0 = time.perf_counter()
        outcome = "ok"
        try:
            return original(self, context, *args, **kwargs)
        except Exception as exc:
            # NoValidHost arrives wrapped in oslo.messaging's ExpectedException.
            inner = getattr(exc, "exc_info", None)
            outcome = (inner[0] if inner else type(exc)).__name__
            raise
        finally:
            ms = (time.perf_counter() - t0) * 1000
            LOG.info(
                "aggregate-pci-bench select_destinations instances=%s outcome=%s ms=%.3f",
                ",".join(kwargs.get("instance_uuids") or []),
                outcome,
                ms,
            )

    select_destinations._aggregate_pci_bench = True  # type: ignore[attr-defined]
    manager.SchedulerManager.select_destinations = select_destinations


_wrap_select_destinations()
