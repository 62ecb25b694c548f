"""The old rows' staging history: one copy of each row, duplicates counted per day,
generations split where the id starts again, and what the zone still lacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorlake.landing.migrate.history import History, day_of, row_identity


def row(i: int, ts: str, **extra: object) -> dict[str, object]:
    return {"id": i, "timestamp": ts, "sensor_id": "CHI_000001", "temperature": 20.0 + i} | extra


T = "2026-03-01T23:59:59.{:03d}+00:00"
U = "2026-03-02T00:00:00.{:03d}+00:00"


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "history.sqlite")
    yield h
    h.close()


def test_rows_without_an_identity_are_named_by_reason() -> None:
    assert row_identity({"timestamp": "x"}) == "id.missing"
    assert row_identity({"id": "7", "timestamp": "x"}) == "id.not-integer"
    assert row_identity({"id": 2**64, "timestamp": "x"}) == "id.out-of-range"
    assert row_identity({"id": 7}) == "timestamp.missing"
    assert row_identity({"id": 7, "timestamp": "t", "sensor_id": None}) == (7, "t", "")


def test_the_day_is_the_utc_date_landing_files_a_row_under() -> None:
    assert day_of("2026-03-02T01:30:00.000+02:00") == "2026-03-01"
    assert day_of(U.format(5)) == "2026-03-02"
    assert day_of("soon") == "unknown"


def test_a_batch_uploaded_twice_is_stored_once_and_counted_on_its_day(history: History) -> None:
    batch = [row(1, T.format(1)), row(2, U.format(2))]
    history.add("gw-1", "20260302_000000_aaaaaaaa.json", batch, etag="e1")
    history.add("gw-1", "20260302_000001_bbbbbbbb.json", batch, etag="e2")  # the retry
    history.add("gw-1", "odd.json", [{"timestamp": T.format(3)}])
    assert history.per_day("gw-1") == {"2026-03-01": 1, "2026-03-02": 1}
    assert history.duplicates == 2 and history.rows_read == 5
    assert history.duplicates_per_day("gw-1") == {"2026-03-01": 1, "2026-03-02": 1}
    assert history.unidentified == {"id.missing": 1}
    assert history.objects() == {
        "20260302_000000_aaaaaaaa.json": "e1",
        "20260302_000001_bbbbbbbb.json": "e2",
    }
    assert history.day_identities("gw-1", "2026-03-01") == {(1, T.format(1), "CHI_000001")}


def test_a_new_generation_starts_where_the_id_does_not_grow(history: History) -> None:
    first = [row(i, T.format(i)) for i in (1, 2, 3)]
    after_reset = [row(i, U.format(i)) for i in (1, 2)]  # the sensor recreated its database
    history.add("gw-1", "a.json", first + after_reset)
    gens = history.generations("gw-1")
    assert [(g.rows, g.min_id, g.max_id) for g in gens] == [(3, 1, 3), (2, 1, 2)]
    assert gens[0].end == gens[1].start == (U.format(1), 1) and gens[1].end is None
    assert gens[0].days == ("2026-03-01",) and gens[1].days == ("2026-03-02",)
    assert history.gateways() == ["gw-1"]


def test_what_the_zone_lacks_is_landed_in_the_first_seen_column_order(history: History) -> None:
    rows = [row(1, T.format(1)), row(2, T.format(2), humidity=40.0), row(3, T.format(3))]
    history.add("gw-1", "a.json", rows)
    columns = history.columns("gw-1")
    assert columns == ["id", "timestamp", "sensor_id", "temperature", "humidity"]
    (gen,) = history.generations("gw-1")
    history.add_landed("gw-1", 7, [(1, T.format(1), "CHI_000001")], name="landed-file")
    assert history.landed_epochs(gen) == {7: (1, 1)}
    assert history.unlanded(gen) == 2 and history.unlanded(gen, above=2) == 1
    missing = list(history.to_land(gen, columns))
    assert missing == [
        [2, T.format(2), "CHI_000001", 22.0, 40.0],
        [3, T.format(3), "CHI_000001", 23.0, None],
    ]
    assert list(history.to_land(gen, columns, upto=2)) == missing[:1]
    assert history.zone_files("gw-1") == {"landed-file"}
    history.forget_zone("gw-1")
    assert history.zone_files("gw-1") == set() and history.unlanded(gen) == 3


def test_the_catalogue_survives_a_reopen_until_new_rows_arrive(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite")
    h.add("gw-1", "a.json", [row(1, T.format(1))], etag="e")
    h.flush()
    h.set_outcome("gw-1", {"landed": 1})
    h.close()
    again = History(tmp_path / "h.sqlite")
    try:
        assert again.objects() == {"a.json": "e"} and again.outcome("gw-1") == {"landed": 1}
        assert again.outcome("gw-2") is None
        again.add("gw-1", "b.json", [row(1, T.format(1))], etag="f")  # nothing new
        again.flush()
        assert again.outcome("gw-1") == {"landed": 1}
        again.add("gw-1", "c.json", [row(2, T.format(2))], etag="g")
        again.flush()
        assert again.outcome("gw-1") is None  # what the last run found no longer holds
    finally:
        again.close()
