"""The streams' errors, each with the exit code the CLI ends with.

    StreamsError            base: one line that says what to do
    ├── JavaMissing         no Java 17+ (or no pyspark) for the local Spark session (exit 3)
    ├── StreamFailed        a query stopped with an error (exit 4)
    └── StateProblem        checkpoint or table folder unusable (exit 5)

Corrupt landed files, and files outside the key layout, are not errors of the run: they
are skipped, reported by path, and make the run end with exit code 6 once everything else
is ingested.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_OPTION",
    "EXIT_CORRUPT_FILES",
    "EXIT_MISMATCH",
    "JavaMissing",
    "StateProblem",
    "StreamFailed",
    "StreamsError",
]

EXIT_MISMATCH = 1
EXIT_BAD_OPTION = 2
EXIT_CORRUPT_FILES = 6


class StreamsError(Exception):
    exit_code = 4


class JavaMissing(StreamsError):
    exit_code = 3


class StreamFailed(StreamsError):
    exit_code = 4


class StateProblem(StreamsError):
    exit_code = 5
