"""Plan review: the diff finds real changes, and renders them as a PR comment."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sensorlake.infra.review import FORCE_NEW, diff_stacks, load_synth, render_markdown
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
    old_name = synthesized.settings.bucket("filtered")
    assert bucket.action == "replace" and ("bucket", old_name, "acme-filtered") in bucket.attributes
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
    assert ("url", f"s3://{old_name}/", "s3://acme-filtered/") in loc.attributes
    md = render_markdown(diffs, "base", "head")
    assert "forces replacement: bucket" in md and "transition[0].days" in md


def _policy_stack(actions: list[str]) -> dict[str, Any]:
    return {
        "data": {
            "aws_iam_policy_document": {
                "gw_doc": {"statement": [{"actions": actions, "resources": ["arn:aws:s3:::b/*"]}]}
            }
        },
        "resource": {
            "aws_iam_policy": {"gw": {"policy": "${data.aws_iam_policy_document.gw_doc.json}"}},
            "aws_s3_bucket_lifecycle_configuration": {"lc": {"rule": [{"id": "a"}]}},
            "databricks_catalog": {"c": {"name": "c", "owner": "admins"}},
        },
    }


def test_security_changes_come_first_resolved_through_policy_documents() -> None:
    base = {"s": _policy_stack(["s3:PutObject"])}
    head = {"s": _policy_stack(["s3:PutObject", "s3:DeleteObject"])}
    head["s"]["resource"]["aws_s3_bucket_lifecycle_configuration"]["lc"]["rule"][0]["id"] = "b"
    head["s"]["resource"]["databricks_catalog"]["c"]["owner"] = "someone"
    diffs = diff_stacks(base, head)
    (d,) = diffs
    assert [(sc.address, sc.why) for sc in d.security] == [
        ("aws_iam_policy.gw", "policy via `data.aws_iam_policy_document.gw_doc`"),
        ("databricks_catalog.c", "owner"),
    ]
    md = render_markdown(diffs, "main", "head")
    first = md.index("### Security-relevant changes")
    assert first < md.index("| stack |") < md.index("aws_s3_bucket_lifecycle_configuration.lc")
    section = md[first : md.index("| stack |")]
    assert "`aws_iam_policy.gw`" in section and "s3:DeleteObject" in section
    assert "lifecycle" not in section  # not security-relevant


def test_no_security_change_is_said_explicitly_and_key_changes_are_security() -> None:
    head = copy.deepcopy(BASE)
    head["s"]["resource"]["aws_s3_bucket_versioning"]["v"]["bucket"] = "other"
    md = render_markdown(diff_stacks(BASE, head), "a", "b")
    assert "None: no IAM, trust" in md
    head["s"]["resource"]["aws_kms_key"]["k"]["enable_key_rotation"] = False
    (d,) = diff_stacks(BASE, head)
    assert [(sc.address, sc.why) for sc in d.security] == [("aws_kms_key.k", "aws_kms_key")]


def _binding_arguments(rtype: str) -> set[str]:
    """The arguments of a resource type, from the provider bindings (the provider schema)."""
    import importlib
    import inspect

    provider, _, name = rtype.partition("_")
    module = importlib.import_module(f"cdktf_cdktf_provider_{provider}.{name}")
    (cls,) = [
        c
        for c in vars(module).values()
        if inspect.isclass(c) and getattr(c, "TF_RESOURCE_TYPE", None) == rtype
    ]
    return set(inspect.signature(cls.__init__).parameters) - {"self", "scope", "id_", "id"}


@pytest.mark.parametrize("rtype", sorted(FORCE_NEW))
def test_every_force_new_entry_is_an_argument_of_the_resource(rtype: str) -> None:
    args = _binding_arguments(rtype)
    assert FORCE_NEW[rtype] <= args, sorted(FORCE_NEW[rtype] - args)


def test_force_new_matches_the_pinned_databricks_provider() -> None:
    """From databricks 1.117 catalog/resource_*.go: names of locations and credentials force
    replacement, catalog and volume names do not (they are renamed in place)."""
    assert "name" in FORCE_NEW["databricks_external_location"]
    assert "name" in FORCE_NEW["databricks_storage_credential"]
    assert "name" not in FORCE_NEW["databricks_catalog"]
    assert "name" not in FORCE_NEW["databricks_volume"]
    assert {"catalog", "schema", "volume", "external_location"} <= FORCE_NEW["databricks_grants"]


def test_policy_statements_are_compared_by_sid() -> None:
    def doc(*sids: str) -> dict[str, Any]:
        stmts = [{"sid": sid, "actions": [f"s3:{sid}"]} for sid in sids]
        return {"data": {"aws_iam_policy_document": {"p": {"statement": stmts}}}}

    (d,) = diff_stacks({"s": doc("A", "B")}, {"s": doc("New", "A", "B")})
    (change,) = d.changes
    assert {path for path, _, _ in change.attributes} == {
        "statement[New].actions",
        "statement[New].sid",
    }


@pytest.mark.synth
def test_a_widened_gateway_policy_is_the_first_security_change(synthesized: Synth) -> None:
    """What `make plan-review` shows when a PR lets gateways read landed files."""
    head = copy.deepcopy(synthesized.docs)
    docs = head["sensorlake-storage"]["data"]["aws_iam_policy_document"]
    (gw,) = [v for k, v in docs.items() if k.startswith("gateway_policy")]
    land = next(st for st in gw["statement"] if st["sid"] == "LandFilesCreateOnly")
    land["actions"] = ["s3:GetObject", *land["actions"]]
    diffs = diff_stacks(synthesized.docs, head)
    md = render_markdown(diffs, "main", "head")
    section = md.split("### Security-relevant changes")[1].split("| stack |")[0]
    first = section.strip().splitlines()[0]
    assert "`aws_iam_policy.gateway_policy_" in first and "policy via" in first
    assert (
        '`statement[LandFilesCreateOnly].actions`: `["s3:PutObject"]` → `["s3:GetObject", "s3:PutObject"]`'
        in section
    )
    assert "| `sensorlake-storage` | 0 | 1 | 0 | 0 |" in md
