"""The epoch policy: is the sensor database at hand the one the watermark refers to?

The sensor deletes and recreates its database on restart, so row ids start again at 1. A
source row is identified by (gateway, epoch, row id), and a new epoch starts when the ids
went backwards or the row at the watermark changed (its anchor); a database file that was
merely replaced by an identical copy continues the epoch. All of that is decided here, once
per snapshot, and recorded in the state before anything of the new epoch is read; files
still open (accumulating rows of the old epoch) are closed first, through ``on_reset``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .state import SourcePosition, State

__all__ = ["reset_reason", "resolve_position"]


class _Anchors(Protocol):
    def anchor(self, row_id: int) -> str | None: ...


def reset_reason(position: SourcePosition, max_id: int, source: _Anchors) -> str | None:
    """Why the database at hand is not the one the watermark refers to, or None."""
    if max_id < position.watermark:
        return f"row ids went backwards (highest id {max_id} < watermark {position.watermark})"
    if position.watermark > 0 and source.anchor(position.watermark) != position.anchor:
        return f"row {position.watermark} changed: the database was replaced"
    return None


def resolve_position(
    state: State,
    source: _Anchors,
    *,
    max_id: int,
    identity: str,
    db_path: str,
    on_reset: Callable[[SourcePosition], None] = lambda old: None,
) -> tuple[SourcePosition, str | None]:
    """Where to read from, starting a new epoch when the database was reset or replaced
    (after ``on_reset`` had the old position); with the message that says so when it did."""
    position = state.position()
    if position is None:
        first = state.start_epoch(
            reason="first run", db_path=db_path, db_identity=identity, previous=None
        )
        return first, None
    reason = reset_reason(position, max_id, source)
    if reason is None:
        if identity != position.db_identity:
            state.note_identity(db_path, identity)
        return position, None
    if identity != position.db_identity:
        reason += " (new database file)"
    on_reset(position)
    new = state.start_epoch(reason=reason, db_path=db_path, db_identity=identity, previous=position)
    return new, f"database reset detected: {reason}; starting epoch {new.epoch} from row 1"
