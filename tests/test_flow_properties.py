"""The whole flow on sensor databases the project did not write (issue 13).

Hypothesis draws fleets of gateways (``tests/strategies.py``): each its own database in the
sensor's 27-column shape, filled by the strategies, never by ``landing.simulate``, growing or
reset between landing runs. For each fleet: the real ``sensorlake land`` per gateway and
round (``SENSORLAKE_GATEWAY_ID``), the local streams (``streams.runner.run`` on one shared
local Spark session, writing Delta with ``deltalake``), then ``sensorlake status``.

The oracle:

* no stage raises (a Python traceback) or fails: ``land`` exits 0 for every input a sensor
  can write (README: one bad row never stops a gateway), no stream fails or skips a file,
  ``status`` exits 0;
* every source row with a usable id is in raw exactly once by ``_lineage`` (gateway, epoch,
  row id), and raw holds nothing else;
* every other table holds exactly the records landing wrote for it (the landed files), and
  as many as the landing run summaries say;
* what landing promises between pipelines: schematized and rejected split raw, filtered is
  part of schematized, emergency part of raw; and each profile means what it says (an
  all-valid database rejects nothing, an emergency-only one puts every row in emergency...);
* ``status`` finds every record in its table exactly once.

``make test`` runs a few fixed examples (derandomized); ``make test-flow-deep`` runs
``SENSORLAKE_FLOW_EXAMPLES`` (default 200) random ones.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, Phase, example, given, note, settings

from sensorlake.contract.cli import main as sensorlake
from sensorlake.contract.pipelines import TARGETS, bucket_role
from sensorlake.streams.config import LocalRunConfig

from .strategies import Fleet, SensorDatabase, apply_round, fleets, known_bad_fleet

pytestmark = [pytest.mark.flow]

_DEEP = os.environ.get("SENSORLAKE_FLOW_EXAMPLES")
EXAMPLES = int(_DEEP) if _DEEP else 3

Key = tuple[str, int, int]


# -- the stages -----------------------------------------------------------------------------


def _clean(stage: str, result: Result) -> None:
    """The stage ended by itself (an exit code), without a Python traceback."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"{stage} raised (a traceback for the user):\n{tb}\n{result.output}")
    assert "Traceback (most recent call last)" not in result.output, f"{stage}:\n{result.output}"


class NoProgress(AssertionError):
    """Landing took more database snapshots than a run that moves forward can need."""


@contextmanager
def progress_guard(rows: int) -> Iterator[None]:
    """Fail, instead of hanging, when a landing run stops moving forward: each snapshot of
    a run either reads at least one row or ends it (plus one per reset or changed file)."""
    from sensorlake.landing.source import Source

    original = Source.snapshot
    budget = rows + 10
    taken = 0

    def counted(self: Source) -> Any:
        nonlocal taken
        taken += 1
        if taken > budget:
            raise NoProgress(f"landing took {taken} snapshots for {rows} row(s): it is stuck")
        return original(self)

    with patch.object(Source, "snapshot", counted):
        yield


def _land(db: Path, state: Path, lake: Path, gateway: str, rows: int) -> dict[str, Any]:
    with progress_guard(rows):
        result = CliRunner(env={"SENSORLAKE_GATEWAY_ID": gateway}).invoke(
            sensorlake,
            [
                "land", "--json",
                "--db-path", str(db), "--state-dir", str(state), "--lake-dir", str(lake),
            ],
        )  # fmt: skip
    _clean("sensorlake land", result)
    assert result.exit_code == 0, f"land exited {result.exit_code}:\n{result.output}"
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _streams(spark: Any, config: LocalRunConfig) -> None:
    from sensorlake.streams.runner import run

    try:
        result = run(config, spark=spark, progress=lambda _: None)
    except Exception:
        pytest.fail(f"the streams raised (a traceback for the user):\n{traceback.format_exc()}")
    failed = {t.target: t.error for t in result.failed}
    assert not failed, f"streams failed (exit 4): {failed}"
    assert not result.corrupt, f"streams skipped files as corrupt (exit 1): {result.corrupt}"


def _status(config: LocalRunConfig, state: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        sensorlake,
        [
            "status", "--json",
            "--lake-dir", str(config.lake_dir),
            "--state-dir", str(state),
            "--warehouse-dir", str(config.warehouse_dir),
            "--checkpoint-dir", str(config.checkpoint_dir),
        ],
    )  # fmt: skip
    _clean("sensorlake status", result)
    return result.exit_code, json.loads(result.stdout)


# -- what is where ----------------------------------------------------------------------------


def _key(lineage: Any) -> Key | None:
    if not lineage:
        return None
    return (lineage["gateway_id"], lineage["epoch"], lineage["row_id"])


