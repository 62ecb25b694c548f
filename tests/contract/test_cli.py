"""The root command and the shared path options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main, path_option

pytestmark = pytest.mark.contract


def test_root_lists_every_installed_packages_commands() -> None:
    """Each installed package's commands, found by entry point (with the contract alone,
    there are none, and the root still answers)."""
    from importlib.metadata import entry_points

    from sensorlake.contract.cli import COMMANDS_GROUP

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    installed = {ep.name for ep in entry_points(group=COMMANDS_GROUP)}
    _, _, section = result.output.partition("Commands:")
    listed = {line.split()[0] for line in section.splitlines() if line.strip()}
    for command in ("land", "process", "validate", "simulate", "synth", "setup"):
        assert (command in listed) == (command in installed), command


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_path_options_share_flag_variable_and_default(tmp_path: Path) -> None:
    @click.command()
    @path_option("lake")
    @path_option("warehouse")
    def show(lake_dir: Path, warehouse_dir: Path) -> None:
        click.echo(f"{lake_dir} {warehouse_dir}")

    runner = CliRunner()
    assert runner.invoke(show, []).output.split() == ["var/lake", "var/warehouse"]
    env = {"SENSORLAKE_LAKE_DIR": str(tmp_path)}
    assert runner.invoke(show, [], env=env).output.split()[0] == str(tmp_path)
    out = runner.invoke(show, ["--warehouse-dir", "w"], env=env).output.split()
    assert out == [str(tmp_path), "w"]


def test_importing_the_contract_loads_no_landing_module_and_no_click() -> None:
    code = (
        "import sys\n"
        "import sensorlake.contract.pipelines, sensorlake.contract.keys, "
        "sensorlake.contract.lake, sensorlake.contract.records, sensorlake.contract.summary, "
        "sensorlake.contract.settings\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('sensorlake.landing', 'click', "
        "'msgspec', 'isal', 'boto', 'rich')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
