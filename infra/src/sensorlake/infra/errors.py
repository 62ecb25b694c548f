"""Errors of the infra package.

::

    InfraError                 base: every error this package raises on purpose
    ├── ConfigError            terminal: the YAML or the environment is wrong; fix and rerun
    ├── PrerequisiteError      terminal: a deploy prerequisite is missing (lists all of them)
    └── CommandError           an external command (git, cdktf, checkov) failed
"""

from __future__ import annotations

__all__ = ["CommandError", "ConfigError", "InfraError", "PrerequisiteError"]


class InfraError(Exception):
    """Base of every error raised on purpose by sensorlake.infra."""


class ConfigError(InfraError):
    """The configuration is invalid; the message names each problem and where it is."""

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source} is invalid:\n{lines}")


class PrerequisiteError(InfraError):
    """Deploying needs things that are missing; ``missing`` says exactly which."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = list(missing)
        lines = "\n".join(f"  - {m}" for m in self.missing)
        super().__init__(f"cannot deploy, missing prerequisites:\n{lines}")


class CommandError(InfraError):
    """An external command failed; carries its argv and exit code."""

    def __init__(self, argv: list[str], returncode: int, detail: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        msg = f"command failed ({returncode}): {' '.join(argv)}"
        super().__init__(f"{msg}\n{detail}" if detail else msg)
