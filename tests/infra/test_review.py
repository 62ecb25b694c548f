"""Plan review: the diff finds real changes, and renders them as a PR comment."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sensorlake.infra.review import diff_stacks, load_synth, render_markdown
from tests.infra.conftest import Synth, synthesize


def _doc(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resources, "output": {}}


BASE = {
    "s": _doc(
        aws_s3_bucket={"raw": {"bucket": "a-raw", "//": {"metadata": {"path": "x"}}}},
        aws_s3_bucket_versioning={
            "v": {
                "bucket": "${aws_s3_bucket.raw.id}",
                "versioning_configuration": {"status": "Enabled"},
            }
        },
        aws_kms_key={"k": {"enable_key_rotation": True}},
    )
}


def _actions(diffs: Any) -> dict[str, str]:
    return {c.address: c.action for d in diffs for c in d.changes}


def test_identical_inputs_have_no_changes() -> None:
    diffs = diff_stacks(BASE, copy.deepcopy(BASE))
    assert _actions(diffs) == {}
    assert "No infrastructure changes" in render_markdown(diffs, "main", "head")


def test_metadata_only_changes_are_ignored() -> None:
    head = copy.deepcopy(BASE)
    head["s"]["resource"]["aws_s3_bucket"]["raw"]["//"] = {"metadata": {"path": "moved/elsewhere"}}
    assert _actions(diff_stacks(BASE, head)) == {}


def test_add_remove_update_replace_and_rename() -> None:
    head = copy.deepcopy(BASE)
    r = head["s"]["resource"]
    r["aws_s3_bucket"]["raw"]["bucket"] = "b-raw"  # forces replacement
    r["aws_s3_bucket_versioning"]["v"]["versioning_configuration"]["status"] = "Suspended"
    r["aws_kms_key"]["k2"] = r["aws_kms_key"].pop("k")  # same body, new address
    r["aws_s3_bucket_policy"] = {"p": {"bucket": "x"}}
    head["new_stack"] = _doc(aws_iam_role={"role": {"name": "r"}})
    diffs = diff_stacks(BASE, head)
    assert _actions(diffs) == {
        "aws_s3_bucket.raw": "replace",
        "aws_s3_bucket_versioning.v": "update",
        "aws_kms_key.k2": "rename",
        "aws_s3_bucket_policy.p": "add",
        "aws_iam_role.role": "add",
    }
    md = render_markdown(diffs, "main", "head")
    assert "| `s` | 1 | 1 | 2 | 0 |" in md
    assert "`-/+` **replace** `aws_s3_bucket.raw` — forces replacement: bucket" in md
    assert '`bucket`: `"a-raw"` → `"b-raw"`' in md
    assert '`versioning_configuration.status`: `"Enabled"` → `"Suspended"`' in md
    assert "was `aws_kms_key.k`" in md


def test_removed_stack_and_scan_section() -> None:
    diffs = diff_stacks(BASE, {})
    assert set(_actions(diffs).values()) == {"remove"}
    md = render_markdown(diffs, "main", "head", scan="checkov: 1 passed, 0 failed")
    assert md.startswith("<!-- sensorlake-plan-review -->")
    assert "### Security scan" in md and "checkov: 1 passed" in md


@pytest.mark.synth
def test_reports_a_real_change_between_two_synthesized_configs(
    synthesized: Synth, tmp_path: Any
) -> None:
    """Synthesize again with a changed config; the review must name exactly what changed."""
    settings = synthesized.settings.model_copy(
        update={
            "lifecycle": synthesized.settings.lifecycle.model_copy(update={"transition_days": 60}),
            "buckets": synthesized.settings.buckets.model_copy(
                update={"filtered": "acme-filtered"}
            ),
        }
    )
    head = synthesize(settings, tmp_path / "cdktf.out")
    diffs = diff_stacks(load_synth(synthesized.outdir), load_synth(head.outdir))
    by_stack = {d.stack: d for d in diffs}
    storage = {c.address: c for c in by_stack["sensorlake-storage"].changes}
    bucket = next(c for a, c in storage.items() if a.startswith("aws_s3_bucket.storage_filtered"))
    assert (
        bucket.action == "replace"
        and ("bucket", "sensor-data-filtered-us-east-1", "acme-filtered") in bucket.attributes
    )
    lifecycle = [
        c for a, c in storage.items() if a.startswith("aws_s3_bucket_lifecycle_configuration.")
    ]
    assert {c.action for c in lifecycle} == {"update"}
    assert len(lifecycle) == 4  # the four landing buckets; checkpoints and logs do not tier
    catalog = {c.address: c for c in by_stack["sensorlake-catalog"].changes}
    loc = next(
        c
        for a, c in catalog.items()
        if "filtered_location" in a and a.startswith("databricks_external_location")
    )
    assert ("url", "s3://sensor-data-filtered-us-east-1/", "s3://acme-filtered/") in loc.attributes
    md = render_markdown(diffs, "base", "head")
    assert "forces replacement: bucket" in md and "transition[0].days" in md
