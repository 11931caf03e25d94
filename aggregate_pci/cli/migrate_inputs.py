"""What ``migrate`` reads besides Nova's API: the source (a database URL
from the command line, a file or the environment, or a nova.conf), the
targets (a mapping file, one aggregate, or automatic; for automatic
targets the hosts' PCI pools come from ``cli.sources``)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from aggregate_pci.admin import errors
from aggregate_pci.cli import sources as cli_sources
from aggregate_pci.migrate import target_choice
from aggregate_pci.migrate.model import SourceData

#: Environment variable holding the source URL (keeps the password out of
#: the command line, which ``ps`` shows to every user).
DB_URL_ENV = "AGGREGATE_PCI_DB_URL"


def db_url(args: argparse.Namespace) -> str | None:
    """The source database URL: --db-url, --db-url-file or the
    AGGREGATE_PCI_DB_URL environment variable (unless --nova-conf)."""
    if args.db_url:
        return str(args.db_url)
    if args.db_url_file:
        try:
            with open(args.db_url_file, encoding="utf-8") as fh:
                lines = [ln.strip() for ln in fh if ln.strip()]
        except (OSError, ValueError) as exc:
            raise errors.AdminError(
                "cannot read --db-url-file %r: %s"
                % (args.db_url_file, getattr(exc, "strerror", None) or exc)
            ) from None
        if len(lines) != 1:
            raise errors.AdminError(
                "--db-url-file %r must hold one line, the database URL "
                "(found %d non-empty lines)" % (args.db_url_file, len(lines))
            )
        return lines[0]
    if not args.nova_conf and os.environ.get(DB_URL_ENV):
        return os.environ[DB_URL_ENV]
    return None


def read_source(
    args: argparse.Namespace, url: str | None, timeout: float
) -> SourceData:
    """The PCI flavors to migrate: the ``pci_flavors`` table at ``url``,
    or the ``[pci] alias`` of --nova-conf."""
    # imported here: SQLAlchemy costs every other command 0.2-0.3 s CPU
    # (cliff imports every command's module at start)
    from aggregate_pci.migrate import sources

    if url:
        return sources.read_table(url, timeout=timeout)
    return sources.read_nova_conf(args.nova_conf)


def targets(
    app: Any, args: argparse.Namespace, data: SourceData
) -> target_choice.Targets:
    """Where each PCI flavor goes: --mapping FILE, one --aggregate, or
    --auto-aggregates (one aggregate per PCI flavor, from the host pools)."""
    if args.mapping:
        try:
            with open(args.mapping, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as exc:
            raise errors.AdminError(
                "cannot read mapping file %r: %s" % (args.mapping, exc.strerror)
            ) from None
        except ValueError as exc:
            raise errors.AdminError(
                "mapping file %r is not valid JSON: %s" % (args.mapping, exc)
            ) from None
        return target_choice.targets_from_mapping(doc, data.flavors)
    if args.aggregate:
        return target_choice.targets_single(args.aggregate, data.flavors)
    return target_choice.targets_auto(data.flavors, cli_sources.host_pools(app, args))
