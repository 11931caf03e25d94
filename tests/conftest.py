"""Loaded by pytest before any test module.  With Nova installed, importing
Nova's functional test package monkey-patches the process with eventlet;
doing it first gives every test module one consistent world, whatever order
pytest collects the tiers in (a module that imported ``selectors`` before the
patch kept a blocking poll that starves green threads: a hang)."""

try:
    import nova.tests.functional  # noqa: F401
except ImportError:  # the pure tier and the real-cloud lane run without Nova
    pass
else:
    # Nova 32 (2025.2) patches only when nova.test is imported, not with
    # nova.tests.functional (31 and 33 on do): patch here so the mocked
    # tier's imports of oslo.db and oslo.context do not keep real thread
    # locals (then green threads share a transaction: "Can't upgrade a
    # READER transaction to a WRITER" in live migration, lost SR-IOV NICs).
    # Nova 31's monkey_patch patches on import and has no patch().
    from nova import monkey_patch

    if hasattr(monkey_patch, "patch"):
        monkey_patch.patch()  # a no-op where already patched


# Sharded runs (tools/pytest_shards.py): keep only this shard's test files.
from tests.fixtures.shards import pytest_collection_modifyitems  # noqa: E402,F401
