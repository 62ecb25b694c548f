"""``session.py``: which Java the local Spark session would start, said before Spark is."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.streams.errors import JavaMissing
from sensorlake.streams.session import INSTALL_JAVA, MIN_JAVA, java_version, require_java


def _java(home: Path, says: str) -> Path:
    """A JAVA_HOME whose ``bin/java -version`` prints ``says`` (as java does, on stderr)."""
    binary = home / "bin" / "java"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!/bin/sh\necho '{says}' >&2\n")
    binary.chmod(0o755)
    return home


@pytest.mark.parametrize(
    ("says", "major"),
    [
        ('openjdk version "17.0.9" 2023-10-17', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_the_major_version_of_java_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, says: str, major: int | None
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(_java(tmp_path / "jdk", says)))
    assert java_version() == major


def test_an_old_or_absent_java_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(_java(tmp_path / "jdk", 'java version "1.8.0_392"')))
    with pytest.raises(
        JavaMissing, match=f"Java 8 is too old for Spark 4 \\(needs {MIN_JAVA}\\+\\)"
    ):
        require_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(JavaMissing) as err:
        require_java()
    assert str(err.value) == f"no Java found for the local Spark session: {INSTALL_JAVA}"
