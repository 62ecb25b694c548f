"""One exit-code table and one error base for every sensorlake command.

Every exit code a command can end with is a member of :class:`ExitCode`, with what it means
and what to do about it, written here once: the CLIs exit with these members, the docs page
``docs/exit-codes.md`` is rendered from them (``python -m sensorlake.contract.errors``
rewrites it), and a house-rule test fails on an exit-code literal anywhere else.

Every error raised on purpose derives from :class:`SensorlakeError`: it carries its exit
code (by meaning, not by package) and renders as one line, "what happened. what to do"::

    SensorlakeError              70 unless a subclass says otherwise
    ├── UsageError               2  bad option or environment
    │   └── ConfigError          2  a rules or configuration file, or a setting, is wrong
    ├── SourceError              3  the input cannot be read
    ├── DestinationError         4  S3 or a table refuses
    │   └── ConflictError        6  a different object already sits at a key
    ├── LocalStateError          5  this machine: disk, permissions, state, a prerequisite
    ├── MismatchError            1  finished, but not everything checks out
    └── UnavailableError         75 try again later; nothing is lost

Packages subclass these (landing's, streams', dashboards' and infra's trees sit under them)
and never define an exit code of their own. :func:`exit_with` is the one place a command
turns an exception into its line on stderr and its exit code; ``contract.cli.handle_errors``
wraps click commands with it. Standard library only.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import ClassVar, NoReturn, TextIO

__all__ = [
    "DOC_PATH",
    "ConfigError",
    "ConflictError",
    "DestinationError",
    "ExitCode",
    "LocalStateError",
    "MismatchError",
    "SensorlakeError",
    "SourceError",
    "UnavailableError",
    "UsageError",
    "exit_with",
    "render_markdown",
    "unexpected_line",
]


class ExitCode(IntEnum):
    """What a command's exit status means, with what to do next (``meaning``, ``todo``)."""

    meaning: str
    todo: str

    def __new__(cls, value: int, meaning: str = "", todo: str = "") -> ExitCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.todo = todo
        return member

    OK = 0, "done: everything checks out", "nothing"
    MISMATCH = (
        1,
        "the run finished but not everything checks out: a `--verify` or `migrate compare` "
        "mismatch, `status` degraded, corrupt or outside-layout files skipped by the streams, "
        "objects that are not the old uploader's skipped by `migrate backfill`",
        "read the report: it names each table, file or object; fix or remove them, rerun",
    )
    USAGE = (
        2,
        "bad option, environment, rules file or configuration",
        "fix what the error line names (see `--help`), rerun",
    )
    SOURCE = (
        3,
        "the input cannot be read: the sensor database is missing, corrupt, locked or has "
        "the wrong table",
        "check the database path and file; rerun: nothing was read past the last landed row",
    )
    DESTINATION = (
        4,
        "S3 or a table destination refuses: credentials, access denied, missing bucket, "
        "clock skew; a stream failed",
        "fix access or the destination (`sensorlake validate` checks the buckets), rerun",
    )
    LOCAL = (
        5,
        "this machine: disk full, permissions, the state, checkpoint or spool is unusable, "
        "a local prerequisite (Java, cdktf) is missing",
        "free space, fix permissions or install what is named, rerun",
    )
    CONFLICT = (
        6,
        "a different object already sits at a key: kept, never overwritten",
        "compare the two objects (the error names the key); remove the wrong one, rerun",
    )
    INTERNAL = (
        70,
        "a bug: an unexpected error (one line, no traceback)",
        "please report it; run with -vv for the traceback",
    )
    UNAVAILABLE = (
        75,
        "try again later, nothing is lost: S3 unreachable (files stay spooled), `status` "
        "could not read a backend within its time, `migrate rollback-state` inside a run of "
        "equal timestamps",
        "rerun later (cron or the daemon retries); the error names what was unreachable",
    )
    INTERRUPTED = (
        130,
        "stopped by Ctrl-C (SIGINT) before the command finished",
        "rerun: what was accepted is kept and the next run resumes",
    )


class SensorlakeError(Exception):
    """Base of every error sensorlake raises on purpose: one line and an exit code.

    ``problems`` (optional) lists several things wrong at once, one per line under the
    message, so a configuration is fixed in one pass rather than one error per run.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL

    def __init__(
        self, message: str, *, hint: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = list(problems)

    def __str__(self) -> str:
        line = f"{self.message}. {self.hint}" if self.hint else self.message
        if not self.problems:
            return line
        return line + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


class UsageError(SensorlakeError):
    """A bad option or environment: fix the command line, rerun."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A rules or configuration file, or a setting, is wrong: fix it, rerun."""


class SourceError(SensorlakeError):
    """The input cannot be read (the sensor database)."""

    exit_code = ExitCode.SOURCE


class DestinationError(SensorlakeError):
    """S3 or a table refuses: credentials, access, bucket, clock; a stream failed."""

    exit_code = ExitCode.DESTINATION


class ConflictError(DestinationError):
    """A different object already sits at a key: kept for review, never overwritten."""

    exit_code = ExitCode.CONFLICT


class LocalStateError(SensorlakeError):
    """This machine: disk, permissions, state/checkpoint/spool, a local prerequisite."""

    exit_code = ExitCode.LOCAL


class MismatchError(SensorlakeError):
    """The run finished but not everything checks out (verify, compare, skipped files)."""

    exit_code = ExitCode.MISMATCH


class UnavailableError(SensorlakeError):
    """Try again later: a backend could not be reached; nothing accepted is lost."""

    exit_code = ExitCode.UNAVAILABLE


def unexpected_line(exc: BaseException) -> str:
    """The one line a user sees for a bug (the traceback only with -vv)."""
    detail = str(exc).strip().splitlines()
    what = f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
    return f"unexpected error ({what}): this is a bug, {ExitCode.INTERNAL.todo}"


def exit_with(
    exc: BaseException, *, show_traceback: bool = False, stream: TextIO | None = None
) -> NoReturn:
    """End the command for ``exc``: its line on stderr, then its exit code.

    Errors raised on purpose exit with their own code; Ctrl-C with ``INTERRUPTED``; anything
    else is a bug: one line and ``INTERNAL``, with the traceback only when asked (-vv).
    """
    out = stream if stream is not None else sys.stderr
    if isinstance(exc, SensorlakeError):
        print(f"error: {exc}", file=out, flush=True)
        sys.exit(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=out, flush=True)
        sys.exit(ExitCode.INTERRUPTED)
    if show_traceback:
        traceback.print_exception(exc, file=out)
    print(f"error: {unexpected_line(exc)}", file=out, flush=True)
    sys.exit(ExitCode.INTERNAL)


def render_markdown() -> str:
    """``docs/exit-codes.md``: the table, rendered from :class:`ExitCode`."""
    lines = [
        "# Exit codes",
        "",
        "<!-- generated from sensorlake.contract.errors.ExitCode: edit the table there and",
        "     run `python -m sensorlake.contract.errors` to rewrite this file -->",
        "",
        "Every `sensorlake` command ends with one of these codes; an error is one line on",
        "stderr that says what happened and what to do. The same code means the same thing",
        "in every command, so a script or cron job can act on it.",
        "",
        "| code | name | meaning | what to do |",
        "| ---: | --- | --- | --- |",
    ]
    for code in ExitCode:
        lines.append(f"| {code.value} | `{code.name}` | {code.meaning} | {code.todo} |")
    return "\n".join(lines) + "\n"


DOC_PATH = Path("docs") / "exit-codes.md"

if __name__ == "__main__":  # python -m sensorlake.contract.errors [PATH]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH
    target.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {target}")
