"""Plan review without credentials: diff two sets of synthesized stacks, render Markdown.

Pure functions over ``{stack: cdk.tf.json dict}``. Without a Terraform state the synthesized
JSON is what can be reviewed; "replaced" is decided from a table of attributes that force
replacement for the resources we use (the real ``terraform plan`` job confirms it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FORCE_NEW", "Change", "StackDiff", "diff_stacks", "load_synth", "render_markdown"]

# Attributes whose change makes Terraform destroy and recreate the resource.
FORCE_NEW: dict[str, frozenset[str]] = {
    "aws_s3_bucket": frozenset({"bucket", "bucket_prefix", "object_lock_enabled"}),
    "aws_kms_key": frozenset({"customer_master_key_spec", "key_usage", "multi_region"}),
    "aws_kms_alias": frozenset({"name", "name_prefix"}),
    "aws_iam_role": frozenset({"name", "name_prefix", "path"}),
    "aws_iam_policy": frozenset({"name", "name_prefix", "path", "description"}),
    "aws_iam_role_policy_attachment": frozenset({"role", "policy_arn"}),
    "aws_s3_bucket_policy": frozenset({"bucket"}),
    "aws_s3_bucket_public_access_block": frozenset({"bucket"}),
    "aws_s3_bucket_ownership_controls": frozenset({"bucket"}),
    "aws_s3_bucket_versioning": frozenset({"bucket"}),
    "aws_s3_bucket_server_side_encryption_configuration": frozenset({"bucket"}),
    "aws_s3_bucket_lifecycle_configuration": frozenset({"bucket"}),
    "aws_s3_bucket_logging": frozenset({"bucket"}),
    "databricks_catalog": frozenset(
        {"name", "storage_root", "provider_name", "share_name", "connection_name"}
    ),
    "databricks_schema": frozenset({"catalog_name", "name", "storage_root"}),
    "databricks_volume": frozenset(
        {"catalog_name", "schema_name", "name", "volume_type", "storage_location"}
    ),
    "time_sleep": frozenset({"create_duration", "destroy_duration", "triggers"}),
}
_SECTIONS = ("resource", "data")


@dataclass(frozen=True)
class Change:
    """One resource, data source or output that differs between base and head."""

    kind: str  # "resource" | "data" | "output"
    address: str  # e.g. aws_s3_bucket.storage_raw_bucket_E5C75E70
    action: str  # "add" | "remove" | "replace" | "update" | "rename"
    attributes: tuple[tuple[str, Any, Any], ...] = ()  # (path, before, after)
    note: str = ""


@dataclass
class StackDiff:
    stack: str
    changes: list[Change] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action and c.kind == "resource")


def load_synth(outdir: Path) -> dict[str, dict[str, Any]]:
    """Read ``<outdir>/stacks/*/cdk.tf.json``; a missing outdir is an empty app."""
    stacks_dir = Path(outdir) / "stacks"
    if not stacks_dir.is_dir():
        return {}
    return {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(stacks_dir.glob("*/cdk.tf.json"))
    }


