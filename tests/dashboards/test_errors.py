"""The dashboards' errors: each carries the contract's exit code of its meaning, one line."""

from __future__ import annotations

import pytest

from sensorlake.contract import errors as contract
from sensorlake.contract.errors import ExitCode
from sensorlake.dashboards import errors


@pytest.mark.parametrize(
    ("cls", "code", "meaning"),
    [
        (errors.DashboardError, ExitCode.INTERNAL, contract.SensorlakeError),
        (errors.ConfigError, ExitCode.USAGE, contract.ConfigError),
        (errors.NotConfigured, ExitCode.USAGE, contract.ConfigError),
        (errors.BackendUnavailable, ExitCode.UNAVAILABLE, contract.UnavailableError),
    ],
)
def test_each_error_has_the_exit_code_of_its_contract_meaning(
    cls: type[errors.DashboardError], code: ExitCode, meaning: type[Exception]
) -> None:
    error = cls("the warehouse did not answer", hint="rerun later")
    assert error.exit_code == code and isinstance(error, meaning)
    assert isinstance(error, errors.DashboardError)
    assert str(error) == "the warehouse did not answer. rerun later"
    assert "\n" not in str(error)
