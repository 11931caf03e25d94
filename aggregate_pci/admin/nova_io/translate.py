"""How a Compute API failure becomes one actionable ``AdminError``: the
only admin module that knows novaclient's and keystoneauth1's exceptions."""

from __future__ import annotations

import contextlib
from typing import Iterator

from keystoneauth1 import exceptions as ks_exc
from novaclient import exceptions as nova_exc

from aggregate_pci.admin import errors
from aggregate_pci.admin.models import MetadataChange
from aggregate_pci.errors import Hint

#: Connection retries for an unreachable endpoint (keystoneauth1 backs off).
CONNECT_RETRIES = 3


MAYBE_WRITTEN = (
    "; Nova may have made the change before failing: read it back "
    "('openstack aggregate show') before retrying"
)


@contextlib.contextmanager
def translated(
    action: str, done: list[MetadataChange] | None = None, write: bool = False
) -> Iterator[None]:
    """Turn novaclient/keystoneauth1 failures while doing ``action`` into
    ``AdminError``s; ``done`` are the changes applied before it.  For a
    ``write``, a server error or a timeout says the write may have happened
    (Nova can store a value and then fail to answer)."""
    maybe = MAYBE_WRITTEN if write else ""
    try:
        yield
    except nova_exc.Forbidden as exc:
        raise errors.NotAdmin(
            "admin role required: Nova refused to %s (HTTP 403: %s). Use "
            "credentials with the admin role (e.g. --os-cloud with an "
            "admin user)." % (action, detail(exc)),
            done,
        ) from None
    except (nova_exc.Unauthorized, ks_exc.Unauthorized) as exc:
        raise errors.AdminError(
            "authentication failed while trying to %s (HTTP 401: %s): "
            "check --os-username/--os-password or the cloud in "
            "clouds.yaml" % (action, detail(exc)),
            done,
        ) from None
    except nova_exc.NotFound as exc:
        raise errors.NotFound(
            "cannot %s: %s (HTTP 404)" % (action, detail(exc)), done
        ) from None
    except nova_exc.Conflict as exc:
        raise errors.Conflict(
            "cannot %s: %s (HTTP 409)" % (action, detail(exc)), done
        ) from None
    except nova_exc.BadRequest as exc:
        raise errors.InvalidInput(
            "Nova refused to %s: %s (HTTP 400)" % (action, detail(exc)), done
        ) from None
    except nova_exc.ClientException as exc:
        server_error = isinstance(exc.code, int) and exc.code >= 500
        raise errors.AdminError(
            "Nova failed to %s: %s (HTTP %s)%s"
            % (action, detail(exc), exc.code, maybe if server_error else ""),
            done,
        ) from None
    except ks_exc.EndpointNotFound as exc:
        raise errors.Unreachable(
            "cannot %s: no Compute endpoint found in the service catalog "
            "(%s); check --os-region-name and --os-interface" % (action, exc),
            done,
        ) from None
    except ks_exc.ConnectTimeout as exc:
        raise errors.Unreachable(
            "cannot %s: no answer from the Compute API within the timeout "
            "(%s)" % (action, exc),
            done,
            hint=Hint(
                "raise {option} if Nova is just slow, else check that nova-api "
                "is up%s" % maybe,
                option="timeout",
            ),
        ) from None
    except (
        ks_exc.ConnectFailure,
        ks_exc.ConnectionError,
        ks_exc.RetriableConnectionFailure,
    ) as exc:
        raise errors.Unreachable(
            "cannot %s: the Compute API is unreachable (%s); check the "
            "endpoint URL, network and --os-auth-url" % (action, exc),
            done,
        ) from None
    except ks_exc.ClientException as exc:
        raise errors.AdminError("cannot %s: %s" % (action, exc), done) from None


def detail(exc: Exception) -> str:
    """The message Nova put in an error response, else the exception text."""
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip()
