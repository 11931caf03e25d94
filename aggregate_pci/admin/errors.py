"""The admin layer's errors: each carries one actionable line (naming the
aggregate, key or host and what to do) that the CLI prints as it is.

``changes`` lists the metadata changes applied before a failure, so a
caller can always report partial writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aggregate_pci.errors import AggregatePciError, Hint

if TYPE_CHECKING:
    from aggregate_pci.admin.models import MetadataChange


class AdminError(AggregatePciError):
    """A failure with an actionable message naming aggregate, key or host.

    ``changes`` lists the metadata changes that were applied before the
    failure, so a caller can always report partial writes.
    """

    def __init__(
        self,
        message: str,
        changes: list[MetadataChange] | None = None,
        hint: Hint | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.changes = list(changes or [])


class NotAdmin(AdminError):
    """Nova answered HTTP 403: the token lacks the admin role."""


class NotFound(AdminError):
    """An aggregate, flavor or host that does not exist."""


class Conflict(AdminError):
    """The change would overwrite something that is not ours to overwrite."""


class NotEmpty(Conflict):
    """An aggregate to delete still has hosts or metadata to keep."""


class InvalidInput(AdminError):
    """A name or definition the codec (or Nova's rules) refuses."""


class Unreachable(AdminError):
    """The Compute API endpoint could not be reached or found."""
