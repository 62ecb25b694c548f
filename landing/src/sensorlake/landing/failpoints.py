"""Named crash points for the crash-recovery tests (SIGKILL at a chosen step).

Off unless ``SENSORLAKE_FAILPOINTS`` is set, e.g. ``after-spool:2`` kills the process the
second time the run reaches ``after-spool``. Kept in the product, not the tests, because a
real process must die at a real step for the test to prove anything; when the variable is
unset each call is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "failpoint"]

POINTS = (
    "after-encode",  # a chunk encoded into tmp files, batch not yet complete
    "after-spool",  # batch files fsynced and renamed into ready/, state not yet committed
    "after-commit",  # state committed (files + watermark), nothing shipped yet
    "during-upload",  # in the middle of sending an object's bytes
    "after-upload",  # the sink has the object, the state does not know yet
)

_SPEC = os.environ.get("SENSORLAKE_FAILPOINTS", "")
_ARMED: dict[str, int] = {}
for _item in filter(None, (part.strip() for part in _SPEC.split(","))):
    _name, _, _count = _item.partition(":")
    _ARMED[_name] = int(_count or 1)


def failpoint(name: str) -> None:
    if not _ARMED or name not in _ARMED:
        return
    _ARMED[name] -= 1
    if _ARMED[name] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
