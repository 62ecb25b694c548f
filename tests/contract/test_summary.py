"""Run summaries: their fields, and reading back those another version stored.

That what landing stores reads back through ``gateway_state.read_runs`` is tested in
``tests/landing/test_state.py`` (the real writer).
"""

from __future__ import annotations

import pytest

from sensorlake.contract.summary import RunSummary

pytestmark = pytest.mark.contract


def test_unknown_fields_from_another_version_are_ignored() -> None:
    data = RunSummary("local", "gw", "db").as_dict()
    data["from_the_future"] = 1
    data["targets"] = {"raw": {"records": 3, "files": 1, "new_counter": 9}}
    summary = RunSummary.from_dict(data)
    assert summary.targets["raw"].records == 3 and summary.targets["raw"].files == 1


def test_account_adds_a_batch() -> None:
    summary = RunSummary("local", "gw", "db")
    summary.account(10, {"sensor_id.format": 2}, [("raw", 10, 100), ("rejected", 2, 30)])
    summary.account(5, {"sensor_id.format": 1}, [("raw", 5, 50)])
    assert summary.rows_read == 15
    assert summary.rejected_reasons == {"sensor_id.format": 3}
    assert (summary.targets["raw"].records, summary.targets["raw"].files) == (15, 2)
    assert summary.targets["raw"].bytes == 150


def test_a_summary_from_before_rolling_reads_with_nothing_open() -> None:
    """Stored summaries without the open-file fields (landers before rolling) still read."""
    data = RunSummary("local", "gw", "db").as_dict()
    for name in ("open_records", "oldest_open_age_seconds", "next_close_at", "next_close_target"):
        del data[name]
    data["targets"] = {"raw": {"records": 3, "files": 1, "pending_files": 0}}
    summary = RunSummary.from_dict(data)
    assert (summary.open_records, summary.oldest_open_age_seconds) == (0, None)
    assert summary.next_close_at is None
    raw = summary.targets["raw"]
    assert (raw.open_records, raw.open_bytes, raw.open_age_seconds) == (0, 0, None)
