"""checkov: zero unexplained findings on the synthesized app, and the skip logic can fail."""

from __future__ import annotations

import pytest

from sensorlake.infra.scan import CHECKOV, Skip, apply_skips, load_skips, run_checkov
from tests.infra.conftest import Synth


def _report(*failed: tuple[str, str]) -> dict:
    return {
        "check_type": "terraform_json",
        "results": {
            "passed_checks": [{}, {}],
            "failed_checks": [
                {"check_id": c, "resource": r, "file_path": "/f", "check_name": "n"}
                for c, r in failed
            ],
            "parsing_errors": [],
        },
    }


SKIP = Skip("CKV_AWS_145", ("aws_s3_bucket.storage_access_logs_bucket_*",), "SSE-S3 only for logs")


def test_a_new_finding_fails() -> None:
    result = apply_skips(_report(("CKV_AWS_21", "aws_s3_bucket.storage_raw_bucket_1")), [SKIP])
    assert not result.ok
    assert [f.check for f in result.failed] == ["CKV_AWS_21"]
    assert "FAILED CKV_AWS_21" in result.summary()


def test_a_skip_covers_only_its_check_and_resources() -> None:
    result = apply_skips(
        _report(
            ("CKV_AWS_145", "aws_s3_bucket.storage_access_logs_bucket_A"),
            ("CKV_AWS_145", "aws_s3_bucket.storage_raw_bucket_B"),
        ),
        [SKIP],
    )
    assert [f.resource for f in result.failed] == ["aws_s3_bucket.storage_raw_bucket_B"]
    assert [s.reason for _, s in result.skipped] == ["SSE-S3 only for logs"]


def test_an_unused_skip_fails() -> None:
    result = apply_skips(_report(), [SKIP])
    assert not result.ok and result.unused_skips == [SKIP]


def test_every_committed_skip_has_a_reason() -> None:
    skips = load_skips()
    assert skips and all(len(s.reason) > 30 for s in skips)


@pytest.mark.synth
def test_checkov_finds_nothing_unexplained(synthesized: Synth) -> None:
    assert CHECKOV.exists(), "checkov is not installed: run `make infra-setup` (make test does)"
    result = run_checkov(synthesized.outdir)
    assert result.passed > 100
    assert result.ok, result.summary()


def test_checkov_scans_a_copy_without_what_its_parser_cannot_read() -> None:
    from sensorlake.infra.scan import scannable_copy

    doc = {
        "terraform": {"required_version": ">= 1.10", "backend": {"s3": {}}},
        "import": [{"to": "aws_s3_bucket.b", "id": "b"}],
        "resource": {"aws_s3_bucket": {"b": {"bucket": "b"}}},
    }
    assert scannable_copy(doc) == {
        "terraform": {"backend": {"s3": {}}},
        "resource": {"aws_s3_bucket": {"b": {"bucket": "b"}}},
    }
    assert doc["terraform"]["required_version"] == ">= 1.10"  # the original is untouched
