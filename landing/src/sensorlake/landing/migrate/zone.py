"""What the new landing zone already holds for a gateway: keys, and the rows in them.

The zone is wherever landing is configured to land (the local lake, or the S3 buckets).
Rows are recognised in the raw target, which holds every row exactly as read: its own
``id``, ``timestamp`` and ``sensor_id``, and the epoch in the key.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import msgspec

from sensorlake.contract.keys import SUFFIX, LandingKey

from ..config import LandingConfig
from ..errors import ConfigError, LandingError
from ..s3 import make_client, translate_client_error

__all__ = ["TARGET", "Identity", "LandingZone"]

Identity = tuple[int, str, str]  # (id, timestamp, sensor_id)
_DECODER = msgspec.json.Decoder()
TARGET = "raw"


class LandingZone:
    def __init__(self, config: LandingConfig, *, client: Any = None) -> None:
        if TARGET not in config.targets:
            raise ConfigError(
                "migrate needs the raw pipeline: it is how already landed rows are recognised",
                hint="leave --pipelines/SENSORLAKE_PIPELINES unset or include raw",
            )
        self.config = config
        self.bucket = config.bucket_for(TARGET)
        self._client = client
        if config.s3 is not None and client is None:
            self._client = make_client("s3", config.s3.region, config.s3.endpoint_url)
        self.where = (
            f"s3://{self.bucket}/" if config.s3 is not None else str(config.lake_dir / self.bucket)
        )

    # -- listing ----------------------------------------------------------------------------

    def keys(self, gateway: str) -> list[LandingKey]:
        """Every raw key the zone holds for ``gateway``, sorted."""
        if self._client is None:
            root = self.config.lake_dir / self.bucket
            paths = root.glob(f"{TARGET}/date=*/gateway={gateway}/*{SUFFIX}")
            names = [str(p.relative_to(root)) for p in paths]
        else:
            names = []
            for day_prefix in self._prefixes(f"{TARGET}/"):
                names.extend(self._list(f"{day_prefix}gateway={gateway}/"))
        out = []
        for name in names:
            try:
                out.append(LandingKey.parse(name))
            except ValueError:
                continue  # not a landed file (a stray object): nothing of ours
        return sorted(out)

    def _fail(self, exc: Exception, action: str) -> LandingError:
        error = translate_client_error(exc, bucket=self.bucket, action=action)
        if isinstance(error, LandingError):
            return error
        return LandingError(f"cannot read s3://{self.bucket}/ ({exc})", hint="rerun")

    def _prefixes(self, prefix: str) -> list[str]:
        out: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        except Exception as exc:
            raise self._fail(exc, "ListObjectsV2") from None
        return out

    def _list(self, prefix: str) -> list[str]:
        out: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                out.extend(item["Key"] for item in page.get("Contents", []))
        except Exception as exc:
            raise self._fail(exc, "ListObjectsV2") from None
        return out

    # -- reading ----------------------------------------------------------------------------

    def read(self, key: LandingKey) -> bytes:
        name = key.format()
        if self._client is None:
            return Path(self.config.lake_dir / self.bucket / name).read_bytes()
        try:
            return self._client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except Exception as exc:
            raise self._fail(exc, "GetObject") from None

    def identities(self, key: LandingKey) -> list[Identity]:
        """The rows of one raw file, as (id, timestamp, sensor_id)."""
        out = []
        for line in gzip.decompress(self.read(key)).splitlines():
            record = _DECODER.decode(line)
            sensor = record.get("sensor_id")
            out.append(
                (record.get("id"), record.get("timestamp"), "" if sensor is None else str(sensor))
            )
        return out
