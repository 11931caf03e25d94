"""Loaded by pytest before any test module.  With Nova installed, importing
Nova's functional test package monkey-patches the process with eventlet;
doing it first gives every test module one consistent world, whatever order
pytest collects the tiers in (a module that imported ``selectors`` before the
patch kept a blocking poll that starves green threads: a hang)."""

try:
    import nova.tests.functional  # noqa: F401
except ImportError:  # the pure tier and the real-cloud lane run without Nova
    pass


# Sharded runs (tools/pytest_shards.py): keep only this shard's test files.
from tests.fixtures.shards import pytest_collection_modifyitems  # noqa: E402,F401
