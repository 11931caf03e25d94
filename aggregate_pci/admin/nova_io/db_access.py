"""How we open Nova's databases: nova.conf loaded as Nova services load it
(database access only), every read bounded by a deadline, and any failure
turned into one line saying what to check."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
from typing import Any, Iterator

from aggregate_pci.admin.errors import AdminError
from aggregate_pci.errors import Hint


def require_nova(what: str, instead: str = "") -> None:
    """``AdminError`` with what to do when Nova is not importable here."""
    if importlib.util.find_spec("nova") is None:  # imports nothing
        raise AdminError(
            "%s needs Nova's own code, which is not installed here: run it "
            "where Nova is installed (the nova-api or nova-conductor "
            "virtualenv or container)%s" % (what, instead)
        )


def check_sqlite_path(url: str | None, where: str) -> None:
    """A sqlite database file that does not exist is a mistyped path:
    refuse it (opening it would create an empty database file)."""
    if not url or not url.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url

    try:
        path = make_url(url).database
    except Exception:  # SQLAlchemy reports a bad URL when it is used
        return
    if path and path != ":memory:" and not path.startswith("file:"):
        if not os.path.isfile(path):
            raise AdminError(
                "%s: sqlite database file %r does not exist (nothing was "
                "created); check the path" % (where, path)
            )


_loaded_config: list[str] = []
#: The database deadline of this process: (seconds per connection attempt,
#: attempts, seconds after each failed one), set by ``load_config``.
_budget: list[tuple[float, int, int]] = []
#: What to check when Nova's API database does not answer.
API_DB_CHECK = (
    "[api_database] connection in the given nova.conf and that its server answers"
)
#: Drivers whose connect arguments take these timeouts (seconds).
_TIMEOUT_ARGS = ("connect_timeout", "read_timeout", "write_timeout")
#: oslo.db's logger of connection retries (WARNING lines: debug only here).
_RETRY_LOGGER = "oslo_db.sqlalchemy.engines"


def db_budget(timeout: float) -> tuple[float, int, int]:
    """(seconds per attempt, attempts, seconds of pause after each failed
    attempt) so that a database that never answers costs ``timeout`` in all
    (oslo.db's ``max_retries`` is its number of attempts, each failed one
    followed by ``retry_interval``): two attempts from 5 s on."""
    if timeout >= 5:
        return (timeout - 2) / 2.0, 2, 1
    return float(timeout), 1, 0


class _DemoteToDebug(logging.Filter):
    """Show oslo.db's retry warnings only with --debug (as debug lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _set_driver_timeouts(
    dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
) -> None:
    """SQLAlchemy ``do_connect`` hook: MySQL connections (API and cell
    databases alike) get the connect, read and write timeouts of the budget
    unless their URL sets them."""
    if not _budget or getattr(dialect, "name", "") not in ("mysql", "mariadb"):
        return
    seconds = _budget[0][0]
    if getattr(dialect, "driver", "") != "pymysql":
        seconds = math.ceil(seconds)  # mysqlclient takes whole seconds
    for name in _TIMEOUT_ARGS:
        cparams.setdefault(name, seconds)


def set_db_deadline(timeout: float) -> None:
    """Bound every Nova database read of this process by ``timeout``
    seconds: MySQL connect/read/write timeouts on every engine (cells
    included) and oslo.db's connection retries (``max_retries``,
    ``retry_interval`` of [database] and [api_database]) within it."""
    import nova.conf
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    per_attempt, attempts, interval = db_budget(timeout)
    if not _budget:
        event.listen(Engine, "do_connect", _set_driver_timeouts)
        logging.getLogger(_RETRY_LOGGER).addFilter(_DemoteToDebug())
    _budget[:] = [(per_attempt, attempts, interval)]
    for group in ("database", "api_database"):
        nova.conf.CONF.set_override("max_retries", attempts, group)
        nova.conf.CONF.set_override("retry_interval", interval, group)


def db_failure(exc: Exception, what: str, check: str) -> AdminError:
    """One line for a failed database read: ``what`` failed, why in short
    (no answer within the deadline, refused, or the driver's first line),
    and ``check``: what to look at."""
    text = str(exc)
    if _budget and ("timed out" in text or "(2013" in text):
        per_attempt, attempts, _ = _budget[0]
        why = "no answer within %g s (%d attempt(s))" % (per_attempt, attempts)
    elif "(2003" in text or "refused" in text.lower():
        why = "connection refused"
    else:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        why = (lines[0] if lines else type(exc).__name__)[:200]
    return AdminError(
        "cannot read %s: %s; check %s" % (what, why, check),
        hint=Hint("raise {option} if the database is just slow", option="timeout"),
    )


@contextlib.contextmanager
def db_read(what: str, check: str) -> Iterator[None]:
    """Any failure reading ``what`` becomes ``db_failure``'s one line."""
    try:
        yield
    except AdminError:
        raise
    except Exception as exc:  # oslo.db, SQLAlchemy and drivers: many types
        raise db_failure(exc, what, check) from None


def load_config(config_file: str, timeout: float | None = None) -> None:
    """Load a nova.conf the way Nova services do (database access only);
    with ``timeout``, every database read is bounded (``set_db_deadline``).

    Once per process: oslo.config refuses to register Nova's command-line
    options again after parsing, so a second call with the same file (a
    daemon reading the databases on an interval) does nothing.
    """
    if _loaded_config == [config_file]:
        return
    import nova.conf
    import oslo_messaging
    from nova import config as nova_config
    from nova import objects
    from nova.db.api import api as api_db_api
    from nova.db.main import api as main_db_api

    objects.register_all()
    try:
        nova_config.parse_args(
            ["aggregate-pci", "--config-file", config_file],
            default_config_files=[],
            init_rpc=False,
            configure_db=False,
        )
    except Exception as exc:  # oslo.config raises many types; name the file
        raise AdminError(
            "cannot load Nova configuration %r: %s" % (config_file, exc)
        ) from None
    if timeout is not None:
        set_db_deadline(timeout)
    main_db_api.configure(nova.conf.CONF)
    api_db_api.configure(nova.conf.CONF)
    for group in ("api_database", "database"):
        url = getattr(getattr(nova.conf.CONF, group), "connection", None)
        check_sqlite_path(url, "[%s] connection in %s" % (group, config_file))
    # Loading a CellMapping reads [DEFAULT] transport_url, an option that
    # oslo.messaging registers only when a transport is made (services do in
    # rpc.init); register it without making a transport: we need no RPC.
    oslo_messaging.TransportURL(nova.conf.CONF)
    _loaded_config[:] = [config_file]


def cell_read(cell: Any, what: str) -> Any:
    """``db_read`` for ``what`` in one cell's database."""
    return db_read(
        "%s from cell %r's database" % (what, cell.name),
        "that cell's database_connection ('nova-manage cell_v2 list_cells') "
        "and that its server answers",
    )
