"""checkov over the synthesized JSON, with the committed, reasoned skips applied.

checkov's terraform_json runner has no inline suppressions, so we run it with JSON output and
apply ``infra/checkov-skips.yaml`` ourselves: a finding passes only if a skip entry (check ID
plus resource pattern) covers it; a skip entry that covers nothing is an error too.

checkov's JSON parser fails on two valid constructs of ours (a string under ``terraform``:
``required_version``; the top-level ``import`` list), and then scans nothing. It scans a copy
without them (:func:`scannable_copy`); neither carries a security setting.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sensorlake.infra.config import INFRA_DIR
from sensorlake.infra.errors import CommandError, ConfigError

__all__ = [
    "CHECKOV",
    "SKIPS_FILE",
    "Finding",
    "ScanResult",
    "Skip",
    "apply_skips",
    "load_skips",
    "run_checkov",
    "scannable_copy",
]

SKIPS_FILE = INFRA_DIR / "checkov-skips.yaml"
CHECKOV = INFRA_DIR / ".venv-tools" / "bin" / "checkov"


@dataclass(frozen=True)
class Skip:
    check: str
    resources: tuple[str, ...]
    reason: str

    def covers(self, finding: Finding) -> bool:
        return finding.check == self.check and any(
            fnmatch.fnmatchcase(finding.resource, pat) for pat in self.resources
        )


@dataclass(frozen=True)
class Finding:
    check: str
    resource: str
    file: str
    name: str


@dataclass
class ScanResult:
    passed: int
    failed: list[Finding] = field(default_factory=list)
    skipped: list[tuple[Finding, Skip]] = field(default_factory=list)
    unused_skips: list[Skip] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.unused_skips or self.parsing_errors)

    def summary(self) -> str:
        lines = [
            f"checkov: {self.passed} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped with a written reason"
        ]
        lines += [f"  FAILED {f.check} {f.resource} ({f.file}): {f.name}" for f in self.failed]
        lines += [f"  UNUSED SKIP {s.check} {list(s.resources)}" for s in self.unused_skips]
        lines += [f"  PARSING ERROR {p}" for p in self.parsing_errors]
        return "\n".join(lines)


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    skips, problems = [], []
    for i, entry in enumerate(raw.get("skips", [])):
        if not entry.get("reason") or not entry.get("check") or not entry.get("resources"):
            problems.append(f"skips[{i}]: needs check, resources and a reason")
            continue
        skips.append(
            Skip(entry["check"], tuple(entry["resources"]), " ".join(entry["reason"].split()))
        )
    if problems:
        raise ConfigError(problems, str(path))
    return skips


def apply_skips(report: dict[str, Any] | list[dict[str, Any]], skips: list[Skip]) -> ScanResult:
    """Pure: split checkov's JSON report into failed, skipped (with reason) and unused skips."""
    reports = report if isinstance(report, list) else [report]
    result = ScanResult(passed=0)
    used: set[int] = set()
    for rep in reports:
        results = rep.get("results", {})
        result.passed += len(results.get("passed_checks", []))
        result.parsing_errors += list(results.get("parsing_errors", []))
        for raw in results.get("failed_checks", []):
            finding = Finding(
                raw["check_id"],
                raw["resource"],
                raw.get("file_path", ""),
                raw.get("check_name", ""),
            )
            skip = next((s for s in skips if s.covers(finding)), None)
            if skip is None:
                result.failed.append(finding)
            else:
                used.add(id(skip))
                result.skipped.append((finding, skip))
    result.unused_skips = [s for s in skips if id(s) not in used]
    return result


def scannable_copy(doc: dict[str, Any]) -> dict[str, Any]:
    """The stack JSON minus what checkov's parser cannot read (see the module docstring)."""
    out = {k: v for k, v in doc.items() if k != "import"}
    if isinstance(out.get("terraform"), dict):
        out["terraform"] = {k: v for k, v in out["terraform"].items() if k != "required_version"}
    return out


def run_checkov(
    directory: Path, checkov: Path = CHECKOV, skips_file: Path = SKIPS_FILE
) -> ScanResult:
    """Run checkov offline (no Prisma download) over ``directory`` and apply the skips."""
    if not checkov.exists():
        raise CommandError([str(checkov)], 127, "checkov is not installed: run `make infra-setup`")
    with tempfile.TemporaryDirectory(prefix="sensorlake-scan-") as tmp:
        for src in sorted(Path(directory).glob("stacks/*/cdk.tf.json")):
            dst = Path(tmp) / "stacks" / src.parent.name / src.name
            dst.parent.mkdir(parents=True)
            doc = json.loads(src.read_text(encoding="utf-8"))
            dst.write_text(json.dumps(scannable_copy(doc), indent=2), encoding="utf-8")
        return _run_checkov(Path(tmp), checkov, skips_file)


def _run_checkov(directory: Path, checkov: Path, skips_file: Path) -> ScanResult:
    argv = [
        str(checkov), "-d", str(directory), "--framework", "terraform_json",
        "-o", "json", "--compact", "--skip-download",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise CommandError(argv, proc.returncode, proc.stderr[-4000:]) from None
    if isinstance(report, dict) and "results" not in report:
        # checkov prints a bare summary when it found nothing to scan
        raise CommandError(argv, proc.returncode, f"checkov scanned nothing: {proc.stdout[:500]}")
    return apply_skips(report, load_skips(skips_file))
