"""The API's response models: states are closed sets, required figures are required, and
what an endpoint answers survives a JSON round trip unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sensorlake.dashboards import models

pytestmark = pytest.mark.dashboards

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _health(status: str) -> models.Health:
    component = models.ComponentHealth(name="landing", backend="s3", status="healthy")
    return models.Health(status=status, components=[component], as_of=NOW, age_seconds=1.5)


def test_a_state_outside_its_set_is_refused() -> None:
    assert _health("degraded").status == "degraded"
    with pytest.raises(ValidationError, match="status"):
        _health("fine")
    with pytest.raises(ValidationError, match="name"):
        models.ComponentHealth(name="spool", backend="s3", status="healthy")
    row = {"pipeline": "raw", "gateway": "g", "landed_records": 3, "table_rows": 3}
    row |= dict.fromkeys(("distinct_records", "pending_records", "missing_records"), 0)
    row |= {"duplicate_rows": 0, "extra_records": 0, "verdict": "ok"}
    assert models.ReconciliationRow.model_validate(row).verdict == "ok"
    with pytest.raises(ValidationError, match="verdict"):
        models.ReconciliationRow.model_validate({**row, "verdict": "probably fine"})


def test_required_figures_must_be_given_and_defaults_are_the_documented_ones() -> None:
    with pytest.raises(ValidationError, match="objects"):
        models.PipelineMetrics.model_validate({"pipeline": "raw", "location": "b/raw"})
    metrics = models.PipelineMetrics(
        pipeline="raw",
        location="b/raw",
        objects=2,
        bytes=10,
        records=5,
        oldest_object=None,
        newest_object=NOW,
        objects_last_hour=1,
        records_last_hour=2,
        objects_last_day=2,
        records_last_day=5,
    )
    assert metrics.uncounted_objects == 0 and metrics.error is None


def test_a_response_survives_a_json_round_trip() -> None:
    health = _health("unavailable")
    again = models.Health.model_validate_json(health.model_dump_json())
    assert again == health and again.as_of == NOW


def test_the_error_response_is_one_detail_line() -> None:
    assert models.ErrorResponse(detail="S3 unreachable").model_dump() == {
        "detail": "S3 unreachable"
    }
    with pytest.raises(ValidationError):
        models.ErrorResponse.model_validate({})


def test_every_exported_model_has_a_json_schema() -> None:
    """/docs is generated from these: each one must render a schema."""
    for name in models.__all__:
        model = getattr(models, name)
        if isinstance(model, type) and issubclass(model, models.BaseModel):
            schema = model.model_json_schema()
            assert schema["title"] == name and "properties" in schema
