"""Gateway landing: SQLite sensor readings to S3, exactly once.

The public surface is small: build a :class:`LandingConfig` (``load_config``), load the
:class:`Rules`, pick a sink, and run a :class:`Lander`. Everything else is internal.

    config = load_config(db_path=Path("var/sensor_data.db"))
    summary = Lander(config, load_rules(config.rules_path), LocalLakeSink(config.lake_dir)).run_once()
"""

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.pipelines import PIPELINES

from .config import LandingConfig, load_config
from .errors import (
    ConfigError,
    DestinationError,
    DestinationUnavailable,
    LandingError,
    LocalStorageError,
    ObjectConflict,
    SourceError,
    TerminalError,
    TransientError,
)
from .rules import Rules, load_rules
from .runner import Lander, RunSummary
from .sink import FakeSink, LocalLakeSink, S3Sink, Sink

__all__ = [
    "PIPELINES",
    "ConfigError",
    "DestinationError",
    "DestinationUnavailable",
    "FakeSink",
    "Lander",
    "LandingConfig",
    "LandingError",
    "LandingKey",
    "LocalLakeSink",
    "LocalStorageError",
    "ObjectConflict",
    "Rules",
    "RunSummary",
    "S3Sink",
    "Sink",
    "SourceError",
    "TerminalError",
    "TransientError",
    "load_config",
    "load_rules",
]
