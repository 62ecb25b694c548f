"""The root ``sensorlake`` command group, which every package extends.

Subcommands come from the ``sensorlake.commands`` entry points of whatever is installed, so
a gateway with only ``sensorlake-landing`` has the landing commands, and a workstation with
streams, infra and dashboards has theirs too, without any package importing another.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points, version
from typing import Any, TypeVar

import click

from .errors import exit_with
from .settings import PathSettings

__all__ = [
    "COMMANDS_GROUP",
    "HandledGroup",
    "PluginGroup",
    "errors_handled",
    "handle_errors",
    "main",
    "path_option",
]

COMMANDS_GROUP = "sensorlake.commands"
F = TypeVar("F", bound=Callable[..., Any])


class HandledGroup(click.Group):
    """A group whose subcommands end through :func:`errors_handled`: a bug is one line and
    exit 70, never a traceback (for groups run on their own, like ``python -m
    sensorlake.infra.cli``)."""

    def invoke(self, ctx: click.Context) -> Any:
        with errors_handled():
            return super().invoke(ctx)


class PluginGroup(HandledGroup):
    """Subcommands from installed packages' entry points, imported only when used."""

    def _entry_points(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._entry_points()) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            return None
        command = ep.load()
        if command.name != cmd_name:
            # One command registered under two names (``land`` and ``process``).
            command = _renamed(command, cmd_name)
        return command


def _wants_traceback() -> bool:
    """-vv on the root command (or debug logging) shows a bug's traceback."""
    ctx = click.get_current_context(silent=True)
    verbose = ctx.find_root().params.get("verbose") if ctx is not None else None
    if isinstance(verbose, int) and not isinstance(verbose, bool):  # the root's -v count
        return verbose >= 2
    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


@contextmanager
def errors_handled() -> Iterator[None]:
    """Turn whatever escapes a command into one line and its exit code (``exit_with``).

    click's own exceptions (usage errors, ``--help``, aborts) pass through: click renders them.
    """
    try:
        yield
    except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
        raise
    except (Exception, KeyboardInterrupt) as exc:
        exit_with(exc, show_traceback=_wants_traceback())


def handle_errors(fn: F) -> F:
    """Decorator for a click command's callback: :func:`errors_handled` around its body."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with errors_handled():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _renamed(command: click.Command, name: str) -> click.Command:
    if isinstance(command, click.Group):
        return click.Group(
            name, commands=command.commands, callback=command.callback, help=command.help
        )
    return click.Command(
        name,
        params=command.params,
        callback=command.callback,
        help=command.help,
        epilog=command.epilog,
        short_help=command.short_help,
    )


def path_option(name: str) -> Callable[[F], F]:
    """The shared ``--lake-dir``/``--state-dir``/... option: same flag, variable and default
    in every command that reads that place (declared once, in ``contract.settings``)."""
    return PathSettings.options(f"{name}_dir" if name != "db" else "db_path")


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("sensorlake-contract"), prog_name="sensorlake")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """sensorlake: sensor readings from gateway SQLite databases into Databricks.

    \b
    Examples:
      sensorlake simulate --rows 100000      # make a sample sensor database
      sensorlake land                        # land new readings once
      sensorlake land --continuous --interval 60
      sensorlake validate                    # check the S3 buckets
      sensorlake streams run                 # ingest landed files into tables
      sensorlake status                      # is every reading in its table?
      sensorlake monitor                     # dashboard on http://127.0.0.1:8000
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


if __name__ == "__main__":  # python -m sensorlake.contract.cli
    main()
