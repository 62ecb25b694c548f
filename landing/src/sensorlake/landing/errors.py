"""One exception tree for landing, grouped by what the operator does next.

    LandingError                      exit 70 (a bug or unexpected state)
    ├── TerminalError                 fix something, then rerun
    │   ├── ConfigError               exit 2  wrong option, environment or rules file
    │   ├── SourceError               exit 3  sensor database missing, corrupt, locked, wrong table
    │   ├── LocalStorageError         exit 5  state dir or spool: disk full, permissions
    │   └── DestinationError          exit 4  credentials, access denied, missing bucket, clock skew
    │       └── ObjectConflict        exit 6  a different object already sits at a key
    └── TransientError                exit 75 (EX_TEMPFAIL) try again later: nothing is lost
        └── DestinationUnavailable    S3 unreachable; files stay spooled

Each class is also the contract's error of the same meaning (``sensorlake.contract.errors``),
which owns the exit codes and the one-line rendering: what happened, then what to do.
"""

from __future__ import annotations

import errno
from pathlib import Path

from sensorlake.contract import errors as contract

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


class LandingError(contract.SensorlakeError):
    """Base of every error landing raises on purpose."""


class TerminalError(LandingError):
    """Retrying will not help until someone changes something."""


class TransientError(LandingError, contract.UnavailableError):
    """Retrying later can succeed; nothing accepted so far is lost."""


class ConfigError(TerminalError, contract.ConfigError):
    pass


class SourceError(TerminalError, contract.SourceError):
    pass


class LocalStorageError(TerminalError, contract.LocalStateError):
    pass


class DestinationError(TerminalError, contract.DestinationError):
    pass


class ObjectConflict(DestinationError, contract.ConflictError):
    """A different object already exists at a key we own: never overwritten, kept for review."""


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
