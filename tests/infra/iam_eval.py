"""A small IAM policy evaluator for the synthesized policy documents (test helper).

moto does not enforce IAM, so the create-only and encryption promises are checked on the
policy documents themselves: an explicit Deny wins, else an Allow is needed (identity policy)
and no bucket-policy Deny may match. Supports the operators our policies use: StringEquals,
StringNotEquals(IfExists), StringLike, ArnEquals, ArnLike, Bool and Null. A missing key makes
a condition false, except for ...IfExists and negated operators, which are true, as in IAM.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "allowed", "matching", "statements"]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)  # condition key -> value


def statements(policy_document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of an ``aws_iam_policy_document`` data source body."""
    return list(policy_document.get("statement") or [])


def _like(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _condition_holds(cond: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    test, key, values = cond["test"], cond["variable"], list(cond["values"])
    present = key in context
    value = context.get(key, "")
    if test == "Null":
        return (not present) == (values == ["true"])
    if_exists = test.endswith("IfExists")
    op = test.removesuffix("IfExists")
    if not present:
        # ...IfExists: true when the key is absent; so is a negated operator (IAM docs:
        # "If the key is not present ... StringNotLike ... the condition is true").
        return if_exists or "Not" in op
    match op:
        case "StringEquals" | "ArnEquals":
            return value in values
        case "StringNotEquals" | "ArnNotEquals":
            return value not in values
        case "StringLike" | "ArnLike":
            return any(_like(v, value) for v in values)
        case "Bool":
            return value.lower() in [v.lower() for v in values]
    raise NotImplementedError(f"operator {test}")


def matching(stmts: Iterable[Mapping[str, Any]], request: Request) -> list[Mapping[str, Any]]:
    """Statements whose action, resource and every condition match the request."""
    out = []
    for st in stmts:
        if not any(_like(a, request.action) for a in st.get("actions", [])):
            continue
        if not any(_like(r, request.resource) for r in st.get("resources", ["*"])):
            continue
        if all(_condition_holds(c, request.context) for c in st.get("condition", [])):
            out.append(st)
    return out


def allowed(
    identity: Iterable[Mapping[str, Any]],
    request: Request,
    resource_policy: Iterable[Mapping[str, Any]] = (),
) -> bool:
    """Same-account evaluation: no matching Deny anywhere, and an Allow in the identity policy."""
    identity, resource_policy = list(identity), list(resource_policy)
    hits = matching(identity, request) + matching(resource_policy, request)
    if any(st.get("effect", "Allow") == "Deny" for st in hits):
        return False
    return any(st.get("effect", "Allow") == "Allow" for st in matching(identity, request))
