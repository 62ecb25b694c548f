"""The PR workflow: pinned actions, safe on forks and Dependabot, synth once, OIDC only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "infra-plan-review.yml"


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps(job: str) -> list[dict[str, Any]]:
    return _workflow()["jobs"][job]["steps"]


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [
        s["uses"]
        for job in _workflow()["jobs"].values()
        for s in job.get("steps", [])
        if "uses" in s
    ]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses


def test_fork_and_dependabot_prs_skip_only_the_comment() -> None:
    steps = {s.get("name", s.get("uses", "")): s for s in _steps("review")}
    comment = steps["Post or update the PR comment"]
    assert "head.repo.full_name == github.repository" in comment["if"]
    assert "dependabot[bot]" in comment["if"] and comment["continue-on-error"] is True
    upload = next(s for s in _steps("review") if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"


def test_synthesizes_once_and_caches_uv_and_npm() -> None:
    runs = [s["run"] for s in _steps("review") if "run" in s]
    assert sum(r.startswith("make plan-review") for r in runs) == 1
    assert "make scan NO_SYNTH=1" in runs
    uv = next(s for s in _steps("review") if "setup-uv" in s.get("uses", ""))
    node = next(s for s in _steps("review") if "setup-node" in s.get("uses", ""))
    assert uv["with"]["enable-cache"] is True and node["with"]["cache"] == "npm"


def test_real_plan_uses_oidc_and_no_long_lived_secret() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "secrets." not in text
    job = _workflow()["jobs"]["terraform-plan"]
    assert job["permissions"]["id-token"] == "write"
    env = next(s for s in job["steps"] if s.get("run") == "make plan")["env"]
    assert env["DATABRICKS_AUTH_TYPE"] == "github-oidc" and "DATABRICKS_TOKEN" not in env
