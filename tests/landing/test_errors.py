"""landing's error tree: each class carries the contract's exit code of its meaning,
renders as one line with its hint, and disk problems become one actionable line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sensorlake.contract import errors as contract
from sensorlake.contract.errors import ExitCode
from sensorlake.landing import errors


@pytest.mark.parametrize(
    ("cls", "code", "meaning"),
    [
        (errors.LandingError, ExitCode.INTERNAL, contract.SensorlakeError),
        (errors.TerminalError, ExitCode.INTERNAL, contract.SensorlakeError),
        (errors.ConfigError, ExitCode.USAGE, contract.ConfigError),
        (errors.SourceError, ExitCode.SOURCE, contract.SourceError),
        (errors.LocalStorageError, ExitCode.LOCAL, contract.LocalStateError),
        (errors.DestinationError, ExitCode.DESTINATION, contract.DestinationError),
        (errors.ObjectConflict, ExitCode.CONFLICT, contract.ConflictError),
        (errors.TransientError, ExitCode.UNAVAILABLE, contract.UnavailableError),
        (errors.DestinationUnavailable, ExitCode.UNAVAILABLE, contract.UnavailableError),
    ],
)
def test_each_error_has_the_exit_code_of_its_contract_meaning(
    cls: type[errors.LandingError], code: ExitCode, meaning: type[Exception]
) -> None:
    error = cls("the gateway database is locked", hint="stop the other writer, rerun")
    assert error.exit_code == code and isinstance(error, meaning)
    assert isinstance(error, errors.LandingError)
    assert str(error) == "the gateway database is locked. stop the other writer, rerun"


def test_terminal_and_transient_errors_are_told_apart() -> None:
    """The runner retries only transient errors: no class may be both."""
    terminal = [errors.ConfigError, errors.SourceError, errors.LocalStorageError]
    terminal += [errors.DestinationError, errors.ObjectConflict]
    for cls in terminal:
        assert issubclass(cls, errors.TerminalError)
        assert not issubclass(cls, errors.TransientError)
    assert not issubclass(errors.DestinationUnavailable, errors.TerminalError)


@pytest.mark.parametrize(
    ("code", "needle"),
    [(errno.ENOSPC, "disk full"), (errno.EACCES, "cannot write"), (errno.EIO, "storage error")],
)
def test_disk_problems_are_one_line_local_storage_errors(code: int, needle: str) -> None:
    error = errors.storage_error(OSError(code, os.strerror(code)), Path("/var/spool"))
    assert isinstance(error, errors.LocalStorageError) and error.exit_code == 5
    assert needle in str(error) and error.hint and "\n" not in str(error)
    assert "/var/spool" in str(error)
