"""The local Spark session, and the Java check that comes before it.

Spark 4 needs Java 17 or newer; without it, pyspark fails with a long JVM launch error,
so the runner checks first and says how to install Java. On Databricks the runtime's
session is used instead (``SparkSession.builder.getOrCreate()`` in the job).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from sensorlake.contract.settings import SparkSettings

from .config import JavaSettings
from .errors import JavaMissing

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["INSTALL_JAVA", "MIN_JAVA", "java_version", "local_session", "require_java"]

MIN_JAVA = 17
INSTALL_JAVA = (
    "install Java 17 or newer (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; "
    "macOS: brew install openjdk@17) or set JAVA_HOME to one"
)
_SPARK = SparkSettings()  # the declared defaults, one each
_LOG4J = Path(__file__).with_name("log4j2.properties")
_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def _java_binary() -> str | None:
    home = JavaSettings.from_env().java_home
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_version() -> int | None:
    """The major version of the Java that Spark would start (None when there is none)."""
    binary = _java_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match[1])
    return int(match[2] or 0) if major == 1 else major  # "1.8.0" is Java 8


def require_java() -> int:
    version = java_version()
    if version is None:
        raise JavaMissing(f"no Java found for the local Spark session: {INSTALL_JAVA}")
    if version < MIN_JAVA:
        raise JavaMissing(
            f"Java {version} is too old for Spark 4 (needs {MIN_JAVA}+): {INSTALL_JAVA}"
        )
    return version


def local_session(
    master: str = _SPARK.master, *, memory: str = _SPARK.driver_memory, verbose: bool = False
) -> SparkSession:
    """A local session for the streams: UTC, no UI, few shuffle partitions, quiet logs."""
    require_java()
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("sensorlake-streams")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.files.ignoreCorruptFiles", "true")
        .config("spark.driver.memory", memory)
        # Nothing listens beyond this machine.
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG4J.as_uri()}")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN" if verbose else "FATAL")
    return spark