def _landed(lake: Path, target: str) -> Counter[Key | None]:
    """Lineage of every record landing wrote for ``target``, read from its files."""
    out: Counter[Key | None] = Counter()
    for path in sorted((lake / bucket_role(target) / target).rglob("*.ndjson.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                out[_key(json.loads(line).get("_lineage"))] += 1
    return out


def _table(config: LocalRunConfig, target: str) -> Counter[Key | None]:
    """Lineage of every row of ``target``'s Delta table."""
    from deltalake import DeltaTable

    path = config.table_path(config.spec(target))
    if not path.exists():
        return Counter()
    rows = DeltaTable(str(path)).to_pyarrow_dataset().to_table(columns=["_lineage"]).to_pylist()
    return Counter(_key(r["_lineage"]) for r in rows)


def _profiles(fleet: Fleet) -> dict[Key, SensorDatabase]:
    return {
        (g.gateway_id, epoch, row_id): db
        for g in fleet.gateways
        for epoch, db in g.epochs()
        for row_id in db.usable_ids()
    }


def _describe(fleet: Fleet) -> str:
    lines = [f"streams between rounds: {fleet.streams_between_rounds}"]
    for g in fleet.gateways:
        for r in g.rounds:
            db = r.database
            lines.append(
                f"{g.gateway_id}: {r.kind} {db.profile} {len(db.rows)} row(s), "
                f"{'sensor table' if db.keyed else 'loose table'}, {db.journal}"
            )
    return "\n".join(lines)


# -- the property -----------------------------------------------------------------------------


def _flow(spark: Any, fleet: Fleet, root: Path) -> None:
    config = LocalRunConfig(
        lake_dir=root / "lake",
        warehouse_dir=root / "warehouse",
        checkpoint_dir=root / "checkpoints",
        master="local[2]",
    )
    summaries: list[dict[str, Any]] = []
    rounds = max(len(g.rounds) for g in fleet.gateways)
    for index in range(rounds):
        for n, plan in enumerate(fleet.gateways):
            if index >= len(plan.rounds):
                continue
            db = root / f"gw{n}" / "sensor_data.db"
            db.parent.mkdir(exist_ok=True)
            previous = plan.rounds[index - 1].database if index else None
            apply_round(db, plan.rounds[index], previous)
            rows = len(plan.rounds[index].database.rows)
            state = root / f"gw{n}" / "state"
            summary = _land(db, state, config.lake_dir, plan.gateway_id, rows)
            expected_epoch = plan.epochs()[index][0]
            assert summary["epoch"] == expected_epoch, (plan.gateway_id, index, summary)
            summaries.append(summary)
        if fleet.streams_between_rounds and index < rounds - 1:
            _streams(spark, config)
    _streams(spark, config)

    # Raw: every source row with an id, exactly once, and nothing else.
    landed = {t: _landed(config.lake_dir, t) for t in TARGETS}
    tables = {t: _table(config, t) for t in TARGETS}
    expected = fleet.expected_raw()
    assert tables["raw"] == expected, (
        f"raw table != source rows: missing {dict(expected - tables['raw'])}, "
        f"extra {dict(tables['raw'] - expected)}"
    )
    for target in TARGETS:
        said = sum(s["targets"].get(target, {}).get("records", 0) for s in summaries)
        assert sum(landed[target].values()) == said, (target, "files vs summaries", said)
        assert tables[target] == landed[target], (
            f"{target}: table != landed files: missing {dict(landed[target] - tables[target])}, "
            f"extra {dict(tables[target] - landed[target])}"
        )
        assert None not in tables[target], f"{target}: rows without _lineage"

    # Between pipelines, as landing promises.
    assert tables["schematized"] + tables["rejected"] == tables["raw"]
    assert not tables["filtered"] - tables["schematized"]
    assert not tables["emergency"] - tables["raw"]

    # Each profile means what it says.
    for key, db in _profiles(fleet).items():
        where = f"{key} of a {db.profile} database"
        if db.profile == "all_valid":
            assert key in tables["schematized"], f"{where} was rejected"
        elif db.profile == "all_invalid":
            assert key in tables["rejected"], f"{where} was schematized"
        elif db.profile == "emergency_only":
            assert key in tables["emergency"], f"{where} is not in emergency"
        elif db.profile == "no_emergency":
            assert key not in tables["emergency"], f"{where} is in emergency"

    # The operator's view: every record in its table exactly once.
    code, report = _status(config, root / "gw0" / "state")
    item = next(i for i in report["monitoring"] if i["item"] == "reconciliation")
    if fleet.repeated_ids():  # never silent: the runs counted what they left out
        assert sum(s.get("duplicate_ids", 0) for s in summaries) > 0, summaries
    assert item["state"] == "exactly once", item
    assert code == 0, report


@settings(
    max_examples=EXAMPLES,
    derandomize=not _DEEP,
    deadline=None,
    print_blob=True,
    report_multiple_bugs=False,
    # The fixed examples of `make test` fail as they are (no minutes of shrinking in CI);
    # the deep run shrinks what it finds.
    phases=tuple(Phase) if _DEEP else (Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(fleet=fleets())
@example(fleet=known_bad_fleet())
def test_every_reading_reaches_its_tables_exactly_once(spark: Any, fleet: Fleet) -> None:
    note(_describe(fleet))
    with tempfile.TemporaryDirectory(prefix="sensorlake-flow-") as root:
        _flow(spark, fleet, Path(root))
