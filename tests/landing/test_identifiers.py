"""Identifiers are checked whole (issue 13): ``$`` lets a trailing newline through, and a
gateway id ``"gw1\\n"`` then committed files under ``gateway=gw1\\n/`` that blocked shipping
for ever. A spooled file that cannot ship is reported by path and kept; the rest ship."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.contract.keys import LandingKey, is_gateway_id
from sensorlake.contract.pipelines import bucket_name_problems
from sensorlake.landing.config import LandingConfig, load_config
from sensorlake.landing.errors import ConfigError
from sensorlake.landing.row_checks import Validator
from sensorlake.landing.rules import Rules
from sensorlake.landing.simulate import simulate_bulk

from ..support.flow import land
from .conftest import SENSORLAKE, child_env, read_lake, source_ids


@pytest.mark.parametrize("gateway", ["gw1\n", "gw1\r\n", "\ngw1", "gw 1", "gw1/x", ""])
def test_a_gateway_id_is_checked_whole(gateway: str) -> None:
    assert not is_gateway_id(gateway)
    with pytest.raises(ConfigError, match="cannot be used in object keys"):
        load_config(
            env={"SENSORLAKE_GATEWAY_ID": gateway} if gateway else {}, gateway_id=gateway or "-"
        )
    with pytest.raises(ValueError, match="not a landing key"):
        LandingKey.parse(LandingKey("raw", "2026-03-01", gateway, 1, 1, 2).format())
    assert is_gateway_id("gw1")


def test_the_cli_refuses_a_gateway_id_with_a_trailing_newline(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["land", "--db-path", str(tmp_path / "x.db"), "--lake-dir", str(tmp_path / "lake")],
        env={"SENSORLAKE_GATEWAY_ID": "gw1\n", "SENSORLAKE_STATE_DIR": str(tmp_path / "s")},
    )
    assert result.exit_code == 2
    assert "cannot be used in object keys" in result.output
    assert not (tmp_path / "lake").exists()


def test_bucket_names_are_checked_whole() -> None:
    assert bucket_name_problems("sensor-data-raw\n")
    assert bucket_name_problems("1.2.3.4\n") and not bucket_name_problems("sensor-data-raw")


def test_rules_patterns_are_matched_whole(rules: Rules) -> None:
    check = Validator(rules).check
    good = {"sensor_id": "NYC_ABC123", "firmware_version": "3.2.1"}
    assert "sensor_id.format" not in check(good).reasons
    assert "sensor_id.format" in check({**good, "sensor_id": "NYC_ABC123\n"}).reasons
    bad_firmware = check({**good, "firmware_version": "3.2.1\n"})
    assert "firmware_version.format" in bad_firmware.reasons


def test_a_file_that_cannot_ship_is_reported_kept_and_the_rest_ship(
    tmp_path: Path, make_config: Callable[..., LandingConfig], rules: Rules
) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 30, seed=2)
    config = make_config(db, gateway_id="gw1")
    # what a lander that took "gw1\n" (the check before this fix) committed
    older = dataclasses.replace(config, gateway_id="gw1\n")
    first = land(older, rules)
    assert first.exit_code == 5
    stranded = [Path(p) for p in first.stranded_files]
    assert stranded and all(p.exists() and "gateway=gw1\n" in str(p) for p in stranded)
    assert not read_lake(config.lake_dir)

    simulate_bulk(db, 20, seed=3)
    args = [
        SENSORLAKE,
        "land",
        "--db-path",
        str(db),
        "--state-dir",
        str(config.state_dir),
        "--lake-dir",
        str(config.lake_dir),
        "--gateway-id",
        "gw1",
    ]
    result = subprocess.run(args, env=child_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    for path in stranded:
        lines = [line for line in result.stderr.splitlines() if repr(str(path)) in line]
        assert len(lines) == 1 and "cannot ship" in lines[0] and "It is kept" in lines[0]
        assert "then delete it" in lines[0]
        assert path.exists()
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(config.lake_dir)["raw"])
    assert raw_ids == source_ids(db)[30:]  # everything after the stranded files shipped

    for path in stranded:  # the operator took them out (after copying them by hand)
        path.unlink()
    result = subprocess.run(args, env=child_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("removed by hand") == len(stranded)
    result = subprocess.run(args, env=child_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "removed by hand" not in result.stderr


def test_an_open_file_under_a_bad_key_is_kept_and_reported(
    tmp_path: Path, make_config: Callable[..., LandingConfig], rules: Rules
) -> None:
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 30, seed=2)
    config = make_config(db, gateway_id="gw1", pipelines="raw")
    config = dataclasses.replace(
        config, limits=dataclasses.replace(config.limits, file_max_age_seconds=3600)
    )
    older = dataclasses.replace(config, gateway_id="gw1\n")
    land(older, rules, rolling=True)  # files stay open
    simulate_bulk(db, 20, seed=3)
    for _ in range(2):  # and again: the open file is still recorded, still kept
        summary = land(config, rules)
        assert summary.exit_code == 5
        (path,) = summary.stranded_files
        assert Path(path).exists() and "/spool/tmp/" in path
    raw_ids = sorted(r["_lineage"]["row_id"] for r in read_lake(config.lake_dir)["raw"])
    assert raw_ids == source_ids(db)[30:]
