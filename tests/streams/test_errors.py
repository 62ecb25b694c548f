"""The streams' errors: each carries the contract's exit code of its meaning, one line."""

from __future__ import annotations

import pytest

from sensorlake.contract import errors as contract
from sensorlake.contract.errors import ExitCode
from sensorlake.streams import errors


@pytest.mark.parametrize(
    ("cls", "code", "meaning"),
    [
        (errors.StreamsError, ExitCode.INTERNAL, contract.SensorlakeError),
        (errors.JavaMissing, ExitCode.LOCAL, contract.LocalStateError),
        (errors.StreamFailed, ExitCode.DESTINATION, contract.DestinationError),
        (errors.StateProblem, ExitCode.LOCAL, contract.LocalStateError),
    ],
)
def test_each_error_has_the_exit_code_of_its_contract_meaning(
    cls: type[errors.StreamsError], code: ExitCode, meaning: type[Exception]
) -> None:
    error = cls("the checkpoint belongs to another table", hint="choose another --checkpoints")
    assert error.exit_code == code and isinstance(error, meaning)
    assert isinstance(error, errors.StreamsError)
    assert str(error) == "the checkpoint belongs to another table. choose another --checkpoints"
    assert "\n" not in str(error)
