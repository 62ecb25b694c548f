"""Gateway landing: SQLite sensor readings to S3, exactly once.

The public surface is small: build a :class:`LandingConfig` (``load_config``), load the
:class:`Rules`, pick a sink, and run a :class:`Lander`. Everything else is internal.

    config = load_config(db_path=Path("var/sensor_data.db"))
    summary = Lander(config, load_rules(config.rules_path), LocalLakeSink(config.lake_dir)).run_once()

Names are imported on first use, so ``sensorlake --help`` or a run with nothing to do does
not pay for the whole flow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PIPELINES": "sensorlake.contract.pipelines",
    "LandingKey": "sensorlake.contract.keys",
    "RunSummary": "sensorlake.contract.summary",
    "LandingConfig": ".config",
    "load_config": ".config",
    "ConfigError": ".errors",
    "DestinationError": ".errors",
    "DestinationUnavailable": ".errors",
    "LandingError": ".errors",
    "LocalStorageError": ".errors",
    "ObjectConflict": ".errors",
    "SourceError": ".errors",
    "TerminalError": ".errors",
    "TransientError": ".errors",
    "LandedFile": ".files",
    "Rules": ".rules",
    "load_rules": ".rules",
    "Lander": ".runner",
    "S3Sink": ".s3",
    "FakeSink": ".sink",
    "LocalLakeSink": ".sink",
    "NullSink": ".sink",
    "Sink": ".sink",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
