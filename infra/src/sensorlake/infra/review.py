"""Plan review without credentials: diff two sets of synthesized stacks, render Markdown.

Pure functions over ``{stack: cdk.tf.json dict}``. Without a Terraform state the synthesized
JSON is what can be reviewed; "replaced" is decided from a table of attributes that force
replacement for the resources we use (the real ``terraform plan`` job confirms it).

The review opens with the **security-relevant changes**: IAM, trust, bucket and key policies,
grants, workspace bindings, isolation, ownership, read-only flags, encryption and public-access
settings. A policy rendered by an ``aws_iam_policy_document`` data source is reported on the
resource that uses it (a widened gateway policy shows as a change of ``aws_iam_policy``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FORCE_NEW",
    "SECURITY_ATTRIBUTES",
    "SECURITY_TYPES",
    "Change",
    "SecurityChange",
    "StackDiff",
    "diff_stacks",
    "load_synth",
    "render_markdown",
    "security_changes",
]

# Attributes whose change makes Terraform destroy and recreate the resource, from the provider
# sources of the pinned versions (ForceNew / RequiresReplace): hashicorp/aws 6.x and
# databricks/databricks 1.117 (catalog/resource_*.go; a resource without an Update function,
# like databricks_workspace_binding, replaces on any change). Each entry is tested to be an
# argument of the resource in the provider bindings (tests/infra/test_review.py).
_GRANT_SECURABLES = frozenset(
    {
        "catalog", "credential", "external_location", "foreign_connection", "function",
        "metastore", "model", "pipeline", "recipient", "schema", "share",
        "storage_credential", "table", "volume",
    }
)  # fmt: skip
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
    # a catalog or volume rename is an update in 1.99+; the storage paths are not
    "databricks_catalog": frozenset(
        {"storage_root", "provider_name", "share_name", "connection_name"}
    ),
    "databricks_schema": frozenset({"catalog_name", "name", "storage_root"}),
    "databricks_volume": frozenset(
        {"catalog_name", "schema_name", "volume_type", "storage_location"}
    ),
    "databricks_external_location": frozenset({"name"}),
    "databricks_storage_credential": frozenset({"name"}),
    "databricks_grants": _GRANT_SECURABLES,
    "databricks_workspace_binding": frozenset(
        {"binding_type", "catalog_name", "securable_name", "securable_type", "workspace_id"}
    ),
    "databricks_entity_tag_assignment": frozenset({"entity_name", "entity_type", "tag_key"}),
    "databricks_workspace_file": frozenset({"path"}),
    "time_sleep": frozenset({"create_duration", "destroy_duration", "triggers"}),
}

# Every change to these resources is security-relevant...
SECURITY_TYPES = frozenset(
    {
        "aws_iam_policy", "aws_iam_role", "aws_iam_role_policy", "aws_iam_role_policy_attachment",
        "aws_kms_key", "aws_s3_bucket_policy", "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_ownership_controls", "aws_s3_bucket_server_side_encryption_configuration",
        "databricks_grants", "databricks_grant", "databricks_permissions",
        "databricks_workspace_binding",
    }
)  # fmt: skip
# ...and so is a change to these attributes of any resource.
SECURITY_ATTRIBUTES = frozenset(
    {"isolation_mode", "owner", "read_only", "run_as", "force_destroy", "allowed_account_ids"}
)
_POLICY_DATA = "aws_iam_policy_document"
_REF_RE = re.compile(r"\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.")
_SECTIONS = ("resource", "data")


@dataclass(frozen=True)
class Change:
    """One resource, data source or output that differs between base and head."""

    kind: str  # "resource" | "data" | "output"
    address: str  # e.g. aws_s3_bucket.storage_raw_bucket_E5C75E70
    action: str  # "add" | "remove" | "replace" | "update" | "rename"
    attributes: tuple[tuple[str, Any, Any], ...] = ()  # (path, before, after)
    note: str = ""


@dataclass(frozen=True)
class SecurityChange:
    """A change a security reviewer must see: the resource and why it matters."""

    stack: str
    address: str
    action: str
    why: str
    attributes: tuple[tuple[str, Any, Any], ...] = ()


@dataclass
class StackDiff:
    stack: str
    changes: list[Change] = field(default_factory=list)
    security: list[SecurityChange] = field(default_factory=list)

    def count(self, action: str) -> int:
        n = sum(1 for c in self.changes if c.action == action and c.kind == "resource")
        if action == "update":  # resources whose policy changed through a data source
            direct = {c.address for c in self.changes if c.kind == "resource"}
            n += len({s.address for s in self.security if s.why.startswith("policy via")} - direct)
        return n


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


def _sids(value: list[Any]) -> list[str] | None:
    """Statement IDs when every item is a statement with a unique ``sid``, else None."""
    sids = [v.get("sid") for v in value if isinstance(v, dict)]
    if len(sids) == len(value) and all(sids) and len(set(sids)) == len(sids):
        return sids
    return None


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k in sorted(value):
            yield from _flatten(value[k], f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        # policy statements are keyed by sid, so inserting one does not shift the others
        keys = _sids(value) or [str(i) for i in range(len(value))]
        for key, v in zip(keys, value, strict=True):
            yield from _flatten(v, f"{prefix}[{key}]")
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
    diff.security = security_changes(stack, diff.changes, base, head)
    return diff


def _users_of_policy_documents(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """data source name -> addresses of the resources (and data sources) that reference it."""
    users: dict[str, list[str]] = {}
    for section in _SECTIONS:
        for addr, body in _blocks(doc, section).items():
            for name in sorted(set(_REF_RE.findall(json.dumps(body)))):
                users.setdefault(name, []).append(addr)
    return users


def security_changes(
    stack: str, changes: list[Change], base: Mapping[str, Any], head: Mapping[str, Any]
) -> list[SecurityChange]:
    """The changes of one stack that touch access, trust, encryption or exposure."""
    out: list[SecurityChange] = []
    users = _users_of_policy_documents(head)
    for name, addrs in _users_of_policy_documents(base).items():
        users.setdefault(name, [])
        users[name] += [a for a in addrs if a not in users[name]]
    for c in changes:
        if c.kind == "provider" and any(
            p.endswith("allowed_account_ids") for p, _, _ in c.attributes
        ):
            out.append(SecurityChange(stack, c.address, c.action, "allowed accounts", c.attributes))
        if c.kind not in _SECTIONS:
            continue
        rtype = c.address.removeprefix("data.").rsplit(".", 1)[0]
        if c.kind == "data" and rtype == _POLICY_DATA:
            name = c.address.rsplit(".", 1)[1]
            rendered = [u for u in users.get(name, []) if not u.startswith("data.")] or [c.address]
            for user in rendered:
                out.append(
                    SecurityChange(
                        stack, user, "update" if c.action in ("update", "rename") else c.action,
                        f"policy via `{c.address}`", c.attributes,
                    )
                )  # fmt: skip
            continue
        if c.kind != "resource":
            continue
        if rtype in SECURITY_TYPES:
            out.append(SecurityChange(stack, c.address, c.action, rtype, c.attributes))
            continue
        hit = [a for a in c.attributes if a[0].split(".")[0].split("[")[0] in SECURITY_ATTRIBUTES]
        if hit:
            names = sorted({a[0].split(".")[0].split("[")[0] for a in hit})
            out.append(SecurityChange(stack, c.address, c.action, ", ".join(names), tuple(hit)))
    # policies and trust first: they decide who can do what
    return sorted(out, key=lambda sc: (not sc.why.startswith(("policy", "aws_")), sc.address))


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


def render_markdown(
    diffs: list[StackDiff], base_ref: str, head_ref: str, scan: str = "", config_note: str = ""
) -> str:
    """The PR comment: security-relevant changes first, a summary table, then each stack's
    changes with changed attributes."""
    total = sum(len(d.changes) for d in diffs)
    lines = [
        "<!-- sensorlake-plan-review -->",
        f"## Infrastructure plan review: `{base_ref}` → `{head_ref}`",
        "",
        "Offline review of the synthesized Terraform JSON (no state, no credentials). "
        "`-/+` means replaced: check it twice.",
        "",
    ]
    if config_note:
        lines += [f"Config: {config_note}.", ""]
    security = [s for d in diffs for s in d.security]
    if total:
        lines += ["### Security-relevant changes", ""]
        if not security:
            lines += ["None: no IAM, trust, bucket/key policy, grant, binding, isolation, "
                      "ownership, encryption or public-access change.", ""]  # fmt: skip
        for sc in security:
            lines.append(
                f"- `{_ICONS[sc.action]}` **{sc.action}** `{sc.stack}`: `{sc.address}` ({sc.why})"
            )
            shown = sc.attributes
            for path, before, after in shown[:40]:
                lines.append(f"  - `{path}`: `{_fmt(before)}` → `{_fmt(after)}`")
            if len(shown) > 40:
                lines.append(f"  - … {len(shown) - 40} more attributes")
        lines.append("")
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
