"""The gateway state on this machine: stored run summaries and the spool's files.

Every path comes from the contract's :class:`GatewayStateLayout`, the one landing writes by.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sensorlake.contract.gateway_state import GatewayStateLayout, read_runs

from ..errors import BackendUnavailable
from .base import GatewayState

__all__ = ["RUNS_SHOWN", "LocalGatewayReader"]

RUNS_SHOWN = 50


class LocalGatewayReader:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.layout = GatewayStateLayout(self.state_dir)

    def gateway_state(self) -> GatewayState | None:
        if not self.layout.db.exists():
            return None
        try:
            runs = tuple(read_runs(self.state_dir, limit=RUNS_SHOWN))
        except sqlite3.Error as exc:
            raise BackendUnavailable(
                f"cannot read the gateway state in {self.state_dir} ({exc})"
            ) from None
        except (ValueError, TypeError, AttributeError) as exc:  # a stored summary not ours
            raise BackendUnavailable(
                f"a run summary in the gateway state {self.layout.db} is not "
                f"valid ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}): check that "
                "the state directory is a sensorlake gateway's, or set --state-dir"
            ) from None
        files = size = 0
        ready = self.layout.spool.ready
        for root, _dirs, names in os.walk(ready):
            for name in names:
                files += 1
                try:
                    size += os.stat(os.path.join(root, name)).st_size
                except OSError:
                    continue  # shipped and removed while we looked
        return GatewayState(runs, files, size)
