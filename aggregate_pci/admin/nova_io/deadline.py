"""A deadline on every Compute API request: ``--timeout`` bounds the total
wait of one request, retries included (keystoneauth1's own connect retries
would wait the timeout once per attempt, plus back-off)."""

from __future__ import annotations

import logging
import time
from typing import Any

from keystoneauth1 import exceptions as ks_exc

LOG = logging.getLogger(__name__)

#: Retry a failed connection at most this often, while the deadline allows.
MAX_RETRIES = 3
#: First back-off between attempts (doubled each time), in seconds.
FIRST_DELAY = 0.5


class DeadlineSession:
    """A keystoneauth1 session whose ``request`` gives up ``timeout`` seconds
    after it started: each attempt waits only what is left, a retry happens
    only when time is left for it, retries are logged at debug level only.
    Everything else is the wrapped session's."""

    def __init__(self, session: Any, timeout: float) -> None:
        self._session = session
        self._deadline_s = float(timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def request(self, url: str, method: str, **kwargs: Any) -> Any:
        """The wrapped session's ``request`` within the deadline."""
        deadline = time.monotonic() + self._deadline_s
        kwargs["connect_retries"] = 0
        delay = FIRST_DELAY
        for attempt in range(MAX_RETRIES + 1):
            kwargs["timeout"] = max(0.001, deadline - time.monotonic())
            try:
                return self._session.request(url, method, **kwargs)
            except ks_exc.RetriableConnectionFailure as exc:
                left = deadline - time.monotonic()
                if attempt == MAX_RETRIES or left <= delay + FIRST_DELAY:
                    raise
                LOG.debug(
                    "%s %s failed (%s); retrying in %.1f s (%.1f s left)",
                    method,
                    url,
                    exc,
                    delay,
                    left,
                )
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover
