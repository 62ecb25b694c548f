"""One exception tree for landing, grouped by what the operator does next.

    LandingError                      exit 1  (bug or unexpected state)
    ├── TerminalError                 fix something, then rerun
    │   ├── ConfigError               exit 2  wrong option, environment or rules file
    │   ├── SourceError               exit 3  sensor database missing, corrupt, locked, wrong table
    │   ├── LocalStorageError         exit 5  state dir or spool: disk full, permissions
    │   └── DestinationError          exit 4  credentials, access denied, missing bucket, clock skew
    │       └── ObjectConflict        exit 6  a different object already sits at a key
    └── TransientError                exit 75 (EX_TEMPFAIL) try again later: nothing is lost
        └── DestinationUnavailable    S3 unreachable; files stay spooled

Every error renders as one line: what happened, then what to do.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = [
    "ConfigError",
    "DestinationError",
    "DestinationUnavailable",
    "LandingError",
    "LocalStorageError",
    "ObjectConflict",
    "SourceError",
    "TerminalError",
    "TransientError",
    "storage_error",
]


class LandingError(Exception):
    """Base of every error landing raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


class TerminalError(LandingError):
    """Retrying will not help until someone changes something."""


class TransientError(LandingError):
    """Retrying later can succeed; nothing accepted so far is lost."""

    exit_code = 75


class ConfigError(TerminalError):
    exit_code = 2


class SourceError(TerminalError):
    exit_code = 3


class LocalStorageError(TerminalError):
    exit_code = 5


class DestinationError(TerminalError):
    exit_code = 4


class ObjectConflict(DestinationError):
    """A different object already exists at a key we own: never overwritten, kept for review."""

    exit_code = 6


class DestinationUnavailable(TransientError):
    """The destination could not be reached (network, throttling, 5xx)."""


def storage_error(exc: OSError, where: Path) -> LocalStorageError:
    """Translate a disk problem (spool, state, lake) into one actionable line."""
    if exc.errno == errno.ENOSPC:
        return LocalStorageError(
            f"disk full while writing {where}",
            hint="free space on that disk or lower SENSORLAKE_SPOOL_MAX_MB; nothing accepted "
            "is lost and the next run resumes",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalStorageError(
            f"cannot write {where} ({exc.strerror})",
            hint="give the landing user write access or choose another --state-dir",
        )
    return LocalStorageError(f"local storage error at {where}: {exc}", hint="check the disk")
