"""``sensorlake streams run`` as a user runs it: real processes, signals, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.errors import ExitCode
from sensorlake.streams.config import LocalRunConfig
from sensorlake.streams.runner import run

from .conftest import lineage_keys, read_table

pytestmark = pytest.mark.streams
SENSORLAKE = str(Path(sys.executable).with_name("sensorlake"))


def _args(config: LocalRunConfig, *extra: str) -> list[str]:
    return [
        SENSORLAKE, "streams", "run",
        "--lake-dir", str(config.lake_dir),
        "--warehouse-dir", str(config.warehouse_dir),
        "--checkpoint-dir", str(config.checkpoint_dir),
        "--master", "local[1]",
        "--driver-memory", "512m",
        *extra,
    ]  # fmt: skip


class Lines:
    """A process's stderr, line by line, as it is written."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.append(line)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            assert time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.1)


def _popen(args: list[str]) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, Lines(proc)


def _batches(lines: list[str], table: str = "sensor_readings_raw") -> int:
    return sum(1 for line in lines if line.startswith(f"{table}: batch "))


@pytest.mark.slow
def test_sigkill_at_any_moment_then_restart_loses_and_duplicates_nothing(
    spark: Any, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("raw", "filtered"), max_files=1)
    expected = landed(3_000, file_rows=150)  # 20+ files per pipeline: many small batches
    for kill_after in (1, 4):
        proc, err = _popen(_args(config, "--pipelines", "raw,filtered", "--max-files", "1"))
        err.wait_for(lambda lines, n=kill_after: _batches(lines) >= n)
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(timeout=30)
    run(config, spark=spark, progress=lambda _: None)
    for target in config.targets:
        keys = lineage_keys(read_table(config, target))
        assert len(keys) == len(set(keys)) == expected[target]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_in_continuous_mode_finishes_the_batch_and_exits_0(
    signum: signal.Signals,
    spark: Any,
    landed: Callable[..., dict[str, int]],
    config: LocalRunConfig,
) -> None:
    config = replace(config, targets=("raw", "emergency"))
    expected = landed(2_000, file_rows=200)
    proc, err = _popen(
        _args(config, "--pipelines", "raw,emergency", "--continuous", "--interval", "1", "--json")
    )
    err.wait_for(lambda lines: _batches(lines) >= 1)
    proc.send_signal(signum)
    assert proc.stdout is not None
    out = proc.stdout.read()  # stderr is read by `err`'s thread
    proc.wait(timeout=120)
    err.thread.join(timeout=10)
    assert proc.returncode == 0, "".join(err.lines)[-3000:]
    summary = json.loads(out)
    assert summary["stopped"] is True
    assert any(signum.name in line for line in err.lines)
    # Whatever it committed is whole; the rest comes with the next run, exactly once.
    run(config, spark=spark, progress=lambda _: None)
    for target in config.targets:
        keys = lineage_keys(read_table(config, target))
        assert len(keys) == len(set(keys)) == expected[target]


def test_once_prints_a_summary_and_verify_checks_the_lake(
    landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    expected = landed(400)
    out = subprocess.run(
        _args(config, "--pipelines", "emergency,schematized", "--verify", "--json"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    tables = json.loads(out.stdout)["tables"]
    assert set(tables) == {"schematized", "emergency", "rejected"}
    for target, t in tables.items():
        assert t["rows"] == t["table_rows"] == t["landed_rows"] == expected[target]
    assert "sensor_readings_emergency: batch 0:" in out.stderr


def test_bad_options_exit_2_with_one_line(config: LocalRunConfig) -> None:
    for extra in (["--pipelines", "bronze"], ["--catalog", "bad-name"]):
        out = subprocess.run(_args(config, *extra), capture_output=True, text=True, timeout=60)
        assert out.returncode == 2
        assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1


def test_missing_or_old_java_says_how_to_install_it(tmp_path: Path, config: LocalRunConfig) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # no java on it
    out = subprocess.run(_args(config), capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == ExitCode.LOCAL
    assert out.stderr.count("\n") == 1 and "apt-get install openjdk-17-jre-headless" in out.stderr

    old = tmp_path / "jdk11" / "bin" / "java"
    old.parent.mkdir(parents=True)
    old.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    old.chmod(0o755)
    env["JAVA_HOME"] = str(old.parent.parent)
    out = subprocess.run(_args(config), capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == ExitCode.LOCAL and "Java 11 is too old" in out.stderr


@pytest.mark.parametrize("missing", ["pyspark", "deltalake"])
def test_without_the_local_extra_it_says_what_to_install(
    missing: str, config: LocalRunConfig
) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None; "
        "from sensorlake.contract.cli import main; main(sys.argv[1:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *_args(config)[1:]], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == ExitCode.LOCAL
    assert out.stderr.count("\n") == 1 and "sensorlake-streams[local]" in out.stderr
    assert missing in out.stderr


def test_a_checkpoint_of_another_table_exits_5_with_one_line_before_spark(
    spark: Any, tmp_path: Path, landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    config = replace(config, targets=("emergency",))
    landed(200)
    run(config, spark=spark, progress=lambda _: None)
    elsewhere = replace(config, warehouse_dir=tmp_path / "new-warehouse")
    out = subprocess.run(
        _args(elsewhere, "--pipelines", "emergency"), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 5, out.stderr[-3000:]
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: checkpoint ")
    assert "point --warehouse-dir at the table it belongs to" in out.stderr
    assert not elsewhere.warehouse_dir.exists()


def test_files_outside_the_key_layout_exit_1_and_are_in_the_json_summary(
    landed: Callable[..., dict[str, int]], config: LocalRunConfig
) -> None:
    import shutil

    from sensorlake.contract.lake import lake_path

    expected = landed(200)
    source = lake_path(config.lake_dir, "raw/")
    stray = source / "gateway=x" / "f.ndjson.gz"
    stray.parent.mkdir(parents=True)
    shutil.copyfile(sorted(source.rglob("*.ndjson.gz"))[0], stray)
    out = subprocess.run(
        _args(config, "--pipelines", "raw", "--json"), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == ExitCode.MISMATCH, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["skipped_files"] == [str(stray)]
    assert summary["tables"]["raw"]["rows"] == expected["raw"]
    assert "Traceback" not in out.stderr and f"skipped {stray}: not in the key layout" in out.stderr
