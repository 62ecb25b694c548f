"""The alert rules in ``dashboards/alerts``: valid for promtool, unit-tested with promtool,
and written only against metrics the real monitor exports (so a renamed gauge cannot leave an
alert that never fires)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.metrics import LABEL_SETS

from .conftest import Flow

pytestmark = pytest.mark.dashboards

ALERTS = Path(__file__).resolve().parents[2] / "dashboards" / "alerts"
RULES = ALERTS / "sensorlake.rules.yml"
RULE_TESTS = ALERTS / "sensorlake.rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ALERTS,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_runbook_and_is_unit_tested() -> None:
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    for rule in _rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert rule["alert"] in tested, f"{rule['alert']} has no promtool test"


def _exported(flow: Flow) -> tuple[str, dict[str, set[str]]]:
    """The real /metrics text over a landed flow, and each metric's label names."""
    monitor = flow.monitor()
    monitor.refresh()
    text = TestClient(create_app(monitor, start_monitor=False)).get("/metrics").text
    labels: dict[str, set[str]] = {}
    for name in re.findall(r"^# TYPE (\w+) ", text, re.M):
        labels[name] = set()
    for name, body in re.findall(r"^(\w+)\{(.*?)\} ", text, re.M):
        labels.setdefault(name, set()).update(re.findall(r'(\w+)="', body))
    # A metric with no sample here (a per-gateway count that is 0 everywhere) has the label
    # names metrics.py documents for it (test_fleet_api holds the export to them).
    for name in labels:
        labels[name].update(LABEL_SETS.get(name, ()))
    return text, labels


def test_rules_use_only_exported_metrics_and_labels(flow: Flow) -> None:
    flow.ingest()
    _text, exported = _exported(flow)
    for rule in _rules():
        expr = rule["expr"]
        for name in re.findall(r"\b(sensorlake_\w+)", expr):
            assert name in exported, f"{rule['alert']}: {name} is not exported"
            for label in re.findall(rf"{name}\{{(\w+)=", expr):
                assert label in exported[name], f"{rule['alert']}: {name} has no {label}"
        for label in re.findall(r"\$labels\.(\w+)", str(rule["annotations"])):
            used = re.findall(r"\b(sensorlake_\w+)", expr)
            assert label in {"instance", "job"} | set().union(*(exported[n] for n in used)), (
                f"{rule['alert']}: annotation uses {label}, which its metrics do not carry"
            )
