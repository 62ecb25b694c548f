"""Named crash points for the crash-recovery tests (SIGKILL at a chosen step).

Armed through the configuration (``SENSORLAKE_FAILPOINTS``, e.g. ``after-spool:2`` kills the
process the second time the run reaches ``after-spool``) and handed down to the steps that
have one. Kept in the product, not the tests, because a real process must die at a real
step for the test to prove anything; unarmed, :meth:`Failpoints.hit` is one dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

__all__ = ["POINTS", "Failpoints"]

POINTS = (
    "after-encode",  # a segment encoded, batch not yet complete
    "after-spool",  # batch files fsynced and renamed into ready/, state not yet committed
    "after-commit",  # state committed (files + watermark), nothing shipped yet
    "during-upload",  # in the middle of sending an object's bytes
    "after-upload",  # the sink has the object, the state does not know yet
)


class Failpoints:
    """Countdowns per point; the process kills itself when one reaches zero."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._left = dict(counts or {})

    @classmethod
    def parse(cls, spec: str) -> Failpoints:
        """``"after-spool:2,during-upload"`` -> countdowns; ``ValueError`` names a bad item."""
        counts: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, count = item.partition(":")
            if name not in POINTS:
                raise ValueError(f"unknown failpoint {name!r} (choose from {', '.join(POINTS)})")
            counts[name] = int(count or 1)
        return cls(counts)

    def armed(self, name: str) -> bool:
        return name in self._left

    def hit(self, name: str) -> None:
        if name not in self._left:
            return
        self._left[name] -= 1
        if self._left[name] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)

    def __repr__(self) -> str:
        return f"Failpoints({self._left!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failpoints) and other._left == self._left
