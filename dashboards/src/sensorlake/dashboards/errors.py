"""The dashboards' one exception tree.

    DashboardError            a one-line message that says what to do
    ├── ConfigError           bad option or environment (exit 2)
    ├── NotConfigured         a backend is not set up (the page says "not configured")
    └── BackendUnavailable    S3, the warehouse or Databricks could not be read right now

Readers translate third-party failures into these at the boundary, so nothing above them
ever sees (or shows a client) a botocore or Thrift stack trace.
"""

from __future__ import annotations

__all__ = ["BackendUnavailable", "ConfigError", "DashboardError", "NotConfigured"]


class DashboardError(Exception):
    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(DashboardError):
    pass


class NotConfigured(DashboardError):
    pass


class BackendUnavailable(DashboardError):
    pass
