"""The streams' errors, each under the contract's error of the same meaning.

    StreamsError            base: one line that says what to do
    ├── JavaMissing         no Java 17+ (or no pyspark) for the local Spark session (exit 5)
    ├── StreamFailed        a query stopped with an error (exit 4)
    └── StateProblem        checkpoint or table folder unusable (exit 5)

Corrupt landed files, and files outside the key layout, are not errors of the run: they
are skipped, reported by path, and make the run end with ``ExitCode.MISMATCH`` (1) once
everything else is ingested. The codes are the contract's (``sensorlake.contract.errors``).
"""

from __future__ import annotations

from sensorlake.contract import errors as contract

__all__ = ["JavaMissing", "StateProblem", "StreamFailed", "StreamsError"]


class StreamsError(contract.SensorlakeError):
    """Base of every error the streams raise on purpose."""


class JavaMissing(StreamsError, contract.LocalStateError):
    """A local prerequisite of the Spark session (Java 17+, pyspark) is missing."""


class StreamFailed(StreamsError, contract.DestinationError):
    """A stream stopped with an error: its table did not take the batch."""


class StateProblem(StreamsError, contract.LocalStateError):
    """A checkpoint or table folder cannot be used (not its table's, unreadable)."""
