"""The functional tier's shared fixtures: the embedded Nova's test base and
helpers (see aggregate_pci.demo.embedded_nova), imported from here by every test."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

from aggregate_pci.demo.embedded_nova import (  # noqa: F401  (re-exported for the tests)
    FILTER_PATH,
    GPU_A100,
    GPU_T4,
    NIC,
    TOKENS,
    AggregatePciTestBase,
    accept_tokens,
    gpu_host,
    without_os_env,
    write_nova_conf,
)
