"""The app: both stacks synthesized, outputs for other packages, no secrets, a snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.infra.conftest import FAKE_SECRETS, Synth

pytestmark = pytest.mark.synth

SNAPSHOTS = Path(__file__).parent / "snapshots"


def test_every_stack_is_written_to_cdktf_out(synthesized: Synth) -> None:
    files = sorted(
        p.relative_to(synthesized.outdir).as_posix()
        for p in synthesized.outdir.glob("stacks/*/cdk.tf.json")
    )
    assert files == [
        "stacks/sensorlake-catalog/cdk.tf.json",
        "stacks/sensorlake-jobs/cdk.tf.json",
        "stacks/sensorlake-storage/cdk.tf.json",
    ]
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    assert manifest["stacks"]["sensorlake-catalog"]["dependencies"] == ["sensorlake-storage"]
    assert manifest["stacks"]["sensorlake-jobs"]["dependencies"] == ["sensorlake-catalog"]


def test_outputs_other_packages_consume(synthesized: Synth) -> None:
    storage = synthesized.docs["sensorlake-storage"]["output"]
    catalog = synthesized.docs["sensorlake-catalog"]["output"]
    for role in ("raw", "schematized", "filtered", "emergency", "checkpoints"):
        assert f"bucket_{role}" in storage
        assert f"location_url_{role}" in catalog
    assert {"gateway_role_arn", "kms_key_arn"} <= set(storage)
    assert (
        catalog["volume_path_autoloader_checkpoints"]["value"]
        == "/Volumes/sensor_data_catalog/sensor_pipeline/autoloader_checkpoints"
    )
    assert {"uc_role_arn", "storage_credential_name", "catalog_name", "schema_name"} <= set(catalog)


def test_no_secret_reaches_the_synthesized_output(synthesized: Synth) -> None:
    text = "".join(p.read_text() for p in synthesized.outdir.rglob("*.json"))
    for secret in FAKE_SECRETS.values():
        assert secret not in text
    for doc in synthesized.docs.values():
        for providers in doc["provider"].values():
            for cfg in providers:
                assert not {"token", "password", "client_secret", "access_key", "secret_key"} & set(
                    cfg
                )


def _normalized(text: str) -> dict:
    return json.loads(text)


@pytest.mark.parametrize("stack", ["sensorlake-storage", "sensorlake-catalog", "sensorlake-jobs"])
def test_snapshot(synthesized: Synth, stack: str) -> None:
    """The committed snapshot shows in a PR diff what a change does to the Terraform JSON.

    Refresh after an intended change: UPDATE_SNAPSHOTS=1 make test TYPE=infra
    """
    path = SNAPSHOTS / f"{stack}.json"
    current = synthesized.docs[stack]
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}: run UPDATE_SNAPSHOTS=1 make test TYPE=infra"
    assert current == _normalized(path.read_text(encoding="utf-8")), (
        f"{stack} differs from {path}; if intended: UPDATE_SNAPSHOTS=1 make test TYPE=infra"
    )
