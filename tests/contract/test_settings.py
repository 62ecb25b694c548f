"""The settings mechanism: one declaration gives options and typed values; old spellings
warn once; a bad value is a usage error naming the variable; secrets stay secret."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sensorlake.contract import settings as mechanism
from sensorlake.contract.pipelines import DEFAULT_CATALOG
from sensorlake.contract.settings import (
    CatalogSettings,
    ConfigSpec,
    DatabricksSettings,
    PathSettings,
    S3Settings,
    SettingError,
    SparkSettings,
    configspec,
    setting,
    whole,
)


@configspec("Example", register=False)
class Example(ConfigSpec):
    """A group for these tests."""

    rows: int = setting(
        "EXAMPLE_ROWS_X",
        10,
        "rows",
        parse=whole(example=10),
        aliases=("OLD_ROWS_X",),
        option="--rows",
    )
    token: str | None = setting("EXAMPLE_TOKEN_X", None, "a secret", secret=True)
    plain: str = "given only"


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mechanism, "_warned", set())
    monkeypatch.setattr(
        mechanism, "_REGISTRY", [g for g in mechanism._REGISTRY if g is not Example]
    )


def test_given_over_variable_over_old_spelling_over_default() -> None:
    assert Example.from_env({}).rows == 10
    assert Example.from_env({"OLD_ROWS_X": "7"}).rows == 7
    assert Example.from_env({"OLD_ROWS_X": "7", "EXAMPLE_ROWS_X": "8"}).rows == 8
    assert Example.from_env({"EXAMPLE_ROWS_X": "8"}, rows=9).rows == 9
    assert Example.from_env({"EXAMPLE_ROWS_X": ""}).rows == 10  # empty means unset
    assert Example.from_env({}, plain="x").plain == "x"
    with pytest.raises(TypeError):
        Example.from_env({}, nope=1)


def test_an_old_spelling_warns_once_per_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sensorlake.settings")
    for _ in range(3):
        assert CatalogSettings.from_env({"UC_CATALOG": "acme"}).catalog == "acme"
    CatalogSettings.from_env({"UC_SCHEMA": "raw_zone"})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "UC_CATALOG is deprecated" in lines[0] and "SENSORLAKE_CATALOG" in lines[0]
    assert "UC_SCHEMA" in lines[1]
    caplog.clear()
    CatalogSettings.from_env({"SENSORLAKE_CATALOG": "acme"})  # the new name: no line
    assert caplog.records == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EXAMPLE_ROWS_X": "lots"}, "EXAMPLE_ROWS_X='lots' is not a whole number"),
        ({"OLD_ROWS_X": "0"}, "OLD_ROWS_X='0' must be positive"),
        ({"SENSORLAKE_CATALOG": "bad-name"}, "SENSORLAKE_CATALOG 'bad-name' is not a valid"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_variable(env: dict, message: str) -> None:
    group = CatalogSettings if "SENSORLAKE_CATALOG" in env else Example
    with pytest.raises(SettingError) as info:
        group.from_env(env)
    assert str(info.value).startswith(message)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_secrets_stay_out_of_repr_and_errors() -> None:
    values = Example.from_env({"EXAMPLE_TOKEN_X": "s3cr3t"})
    assert values.token == "s3cr3t" and "s3cr3t" not in repr(values)
    dbx = DatabricksSettings.from_env({"DATABRICKS_TOKEN": "dapi-123", "DATABRICKS_HOST": "h"})
    assert "dapi-123" not in repr(dbx)
    assert dbx.missing == ["DATABRICKS_HTTP_PATH"]

    def refuse(name: str, raw: str) -> str:
        raise ValueError("no")

    spec = mechanism.Setting("T", None, "t", parse=refuse, secret=True)
    with pytest.raises(SettingError) as info:
        spec.read({"T": "hunter2"})
    assert "hunter2" not in str(info.value) and "T" in str(info.value)


def test_values_are_frozen_and_typed() -> None:
    paths = PathSettings.from_env({"SENSORLAKE_LAKE_DIR": "/l"})
    assert paths.lake_dir == Path("/l") and paths.state_dir == Path("var/state")
    with pytest.raises(AttributeError):
        paths.lake_dir = Path("x")  # type: ignore[misc]
    assert SparkSettings.from_env({}).master == "local[*]"


def test_s3_region_and_endpoint_resolve_as_aws_does() -> None:
    assert S3Settings.from_env({"AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"
    both = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "us-west-2"}
    assert S3Settings.from_env(both).region == "us-west-2"
    general = S3Settings.from_env({"AWS_ENDPOINT_URL": "http://a"})
    assert general.endpoint_url == general.sts_endpoint_url == "http://a"
    s3 = S3Settings.from_env({"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://b"})
    assert (s3.endpoint_url, s3.sts_endpoint_url) == ("http://b", "http://a")


def test_options_come_from_the_declaration() -> None:
    @click.command()
    @Example.options()
    @CatalogSettings.options(resolve=False)
    def show(rows: int, catalog: str | None, schema: str | None) -> None:
        click.echo(f"{rows} {catalog} {schema}")

    runner = CliRunner()
    assert runner.invoke(show, []).output.split() == ["10", "None", "None"]
    assert runner.invoke(show, [], env={"OLD_ROWS_X": "3"}).output.split()[0] == "3"
    assert runner.invoke(show, ["--rows", "4", "--catalog", "c"]).output.split()[:2] == ["4", "c"]
    bad = runner.invoke(show, ["--rows", "none"])
    assert bad.exit_code == 2 and "--rows='none' is not a whole number" in bad.output
    help_text = runner.invoke(show, ["--help"]).output
    assert "EXAMPLE_ROWS_X" in help_text and "SENSORLAKE_CATALOG" in help_text
    assert DEFAULT_CATALOG in help_text
