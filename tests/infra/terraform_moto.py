"""Run a synthesized stack with real Terraform against a moto server (test helper).

The synthesized JSON is copied and only three things change in the copy: the AWS provider
points every service we use at the moto server, the provider constraint is relaxed to the
version in the offline mirror, and the state goes to the work directory. Credentials are the
moto test ones, passed in the environment (never written into the JSON).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MIRROR",
    "TerraformRun",
    "mirror_aws_version",
    "missing_tools",
    "retarget_at_moto",
]

MIRROR = Path(os.environ.get("SENSORLAKE_TF_MIRROR", "/opt/tf-plugins"))
_AWS_MIRROR = MIRROR / "registry.terraform.io" / "hashicorp" / "aws"
# Every AWS service the storage stack calls (sqs and events: monitor.events).
SERVICES = ("s3", "iam", "kms", "sts", "sqs", "events")


def mirror_aws_version() -> str | None:
    """The newest hashicorp/aws version in the offline mirror, if any."""
    if not _AWS_MIRROR.is_dir():
        return None
    versions = sorted(
        (p.name for p in _AWS_MIRROR.iterdir() if p.is_dir()),
        key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()),
    )
    return versions[-1] if versions else None


def missing_tools() -> str | None:
    """Why a real apply cannot run here (None when it can)."""
    if shutil.which("terraform") is None:
        return "no `terraform` binary on PATH"
    if mirror_aws_version() is None:
        return f"no hashicorp/aws provider in the offline mirror {_AWS_MIRROR}"
    return None


def retarget_at_moto(doc: dict[str, Any], endpoint: str, aws_version: str) -> dict[str, Any]:
    """A copy of a stack's JSON whose AWS provider talks to moto, with local state."""
    out = copy.deepcopy(doc)
    tf = out["terraform"]
    tf["backend"] = {"local": {"path": "terraform.tfstate"}}
    tf["required_providers"]["aws"] = {"source": "hashicorp/aws", "version": aws_version}
    for provider in out["provider"]["aws"]:
        provider.update(
            {
                "endpoints": [{s: endpoint for s in SERVICES}],
                "s3_use_path_style": True,
                "skip_credentials_validation": True,
                "skip_metadata_api_check": "true",
                "skip_requesting_account_id": False,
            }
        )
    return out


@dataclass
class TerraformRun:
    """terraform init/apply/plan in one directory, offline, against the mirror."""

    workdir: Path
    endpoint: str

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        rc = self.workdir / "terraform.rc"
        rc.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path = "{MIRROR}"\n'
            '    include = ["registry.terraform.io/*/*"]\n  }\n}\n',
            encoding="utf-8",
        )
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.workdir),
            "TF_CLI_CONFIG_FILE": str(rc),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def write(self, doc: dict[str, Any]) -> None:
        (self.workdir / "main.tf.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["terraform", *args, "-no-color"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
