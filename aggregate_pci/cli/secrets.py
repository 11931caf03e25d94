"""Secrets never reach the terminal or a log: passwords and tokens given as
options (``--os-password``, ``--os-token``...) and the password in a
database URL (``--db-url mysql+pymysql://user:PASSWORD@host/db``) are
replaced by ``***`` in every log record (osc-lib's ``--debug`` "START with
options" line included) through a log record factory.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aggregate_pci import text as text_mod

MASK = text_mod.MASK

#: Options whose value is a secret as a whole.
_SECRET_OPTIONS = (
    "os-password",
    "os-token",
    "os-auth-token",
    "os-application-credential-secret",
    "os-client-secret",
    "os-passcode",
    "password",
    "token",
)
_OPTION_RE = re.compile(
    r"(--(?:%s))(=|\s+)(\S+)" % "|".join(re.escape(o) for o in _SECRET_OPTIONS)
)


def mask(text: str) -> str:
    """``text`` with option secrets and URL passwords replaced by ``***``."""
    text = _OPTION_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text_mod.mask_urls(text)


_installed = False


def install_log_filter() -> None:
    """Mask secrets in every log record made from now on (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging
            return record
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)
