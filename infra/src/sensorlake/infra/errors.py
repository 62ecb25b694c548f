"""Errors of the infra package, each under the contract's error of the same meaning.

::

    InfraError                 base: every error this package raises on purpose
    ├── ConfigError            exit 2  the YAML or the environment is wrong (lists every problem)
    ├── PrerequisiteError      exit 5  a deploy prerequisite is missing here (lists all of them)
    └── CommandError           exit 5  an external command (git, cdktf, checkov, uv) failed
        └── DeployFailed       exit 4  `cdktf deploy` failed: the cloud refused

The exit codes are the contract's table (``sensorlake.contract.errors``).
"""

from __future__ import annotations

from sensorlake.contract import errors as contract

__all__ = ["CommandError", "ConfigError", "DeployFailed", "InfraError", "PrerequisiteError"]


class InfraError(contract.SensorlakeError):
    """Base of every error raised on purpose by sensorlake.infra."""


class ConfigError(InfraError, contract.ConfigError):
    """The configuration is invalid; the message names each problem and where it is."""

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.source = source
        super().__init__(f"{source} is invalid", problems=problems)


class PrerequisiteError(InfraError, contract.LocalStateError):
    """Deploying needs things that are missing; ``missing`` says exactly which."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = list(missing)
        super().__init__("cannot deploy, missing prerequisites", problems=self.missing)


class CommandError(InfraError, contract.LocalStateError):
    """An external command failed; carries its argv and exit code."""

    def __init__(self, argv: list[str], returncode: int, detail: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        msg = f"command failed ({returncode}): {' '.join(argv)}"
        super().__init__(f"{msg}\n{detail}" if detail else msg)


class DeployFailed(CommandError, contract.DestinationError):
    """``cdktf deploy`` failed: the cloud (AWS, Databricks) refused what was planned."""

    exit_code = contract.ExitCode.DESTINATION
