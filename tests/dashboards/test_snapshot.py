"""``snapshot.py``: the figures made from what the readers found, here the pipelines' lag on
a lake landed by the real lander."""

from __future__ import annotations

import os
import time

import pytest

from .conftest import Flow, landed_keys

pytestmark = pytest.mark.dashboards


def test_lag_is_the_age_of_the_oldest_file_not_in_the_table(flow: Flow) -> None:
    """Files of different ages wait for a table no stream has written yet: the lag is the
    oldest one's age, not the newest's."""
    flow.warehouse.mkdir()  # a warehouse without the tables: every landed file waits
    keys = landed_keys(flow.lake, "raw")
    assert len(keys) >= 2
    now = time.time()
    old, recent = now - 900, now - 100
    for key in keys:
        stamp = old if key == keys[1] else recent
        os.utime(flow.lake / "raw" / key.format(), (stamp, stamp))

    snap = flow.monitor().refresh()
    raw = next(p for p in snap.status.pipelines if p.pipeline == "raw")
    assert raw.backlog_files == len(keys)
    assert raw.lag_seconds is not None and 900 <= raw.lag_seconds < 960, raw
    assert raw.state == "lagging"  # past the 300 s lag threshold, short of the stall one
    assert "oldest 15 min" in raw.reason, raw.reason
