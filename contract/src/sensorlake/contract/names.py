"""The one rule for the Unity Catalog names this project creates and writes to.

Catalog, schema, volume, storage credential and external location names are used unquoted:
in ``/Volumes/<catalog>/<schema>/<volume>`` paths and in ``toTable("<catalog>.<schema>.<t>")``,
whose parser reads plain identifiers. UC itself would accept more when the name is quoted
(a ``-``, a leading digit), but then the job rejects it at run time (exit 2); so infra, streams
and dashboards all check this rule up front: letters, digits and ``_``, not starting with a
digit, at most 255 characters (UC's limit).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["UC_NAME_HINT", "UcNameError", "check_uc_name", "is_uc_name"]

_UC_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
UC_NAME_HINT: Final = "use letters, digits and _ (not starting with a digit, at most 255)"


class UcNameError(ValueError):
    """A name the project cannot use unquoted; its message is one line with the fix."""


def is_uc_name(value: str) -> bool:
    """Whether ``value`` follows the rule (see the module docstring)."""
    return bool(_UC_NAME_RE.fullmatch(value))


def check_uc_name(kind: str, value: str) -> str:
    """``value`` when it is a usable ``kind`` name (catalog, schema, volume...), else
    :class:`UcNameError` naming the kind, the value and the fix."""
    if not is_uc_name(value):
        raise UcNameError(f"{kind} {value!r} is not a valid Unity Catalog name: {UC_NAME_HINT}")
    return value
