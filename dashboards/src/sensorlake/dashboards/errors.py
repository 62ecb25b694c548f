"""The dashboards' one exception tree, under the contract's errors of the same meaning.

    DashboardError            a one-line message that says what to do
    ├── ConfigError           bad option or environment (exit 2)
    ├── NotConfigured         a backend is not set up (the page says "not configured"; exit 2)
    └── BackendUnavailable    S3, the warehouse or Databricks could not be read right now (exit 75)

Readers translate third-party failures into these at the boundary, so nothing above them
ever sees (or shows a client) a botocore or Thrift stack trace. The exit codes are the
contract's table (``sensorlake.contract.errors``).
"""

from __future__ import annotations

from sensorlake.contract import errors as contract

__all__ = ["BackendUnavailable", "ConfigError", "DashboardError", "NotConfigured"]


class DashboardError(contract.SensorlakeError):
    """Base of every error the dashboards raise on purpose."""


class ConfigError(DashboardError, contract.ConfigError):
    pass


class NotConfigured(DashboardError, contract.ConfigError):
    pass


class BackendUnavailable(DashboardError, contract.UnavailableError):
    pass
