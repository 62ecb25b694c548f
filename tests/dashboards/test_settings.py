"""The monitor's settings: parsed once from options and the environment; a bad value is one
line naming its variable; the secrets it must keep out of logs are the declared ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.settings import ConfigSpec
from sensorlake.dashboards import settings as settings_module
from sensorlake.dashboards.errors import ConfigError
from sensorlake.dashboards.settings import SECRET_ENV, load_settings

pytestmark = pytest.mark.dashboards


@pytest.mark.parametrize(
    ("var", "bad"),
    [
        ("SENSORLAKE_MONITOR_TTL", "soon"),
        ("SENSORLAKE_BACKEND_TIMEOUT_SECONDS", "0"),
        ("SENSORLAKE_STATUS_TIMEOUT_SECONDS", "-3"),
        ("SENSORLAKE_STALL_SECONDS", "x"),
    ],
)
def test_a_bad_value_is_one_usage_line_naming_its_variable(var: str, bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={var: bad})
    assert err.value.exit_code == 2
    assert str(err.value).startswith(var) and "\n" not in str(err.value)


def test_the_secret_settings_never_show_in_the_repr() -> None:
    env = {"SENSORLAKE_MONITOR_TOKEN": "hunter2", "DATABRICKS_TOKEN": "dapi-hunter3"}
    shown = repr(load_settings(env=env))
    assert "hunter2" not in shown and "hunter3" not in shown


def test_every_declared_secret_is_redacted_with_the_sdks_own() -> None:
    declared = {
        name
        for group in (
            settings_module.Settings,
            settings_module.DatabricksSettings,
            settings_module.S3Settings,
            settings_module.Thresholds,
        )
        for spec in group.settings().values()
        if spec.secret
        for name in (spec.env, *spec.fallbacks, *spec.aliases)
    }
    assert {"DATABRICKS_TOKEN", "SENSORLAKE_MONITOR_TOKEN"} <= declared
    assert declared <= set(SECRET_ENV)
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "DATABRICKS_CLIENT_SECRET"} <= set(
        SECRET_ENV
    )
    assert len(SECRET_ENV) == len(set(SECRET_ENV))


def test_the_values_of_the_secrets_that_are_set_are_kept_to_redact() -> None:
    env = {"DATABRICKS_TOKEN": "dapi-x", "AWS_SESSION_TOKEN": "sess-y", "DATABRICKS_HOST": "h"}
    loaded = load_settings(env=env)
    assert set(loaded.secrets) == {"dapi-x", "sess-y"}
    assert "dapi-x" not in repr(loaded) and "sess-y" not in repr(loaded)
    assert load_settings(env={}).secrets == ()


def test_a_new_secret_setting_is_redacted_without_another_list() -> None:
    """The secret names are written once: a group's ``secret=True`` is enough."""
    from sensorlake.contract.settings import configspec, setting

    @configspec("test", register=False)
    class Extra(ConfigSpec):
        key: str | None = setting("X_API_KEY", None, "a key", secret=True, aliases=("OLD_KEY",))
        plain: str | None = setting("X_PLAIN", None, "not a secret")

    names = settings_module._secret_env(Extra)
    assert names[:2] == ("X_API_KEY", "OLD_KEY") and "X_PLAIN" not in names


def test_the_cache_path_defaults_under_the_state_dir(tmp_path: Path) -> None:
    assert load_settings(env={}, state_dir=tmp_path).cache_path == (
        tmp_path / "monitor" / "cache.sqlite"
    )
    chosen = tmp_path / "c.sqlite"
    assert load_settings(env={"SENSORLAKE_MONITOR_CACHE": str(chosen)}).cache_path == chosen


def test_settings_choose_backends_from_the_environment(tmp_path: Path) -> None:
    local = load_settings(env={})
    assert local.landing == "local" and local.tables == "local"
    assert str(local.warehouse_dir) == "var/warehouse"
    cloud = load_settings(
        env={"S3_BUCKET_RAW": "b", "AWS_ENDPOINT_URL": "http://x:1", "AWS_REGION": "eu-west-1"}
    )
    assert cloud.landing == "s3" and cloud.tables == "databricks"
    assert (
        cloud.s3 is not None
        and cloud.s3.buckets == {"raw": "b"}
        and cloud.s3.endpoint_url == "http://x:1"
    )
    forced = load_settings(env={"S3_BUCKET_RAW": "b"}, lake_dir=tmp_path, force_local_lake=True)
    assert forced.landing == "local" and forced.lake_dir == tmp_path
    assert load_settings(env={"SENSORLAKE_WAREHOUSE_DIR": "/w"}).warehouse_dir == Path("/w")
    assert load_settings(env={"DATABRICKS_HOST": "h"}).tables == "databricks"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SENSORLAKE_LAG_SECONDS": "x"}, "SENSORLAKE_LAG_SECONDS must be a number of seconds"),
        ({"SENSORLAKE_MONITOR_TTL": "-1"}, "SENSORLAKE_MONITOR_TTL must be positive"),
        ({"SENSORLAKE_LAG_SECONDS": "60", "SENSORLAKE_STALL_SECONDS": "30"}, "must not be below"),
    ],
)
def test_bad_settings_are_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_catalog_and_schema_follow_the_contracts_name_rule() -> None:
    """Old: any SENSORLAKE_CATALOG / SENSORLAKE_SCHEMA accepted, queried as a bad table name."""
    from sensorlake.dashboards.errors import ConfigError
    from sensorlake.dashboards.settings import load_settings

    for var, bad in (("SENSORLAKE_CATALOG", "sensor-data"), ("SENSORLAKE_SCHEMA", "1pipeline")):
        with pytest.raises(ConfigError) as err:
            load_settings(env={var: bad})
        assert str(err.value).startswith(f"{var} {bad!r} is not a valid Unity Catalog name")
    assert load_settings(env={"SENSORLAKE_CATALOG": "acme"}).catalog == "acme"


def test_silent_seconds_setting() -> None:
    from sensorlake.dashboards.errors import ConfigError
    from sensorlake.dashboards.settings import load_settings

    assert load_settings(env={}).thresholds.silent_seconds == 900.0
    assert load_settings(env={"SENSORLAKE_SILENT_SECONDS": "60"}).thresholds.silent_seconds == 60
    with pytest.raises(ConfigError, match="SENSORLAKE_SILENT_SECONDS must be a number"):
        load_settings(env={"SENSORLAKE_SILENT_SECONDS": "soon"})
