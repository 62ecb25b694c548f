"""Commands: help with examples, prerequisite failures that list what is missing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sensorlake.contract.errors import ExitCode
from sensorlake.infra import cli


@pytest.mark.parametrize("command", [cli.synth, cli.plan_review, cli.scan, cli.setup, cli.plan])
def test_help_has_examples(command) -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_setup_lists_what_is_missing_and_deploys_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "SERVICE_PRINCIPAL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    calls: list = []
    monkeypatch.setattr(cli.subprocess, "run", lambda *a, **k: calls.append(a))
    from sensorlake.infra import prereqs
    from sensorlake.infra.config import EXAMPLE_CONFIG

    monkeypatch.setattr(prereqs, "terraform_version", lambda binary: (1, 11))

    result = CliRunner().invoke(cli.setup, ["--config", str(EXAMPLE_CONFIG)])
    assert result.exit_code == ExitCode.LOCAL
    assert "missing prerequisites" in result.output
    for needle in (
        "AWS credentials",
        "DATABRICKS_HOST",
        "SERVICE_PRINCIPAL",
        "AWS_ACCOUNT_ID",
        "DATABRICKS_WORKSPACE_ID",
    ):
        assert needle in result.output
    assert calls == []


def test_setup_reports_config_errors(tmp_path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "unity_catalog: {service_principal: nope, workspace_ids: [1]}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(cli.setup, ["--config", str(bad)])
    assert result.exit_code == ExitCode.USAGE
    assert "service_principal 'nope'" in result.output


FAKE_SYNTH = """
import json, pathlib, sys
out = pathlib.Path(sys.argv[1]) / "stacks" / "sensorlake-storage"
out.mkdir(parents=True, exist_ok=True)
name = pathlib.Path("infra/bucket.txt").read_text().strip()
doc = {"resource": {"aws_s3_bucket": {"raw": {"bucket": name}}}}
(out / "cdk.tf.json").write_text(json.dumps(doc))
"""


def test_plan_review_compares_a_git_ref_with_the_working_tree(tmp_path, monkeypatch) -> None:
    """The git plumbing: base synthesized in a temporary worktree, head in the working tree."""
    import subprocess
    import sys

    repo = tmp_path / "repo"
    (repo / "infra" / "src" / "sensorlake" / "infra").mkdir(parents=True)
    (repo / "infra" / "src" / "sensorlake" / "infra" / "main.py").write_text("")
    (repo / "infra" / "bucket.txt").write_text("old-raw\n")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    (repo / "infra" / "bucket.txt").write_text("new-raw\n")  # uncommitted change
    monkeypatch.chdir(repo)
    monkeypatch.setattr(
        cli, "_synth_cmd", lambda outdir, config: [sys.executable, "-c", FAKE_SYNTH, str(outdir)]
    )
    out = tmp_path / "review.md"
    result = CliRunner().invoke(cli.plan_review, ["--base", "HEAD", "--out", str(out), "--no-scan"])
    assert result.exit_code == 0, result.output
    md = out.read_text()
    assert "`-/+` **replace** `aws_s3_bucket.raw` — forces replacement: bucket" in md
    assert '`bucket`: `"old-raw"` → `"new-raw"`' in md
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert len(worktrees.strip().splitlines()) == 1  # the temporary worktree was removed


def test_plan_says_which_state_it_plans_against(tmp_path) -> None:
    s3 = {
        "terraform": {
            "backend": {
                "s3": {
                    "bucket": "b",
                    "key": "k/s.tfstate",
                    "region": "eu-west-1",
                    "use_lockfile": True,
                }
            }
        }
    }
    assert cli.describe_state(tmp_path, s3) == (
        "state: s3://b/k/s.tfstate (eu-west-1, S3 lock file)"
    )
    local = {"terraform": {"backend": {"local": {"path": "../state/s.tfstate"}}}}
    assert "MISSING: this plan compares against an empty state" in cli.describe_state(
        tmp_path, local
    )
    (tmp_path.parent / "state").mkdir(exist_ok=True)
    (tmp_path.parent / "state" / "s.tfstate").write_text("{}")
    assert "(sandbox)" in cli.describe_state(tmp_path, local)


def test_base_is_synthesized_with_the_same_config_or_its_base_version(tmp_path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
            cwd=repo, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    (repo / "tracked.yaml").write_text("a: 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    sha = git("rev-parse", "--short", "HEAD")
    (repo / "tracked.yaml").write_text("a: 2\n")  # a config change in the PR
    (repo / "local.yaml").write_text("a: 3\n")  # untracked: the same file for both
    tree = tmp_path / "base-tree"
    base_cfg, note = cli._base_config(repo, tree, sha, repo / "tracked.yaml")
    assert base_cfg == tree / "tracked.yaml" and f"its version at {sha}" in note
    base_cfg, note = cli._base_config(repo, tree, sha, repo / "local.yaml")
    assert base_cfg == (repo / "local.yaml").resolve() and "same file" in note
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("a: 4\n")
    assert cli._base_config(repo, tree, sha, outside)[0] == outside.resolve()
