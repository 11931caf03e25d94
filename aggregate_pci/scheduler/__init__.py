"""The scheduler side: the filter's decision core, one module per step
(``request``, ``host_view``, ``decision``, ``claim_judge``, ``ports``: pure)
and, with PCI in Placement off, the replay of Nova's compute claim
(``claim``, calling Nova in ``nova_pools``).  See docs/scheduler.md."""
