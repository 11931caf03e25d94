"""The standalone ``aggregate-pci`` command (osc-lib shell: ``--os-cloud``
with clouds.yaml, ``OS_*`` variables, ``--os-*`` options, ``--debug``)."""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable

from cliff import commandmanager


def _import_on_use(name: str) -> None:
    """Register module ``name`` to be executed when one of its attributes
    is first used, not when it is imported (unless already imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


# osc-lib's shell imports cliff's interactive mode (cmd2, prompt_toolkit,
# rich: a fifth of a second) for a type annotation; it runs only when
# 'aggregate-pci' is started without a command.
_import_on_use("cliff.interactive")

from osc_lib import shell  # noqa: E402
from osc_lib.api import auth  # noqa: E402

import aggregate_pci  # noqa: E402
from aggregate_pci.cli import common, secrets  # noqa: E402

if TYPE_CHECKING:
    from aggregate_pci.admin.nova_io import client

LOG = logging.getLogger(__name__)
COMMAND_GROUP = "aggregate_pci.cli"
DESCRIPTION = (
    "Manage PCI flavors stored as Nova host-aggregate metadata, check them, "
    "plan capacity and migrate old definitions. Credentials as for "
    "'openstack': --os-cloud with clouds.yaml, OS_* variables or --os-* "
    "options."
)
#: Authentication options shown in --help; the other options of every
#: keystoneauth1 plugin work too, listed by 'help' of the plugin docs.
SHOWN_AUTH_OPTIONS = frozenset(
    "--os-%s" % o
    for o in (
        "auth-url",
        "username",
        "user-id",
        "password",
        "project-name",
        "project-id",
        "user-domain-name",
        "user-domain-id",
        "project-domain-name",
        "project-domain-id",
        "token",
        "endpoint",
        "system-scope",
        "application-credential-id",
        "application-credential-secret",
    )
)


class LazyCommandManager(commandmanager.CommandManager):
    """cliff's command manager, importing a command's module when the
    command is found, not every command's module at start (an offline
    command does not pay for the exporter's, the migration's...)."""

    def load_commands(self, namespace: str) -> None:
        """The commands of entry point group ``namespace``, not loaded
        (cliff's ``find_command`` loads the one it finds)."""
        self.group_list.append(namespace)
        for ep in importlib.metadata.entry_points(group=namespace):
            name = ep.name.replace("_", " ") if self.convert_underscores else ep.name
            self.commands[name] = ep


def package_version() -> str:
    """The installed distribution's version (pbr's, from git)."""
    try:
        return importlib.metadata.version("aggregate-pci")
    except importlib.metadata.PackageNotFoundError:
        return getattr(aggregate_pci, "__version__", "unknown")


class AggregatePciApp(shell.OpenStackShell):
    """cliff App with osc-lib's auth handling and our command group.

    ``admin_factory`` (returning a ``PciFlavorAdmin``) and ``nova_context``
    (an in-process Nova's admin context) let a caller that already has a
    session or a configured Nova (the demo, tests) run the same commands.
    """

    def __init__(
        self,
        admin_factory: Callable[[], client.PciFlavorAdmin] | None = None,
        nova_context: Any = None,
        stdout: Any = None,
        stderr: Any = None,
    ) -> None:
        secrets.install_log_filter()
        super().__init__(
            description=DESCRIPTION,
            version=package_version(),
            command_manager=LazyCommandManager(COMMAND_GROUP),
            stdout=stdout,
            stderr=stderr,
            deferred_help=True,
        )
        # osc-lib < 3.1 (OpenStack 2024.1) does not pass the streams on to
        # cliff, which then writes to sys.stdout/sys.stderr.
        if stdout is not None and getattr(self, "stdout", None) is sys.stdout:
            self.stdout = stdout
        if stderr is not None and getattr(self, "stderr", None) is sys.stderr:
            self.stderr = stderr
        self.admin_factory = admin_factory
        self.nova_context = nova_context
        #: The front end, for hints (``common.spell_command``).
        self.program = common.STANDALONE

    def build_option_parser(
        self,
        description: str | None,
        version: str | None,
        argparse_kwargs: dict[str, Any] | None = None,
    ) -> argparse.ArgumentParser:
        """osc-lib's global options plus every keystoneauth1 plugin's
        ``--os-*`` options (``--os-auth-url``, ``--os-username``,
        ``--os-token``...), as ``openstack`` has them."""
        argparse_kwargs = dict(
            argparse_kwargs or {},
            usage="aggregate-pci [global options] COMMAND [command options]\n"
            "       aggregate-pci help [COMMAND]",
        )
        try:
            parser = super().build_option_parser(DESCRIPTION, version, argparse_kwargs)
        except TypeError:
            # osc-lib < 3.1 (OpenStack 2024.1) takes no argparse_kwargs.
            parser = super().build_option_parser(DESCRIPTION, version)
        parser.add_argument(
            "--timeout",
            metavar="SECONDS",
            type=float,
            default=None,
            help="longest wait, retries included, for each Compute API "
            "request, each Nova database read (--config-file) and a MySQL "
            "migration source (default %g)" % common.DEFAULT_TIMEOUT,
        )
        before = set(map(id, parser._actions))
        parser = auth.build_auth_plugins_option_parser(parser)
        # Every keystoneauth1 plugin adds its options, each help text
        # repeated per plugin: show the common ones briefly, hide the
        # others (they still work).
        for action in parser._actions:
            if id(action) in before or action.dest == "os_auth_type":
                continue
            shown = SHOWN_AUTH_OPTIONS.intersection(action.option_strings)
            if shown:
                option = sorted(shown)[0]
                action.help = "authentication: %s (Env: %s)" % (
                    option[5:].replace("-", " "),
                    option[2:].upper().replace("-", "_"),
                )
            else:
                action.help = argparse.SUPPRESS
        return parser

    def _final_defaults(self) -> None:
        # As OpenStackClient: token + endpoint means admin_token auth,
        # anything else defaults to password auth.
        super()._final_defaults()
        options = self.options
        if getattr(options, "endpoint", None) and getattr(options, "token", None):
            self._auth_type = "admin_token"
            # The token and endpoint are the whole credential: a cloud of
            # clouds.yaml (OS_CLOUD) would add its password options, which
            # the token plugin refuses.
            if getattr(options, "cloud", None):
                LOG.debug(
                    "--os-token with --os-endpoint: ignoring cloud %r", options.cloud
                )
                options.cloud = ""
        else:
            self._auth_type = "password"

    def prepare_to_run_command(self, cmd: Any) -> None:
        if self.admin_factory is not None:
            return
        super().prepare_to_run_command(cmd)

    def clean_up(self, cmd: Any, result: int, err: BaseException | None) -> None:
        if self.admin_factory is not None:
            return
        super().clean_up(cmd, result, err)


#: The garbage collector's thresholds during a command: an inventory of
#: 100,000 hosts is millions of objects, and with Python's default (700, 10,
#: 10) the collector keeps walking them (a tenth of a command's time);
#: cycles are still collected.
GC_THRESHOLDS = (50_000, 20, 20)


def main(argv: list[str] | None = None, **kwargs: Any) -> int:
    """Entry point of ``aggregate-pci``; ``kwargs`` go to the App."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        return AggregatePciApp(**kwargs).run(sys.argv[1:] if argv is None else argv)
    finally:
        gc.set_threshold(*before)


if __name__ == "__main__":
    sys.exit(main())
