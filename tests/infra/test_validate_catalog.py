"""`terraform validate` of the catalog stack, where its providers can be installed offline.

The Databricks and time providers are not in this machine's mirror (and there is no network),
so this usually skips with the reason; the catalog stack's synth tests cover it then.
"""

from __future__ import annotations

import copy
import shutil

import pytest

from tests.infra.conftest import Synth
from tests.infra.terraform_moto import MIRROR, TerraformRun

pytestmark = pytest.mark.synth

NEEDED = ("hashicorp/aws", "databricks/databricks", "hashicorp/time")


def _missing() -> str | None:
    if shutil.which("terraform") is None:
        return "no `terraform` binary on PATH"
    absent = [p for p in NEEDED if not (MIRROR / "registry.terraform.io" / p).is_dir()]
    if absent:
        return f"providers not in the offline mirror {MIRROR}: {', '.join(absent)}"
    return None


@pytest.mark.skipif(_missing() is not None, reason=f"{_missing()}")
def test_catalog_stack_validates(
    synthesized: Synth, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doc = copy.deepcopy(synthesized.docs["sensorlake-catalog"])
    doc["terraform"]["backend"] = {"local": {"path": "terraform.tfstate"}}
    for name in ("aws", "time"):  # the mirror's versions, whatever they are
        doc["terraform"]["required_providers"][name].pop("version", None)
    tf = TerraformRun(tmp_path_factory.mktemp("tf-catalog"), "http://127.0.0.1:1")
    tf.write(doc)
    init = tf.run("init", "-input=false", "-backend=false")
    assert init.returncode == 0, init.stdout + init.stderr
    validate = tf.run("validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
