"""infra's errors: the contract's exit code of each meaning, and what each one lists."""

from __future__ import annotations

from sensorlake.contract import errors as contract
from sensorlake.contract.errors import ExitCode
from sensorlake.infra import errors


def test_config_error_lists_every_problem_under_its_source() -> None:
    error = errors.ConfigError(["stage: missing", "region: not a region"], source="infra.yaml")
    assert error.exit_code == ExitCode.USAGE and isinstance(error, contract.ConfigError)
    assert error.source == "infra.yaml"
    lines = str(error).splitlines()
    assert lines == ["infra.yaml is invalid:", "  - stage: missing", "  - region: not a region"]


def test_prerequisite_error_names_what_is_missing() -> None:
    error = errors.PrerequisiteError(["cdktf", "terraform"])
    assert error.exit_code == ExitCode.LOCAL and isinstance(error, contract.LocalStateError)
    assert error.missing == ["cdktf", "terraform"]
    assert str(error).splitlines()[1:] == ["  - cdktf", "  - terraform"]


def test_command_error_carries_argv_and_returncode() -> None:
    error = errors.CommandError(["git", "status"], 128, detail="not a git repository")
    assert error.exit_code == ExitCode.LOCAL
    assert error.argv == ["git", "status"] and error.returncode == 128
    assert str(error) == "command failed (128): git status\nnot a git repository"
    assert str(errors.CommandError(["uv", "build"], 1)) == "command failed (1): uv build"


def test_a_failed_deploy_is_the_destination_refusing() -> None:
    error = errors.DeployFailed(["cdktf", "deploy"], 1)
    assert isinstance(error, errors.CommandError) and isinstance(error, contract.DestinationError)
    assert error.exit_code == ExitCode.DESTINATION
    assert all(issubclass(c, errors.InfraError) for c in (errors.ConfigError, errors.DeployFailed))
