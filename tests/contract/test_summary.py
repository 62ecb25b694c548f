"""Run summaries: what landing stores is what dashboards read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.summary import RunSummary, read_runs

from ..support.samples import SAMPLES, summaries

pytestmark = pytest.mark.contract


def test_stored_runs_read_back_as_the_summaries_landing_returned(tmp_path: Path) -> None:
    """The committed gateway state of two real landing runs (``tests/support/samples.py``)
    reads back as the two summaries those runs returned, newest first."""
    assert read_runs(tmp_path / "state") == []
    returned = [RunSummary.from_dict(s) for s in summaries()]
    runs = read_runs(SAMPLES / "state")
    assert [r.summary for r in runs] == returned
    assert [r.summary.as_dict() for r in runs] == summaries()
    assert runs[0].run_id > runs[1].run_id
    assert runs[0].started_at <= runs[0].finished_at
    assert runs[1].summary.rows_read == 300 and runs[0].summary.rows_read == 120
    assert read_runs(SAMPLES / "state", limit=1)[0].summary == returned[0]


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