def _strip(value: Any) -> Any:
    """Drop cdktf's "//" metadata (construct paths) so only Terraform-visible data remains."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k in sorted(value):
            yield from _flatten(value[k], f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _attr_diff(before: Any, after: Any) -> tuple[tuple[str, Any, Any], ...]:
    b, a = dict(_flatten(before)), dict(_flatten(after))
    return tuple((k, b.get(k), a.get(k)) for k in sorted(set(b) | set(a)) if b.get(k) != a.get(k))


def _blocks(doc: Mapping[str, Any], section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rtype, items in (doc.get(section) or {}).items():
        for name, body in items.items():
            prefix = "data." if section == "data" else ""
            out[f"{prefix}{rtype}.{name}"] = _strip(body)
    return out


def _diff_doc(stack: str, base: Mapping[str, Any], head: Mapping[str, Any]) -> StackDiff:
    diff = StackDiff(stack)
    for section in _SECTIONS:
        b, h = _blocks(base, section), _blocks(head, section)
        removed = {k: v for k, v in b.items() if k not in h}
        added = {k: v for k, v in h.items() if k not in b}
        # Same type and body under a new address: a rename (destroy + create without `moved`).
        for new_addr, body in list(added.items()):
            rtype = new_addr.rsplit(".", 1)[0]
            old = next(
                (o for o, ob in removed.items() if o.rsplit(".", 1)[0] == rtype and ob == body),
                None,
            )
            if old is not None:
                diff.changes.append(
                    Change(section, new_addr, "rename",
                           note=f"was `{old}`: destroyed and recreated unless a `moved` block is added")
                )  # fmt: skip
                del removed[old], added[new_addr]
        for addr in sorted(added):
            diff.changes.append(Change(section, addr, "add", _attr_diff({}, added[addr])))
        for addr in sorted(removed):
            diff.changes.append(Change(section, addr, "remove"))
        for addr in sorted(set(b) & set(h)):
            attrs = _attr_diff(b[addr], h[addr])
            if not attrs:
                continue
            rtype = addr.removeprefix("data.").rsplit(".", 1)[0]
            forced = FORCE_NEW.get(rtype, frozenset()) if section == "resource" else frozenset()
            hit = sorted({p.split(".")[0].split("[")[0] for p, _, _ in attrs} & forced)
            action = "replace" if hit else "update"
            note = f"forces replacement: {', '.join(hit)}" if hit else ""
            diff.changes.append(Change(section, addr, action, attrs, note))
    bo, ho = _strip(base.get("output") or {}), _strip(head.get("output") or {})
    for name in sorted(set(bo) | set(ho)):
        if bo.get(name) != ho.get(name):
            action = "add" if name not in bo else "remove" if name not in ho else "update"
            diff.changes.append(
                Change(
                    "output",
                    f"output.{name}",
                    action,
                    _attr_diff(bo.get(name) or {}, ho.get(name) or {}),
                )
            )
    for key in ("provider", "terraform"):
        attrs = _attr_diff(_strip(base.get(key) or {}), _strip(head.get(key) or {}))
        if attrs:
            diff.changes.append(Change(key, key, "update", attrs))
    return diff


def diff_stacks(
    base: Mapping[str, Mapping[str, Any]], head: Mapping[str, Mapping[str, Any]]
) -> list[StackDiff]:
    """Per stack, what a deploy of ``head`` over ``base`` would add, remove, replace or change."""
    out = []
    for stack in sorted(set(base) | set(head)):
        out.append(_diff_doc(stack, base.get(stack) or {}, head.get(stack) or {}))
    return out


_ICONS = {"add": "+", "remove": "-", "replace": "-/+", "update": "~", "rename": "-/+"}


def _fmt(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if value is not None else "(none)"
    text = text if len(text) <= 120 else text[:117] + "..."
    return text.replace("|", "\\|").replace("`", "'")


def render_markdown(diffs: list[StackDiff], base_ref: str, head_ref: str, scan: str = "") -> str:
    """The PR comment: a summary table, then each stack's changes with changed attributes."""
    total = sum(len(d.changes) for d in diffs)
    lines = [
        "<!-- sensorlake-plan-review -->",
        f"## Infrastructure plan review: `{base_ref}` → `{head_ref}`",
        "",
        "Offline review of the synthesized Terraform JSON (no state, no credentials). "
        "`-/+` means replaced: check it twice.",
        "",
    ]
    if total == 0:
        lines.append("**No infrastructure changes.**")
    else:
        lines += ["| stack | add | change | replace | remove |", "|---|---:|---:|---:|---:|"]
        for d in diffs:
            replace = d.count("replace") + d.count("rename")
            lines.append(
                f"| `{d.stack}` | {d.count('add')} | {d.count('update')} | {replace} | {d.count('remove')} |"
            )
    for d in diffs:
        if not d.changes:
            continue
        lines += ["", f"### `{d.stack}`", ""]
        for c in d.changes:
            note = f" — {c.note}" if c.note else ""
            lines.append(f"- `{_ICONS[c.action]}` **{c.action}** `{c.address}`{note}")
            shown = c.attributes if c.action != "add" else c.attributes[:0]
            for path, before, after in shown[:25]:
                lines.append(f"  - `{path}`: `{_fmt(before)}` → `{_fmt(after)}`")
            if len(shown) > 25:
                lines.append(f"  - … {len(shown) - 25} more attributes")
    if scan:
        lines += ["", "### Security scan", "", "```", scan.strip(), "```"]
    return "\n".join(lines) + "\n"
