"""Naming: infra's own names, and the shared facts infra takes from the contract."""

from __future__ import annotations

from sensorlake.contract import pipelines
from sensorlake.infra import naming
from sensorlake.infra.config import ENV_OVERRIDES


def test_names_used_by_other_packages() -> None:
    assert naming.location_url("b") == "s3://b/"
    assert naming.external_location_name("checkpoints") == "autoloader_checkpoints_location"
    assert naming.external_location_name("raw") == "sensor_data_raw_location"


def test_infra_buckets_follow_the_contract_rules() -> None:
    log = naming.log_bucket_name("eu-west-1", "123456789012")
    assert log == "sensor-data-access-logs-123456789012-eu-west-1"
    state = naming.state_bucket_name("eu-west-1", "123456789012")
    assert pipelines.bucket_name_problems(log) == pipelines.bucket_name_problems(state) == []


def test_bucket_variables_come_from_the_contract() -> None:
    for role, env in pipelines.BUCKET_ENV.items():
        assert ENV_OVERRIDES[env] == ("buckets", role)
    # infra defines none of the shared facts itself
    for shared in ("BUCKET_ROLES", "LANDING_PREFIXES", "PROBE_PREFIX", "bucket_name_problems"):
        assert not hasattr(naming, shared)
