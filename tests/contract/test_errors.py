"""The exit-code table, the one-line errors and the one handler every command ends through."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sensorlake.contract import errors
from sensorlake.contract.cli import handle_errors, main
from sensorlake.contract.errors import (
    ConfigError,
    ConflictError,
    DestinationError,
    ExitCode,
    LocalStateError,
    MismatchError,
    SensorlakeError,
    SourceError,
    UnavailableError,
    UsageError,
    exit_with,
)

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]

# The lead's table: what scripts and cron jobs act on, so a change here is a breaking change.
TABLE = {
    "OK": 0,
    "MISMATCH": 1,
    "USAGE": 2,
    "SOURCE": 3,
    "DESTINATION": 4,
    "LOCAL": 5,
    "CONFLICT": 6,
    "INTERNAL": 70,
    "UNAVAILABLE": 75,
    "INTERRUPTED": 130,
}


def test_the_table_is_the_documented_one_each_code_with_its_meaning_and_what_to_do() -> None:
    assert {code.name: code.value for code in ExitCode} == TABLE
    for code in ExitCode:
        assert code.meaning and code.todo, code
        assert "\n" not in code.meaning + code.todo and "|" not in code.meaning + code.todo


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError, ExitCode.USAGE),
        (ConfigError, ExitCode.USAGE),
        (SourceError, ExitCode.SOURCE),
        (DestinationError, ExitCode.DESTINATION),
        (ConflictError, ExitCode.CONFLICT),
        (LocalStateError, ExitCode.LOCAL),
        (MismatchError, ExitCode.MISMATCH),
        (UnavailableError, ExitCode.UNAVAILABLE),
        (SensorlakeError, ExitCode.INTERNAL),
    ],
)
def test_each_error_carries_the_code_of_its_meaning(error: type, code: ExitCode) -> None:
    assert error.exit_code is code
    assert isinstance(error("x"), SensorlakeError)


def test_an_error_is_one_line_what_happened_then_what_to_do() -> None:
    assert str(SourceError("no sensor database at /x", hint="check --db-path")) == (
        "no sensor database at /x. check --db-path"
    )
    assert str(ConfigError("bad rules")) == "bad rules"
    assert "\n" not in str(DestinationError("denied", hint="check the role"))


def test_problems_are_listed_one_per_line_under_the_message() -> None:
    exc = ConfigError("config.yaml is invalid", problems=["a: missing", "b: not a number"])
    assert str(exc) == "config.yaml is invalid:\n  - a: missing\n  - b: not a number"
    assert exc.problems == ["a: missing", "b: not a number"]


def _exit(exc: BaseException, **kwargs: bool) -> tuple[int, str]:
    out = io.StringIO()
    with pytest.raises(SystemExit) as done:
        exit_with(exc, stream=out, **kwargs)
    return done.value.code, out.getvalue()  # type: ignore[return-value]


def test_exit_with_prints_the_line_and_exits_with_the_errors_code() -> None:
    code, out = _exit(ConflictError("object raw/k differs", hint="compare them"))
    assert code == ExitCode.CONFLICT
    assert out == "error: object raw/k differs. compare them\n"


def test_an_unexpected_error_is_one_line_and_70_without_a_traceback() -> None:
    def bug() -> None:
        {}["missing"]

    try:
        bug()
    except KeyError as exc:
        code, out = _exit(exc)
        code_tb, out_tb = _exit(exc, show_traceback=True)
    assert code == ExitCode.INTERNAL == code_tb
    assert out.count("\n") == 1 and "Traceback" not in out
    assert out.startswith("error: unexpected error (KeyError: 'missing')")
    assert "please report it" in out and "-vv" in out
    assert "Traceback" in out_tb and "in bug" in out_tb and out_tb.endswith(out)


def test_ctrl_c_exits_130() -> None:
    code, out = _exit(KeyboardInterrupt())
    assert code == ExitCode.INTERRUPTED and out == "interrupted\n"


@click.command()
@click.argument("what")
@handle_errors
def _probe(what: str) -> None:
    if what == "usage":
        raise UsageError("--x is wrong", hint="see --help")
    if what == "click":
        raise click.BadParameter("not a number")
    if what == "exit":
        raise SystemExit(ExitCode.MISMATCH)
    if what == "bug":
        raise RuntimeError("boom\nsecond line")


def test_the_click_handler_turns_errors_into_their_line_and_code() -> None:
    runner = CliRunner()
    usage = runner.invoke(_probe, ["usage"])
    assert usage.exit_code == ExitCode.USAGE and usage.output == "error: --x is wrong. see --help\n"
    bug = runner.invoke(_probe, ["bug"])
    assert bug.exit_code == ExitCode.INTERNAL and bug.output.count("\n") == 1
    assert "RuntimeError: boom" in bug.output and "second line" not in bug.output
    assert "Traceback" not in bug.output
    # click's own errors and a deliberate exit pass through untouched
    bad = runner.invoke(_probe, ["click"])
    assert bad.exit_code == 2 and "Invalid value: not a number" in bad.output  # click's code
    assert runner.invoke(_probe, ["exit"]).exit_code == ExitCode.MISMATCH
    assert runner.invoke(_probe, ["fine"]).exit_code == ExitCode.OK


@pytest.fixture
def root_with(request: pytest.FixtureRequest) -> Iterator[click.Group]:
    """The real root group with one more subcommand that raises what the test says."""

    @click.command("raise-for-test")
    @click.argument("what")
    def raising(what: str) -> None:  # no handler of its own: the root group is the backstop
        if what == "bug":
            raise ZeroDivisionError("division by zero")
        raise SourceError("database is locked", hint="stop the other writer")

    main.add_command(raising)
    try:
        yield main
    finally:
        main.commands.pop("raise-for-test")


def test_the_root_group_is_the_backstop_for_every_subcommand(root_with: click.Group) -> None:
    runner = CliRunner()
    bug = runner.invoke(root_with, ["raise-for-test", "bug"])
    assert bug.exit_code == ExitCode.INTERNAL, bug.output
    assert bug.output.count("\n") == 1 and "Traceback" not in bug.output
    assert "ZeroDivisionError" in bug.output and "please report it" in bug.output
    verbose = runner.invoke(root_with, ["-vv", "raise-for-test", "bug"])
    assert verbose.exit_code == ExitCode.INTERNAL and "Traceback" in verbose.output
    source = runner.invoke(root_with, ["raise-for-test", "source"])
    assert source.exit_code == ExitCode.SOURCE
    assert source.output == "error: database is locked. stop the other writer\n"


def test_docs_exit_codes_md_is_the_rendered_table() -> None:
    committed = (ROOT / errors.DOC_PATH).read_text(encoding="utf-8")
    assert committed == errors.render_markdown(), (
        "docs/exit-codes.md is stale: run `uv run python -m sensorlake.contract.errors`"
    )
    for code in ExitCode:
        assert f"| {code.value} | `{code.name}` | {code.meaning} | {code.todo} |" in committed
