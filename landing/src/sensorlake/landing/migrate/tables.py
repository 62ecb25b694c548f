"""The raw table's rows per gateway and day, for ``migrate compare`` when it is reachable.

Locally that is the streams' Delta table under the warehouse directory, read with
``deltalake`` (installed with the workspace, not on a gateway: without it, or without the
table, the tables are "not checked" and the comparison is the landing zone's alone). A row
is the same row as in :mod:`zone`: (id, timestamp, sensor_id), the raw table keeping the
source values as landed.

On Databricks it is the same table read through a SQL warehouse with
databricks-sql-connector (``DATABRICKS_HOST``, ``DATABRICKS_HTTP_PATH``,
``DATABRICKS_TOKEN``; ``SENSORLAKE_CATALOG``/``SENSORLAKE_SCHEMA`` as for the streams and
the dashboards). The connector is imported only then (a gateway install has no reason to
carry it): without it, one line names the package to install. The query asks only for the
old side's gateways and the days compared, and the whole read is bounded in time; whatever
goes wrong is one line (token scrubbed) and the tables are "not checked": the zone's
verdict never waits on, or fails with, the tables.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorlake.contract.keys import GATEWAY_PATTERN
from sensorlake.contract.lake import table_dir
from sensorlake.contract.names import UC_NAME_HINT, is_uc_name
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, table_name
from sensorlake.contract.settings import CatalogSettings, DatabricksSettings

from .zone import Identity

__all__ = [
    "CONNECTOR_PACKAGE",
    "DEFAULT_TIMEOUT_SECONDS",
    "RawTable",
    "WarehouseSettings",
    "databricks_raw_table",
    "local_raw_table",
    "raw_query",
]

CONNECTOR_PACKAGE = "databricks-sql-connector"
DEFAULT_TIMEOUT_SECONDS = 120.0  # a fleet's history of row ids is more than a status query
_FETCH = 100_000
_GATEWAY_RE = re.compile(rf"^{GATEWAY_PATTERN}$")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RawTable:
    """The raw table's identities, read once, by (gateway, day)."""

    def __init__(self, where: str, rows: dict[tuple[str, str], set[Identity]]) -> None:
        self.where = where
        self._rows = rows

    def day(self, gateway: str, day: str) -> set[Identity]:
        return self._rows.get((gateway, day), set())


def local_raw_table(
    warehouse_dir: Path, catalog: str = DEFAULT_CATALOG, schema: str = DEFAULT_SCHEMA
) -> tuple[RawTable | None, str]:
    """The local raw table, or None and why it is not checked."""
    path = table_dir(warehouse_dir, catalog, schema, table_name("raw"))
    try:
        from deltalake import DeltaTable
    except ImportError:
        return None, "tables not checked: deltalake is not installed (a gateway install)"
    if not DeltaTable.is_deltatable(str(path)):
        return None, f"tables not checked: no raw table at {path}"
    try:
        data = DeltaTable(str(path)).to_pyarrow_table(
            columns=["id", "timestamp", "sensor_id", "date", "gateway"]
        )
    except Exception as exc:  # an unreadable table is a reason, never a traceback
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"tables not checked: cannot read {path}: {first}"
    rows: dict[tuple[str, str], set[Identity]] = {}
    columns = [data.column(n).to_pylist() for n in ("id", "timestamp", "sensor_id", "date")]
    for gateway, row_id, ts, sensor, day in zip(
        data.column("gateway").to_pylist(), *columns, strict=True
    ):
        identity = (row_id, ts, "" if sensor is None else str(sensor))
        rows.setdefault((str(gateway), str(day)), set()).add(identity)
    return RawTable(str(path), rows), ""


# -- Databricks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarehouseSettings:
    host: str | None
    http_path: str | None
    token: str | None = field(default=None, repr=False)
    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> WarehouseSettings:
        """The shared Databricks connection and catalog/schema settings (the contract's
        declarations, read once), with this command's own time bound."""
        dbx = DatabricksSettings.from_env(env)
        names = CatalogSettings.from_env(env)
        return cls(
            host=dbx.host,
            http_path=dbx.http_path,
            token=dbx.token,
            catalog=names.catalog,
            schema=names.schema,
            timeout_seconds=timeout_seconds,
        )

    @property
    def configured(self) -> bool:
        """Whether the environment points at a warehouse at all (host or HTTP path set)."""
        return bool(self.host or self.http_path)

    @property
    def missing(self) -> list[str]:
        names = {
            "DATABRICKS_HOST": self.host,
            "DATABRICKS_HTTP_PATH": self.http_path,
            "DATABRICKS_TOKEN": self.token,
        }
        return [name for name, value in names.items() if not value]

    @property
    def table(self) -> str:
        return f"{self.catalog}.{self.schema}.{table_name('raw')}"


def raw_query(
    settings: WarehouseSettings, gateways: Iterable[str], since: str | None, until: str | None
) -> str:
    """The SQL sent: the raw table's row identities for these gateways and days. Every
    value in it was checked against the contract's patterns (gateway ids, dates, UC names),
    so nothing unchecked reaches SQL."""
    names = (settings.catalog, settings.schema, table_name("raw"))
    for name in names:
        if not is_uc_name(name):
            raise ValueError(f"catalog/schema/table name {name!r}: {UC_NAME_HINT}")
    wanted = sorted(set(gateways))
    for value in wanted:
        if not _GATEWAY_RE.match(value):
            raise ValueError(f"gateway id {value!r} does not fit the key layout")
    for value in (since, until):
        if value is not None and not _DAY_RE.match(value):
            raise ValueError(f"day {value!r} is not YYYY-MM-DD")
    fqn = ".".join(f"`{n}`" for n in names)
    where = ["gateway IN ({})".format(", ".join(f"'{g}'" for g in wanted))]
    if since is not None:
        where.append(f"date >= '{since}'")
    if until is not None:
        where.append(f"date <= '{until}'")
    return f"SELECT gateway, date, id, timestamp, sensor_id FROM {fqn} WHERE {' AND '.join(where)}"


def _sql_connect(settings: WarehouseSettings) -> Any:
    """The connector with its own retries bounded too (by default it retries for up to
    900 s: ``_retry_stop_after_attempts_duration``, as the dashboards' reader notes)."""
    from databricks import sql

    return sql.connect(
        server_hostname=re.sub(r"^https?://", "", settings.host or "").rstrip("/"),
        http_path=settings.http_path,
        access_token=settings.token,
        _socket_timeout=settings.timeout_seconds,
        _retry_stop_after_attempts_count=2,
        _retry_stop_after_attempts_duration=max(1.0, settings.timeout_seconds),
    )


def _read(
    settings: WarehouseSettings, sql: str, connect: Callable[[WarehouseSettings], Any]
) -> dict[tuple[str, str], set[Identity]]:
    rows: dict[tuple[str, str], set[Identity]] = {}
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        while batch := cursor.fetchmany(_FETCH):
            for gateway, day, row_id, ts, sensor in batch:
                identity = (row_id, ts, "" if sensor is None else str(sensor))
                rows.setdefault((str(gateway), str(day)), set()).add(identity)
    finally:
        with contextlib.suppress(Exception):  # a broken connection's close hides nothing
            conn.close()
    return rows


def databricks_raw_table(
    settings: WarehouseSettings,
    gateways: Iterable[str],
    since: str | None = None,
    until: str | None = None,
    *,
    connect: Callable[[WarehouseSettings], Any] | None = None,
) -> tuple[RawTable | None, str]:
    """The raw table on Databricks, or None and why it is not checked (one line).

    Bounded: the read runs on a daemon thread given ``settings.timeout_seconds``; a
    warehouse that does not answer by then is "not checked" (the thread is left to the
    connector's own socket timeout, and dies with the process)."""
    where = f"Databricks {settings.table}"
    if settings.missing:
        return None, f"tables not checked: set {', '.join(settings.missing)} to read {where}"
    if connect is None:
        try:
            import databricks.sql  # noqa: F401
        except ImportError:
            return None, (
                f"tables not checked: reading {where} needs {CONNECTOR_PACKAGE} "
                f"(pip install {CONNECTOR_PACKAGE})"
            )
        connect = _sql_connect
    try:
        sql = raw_query(settings, gateways, since, until)
    except ValueError as exc:
        return None, f"tables not checked: {exc}"
    outcome: list[Any] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append(_read(settings, sql, connect))
        except BaseException as exc:  # becomes the one-line reason below
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="migrate-databricks", daemon=True).start()
    if not done.wait(settings.timeout_seconds):
        return None, (
            f"tables not checked: {where} did not answer within "
            f"{settings.timeout_seconds:g} s (the warehouse may be starting: rerun)"
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        text = str(result).splitlines()[0] if str(result).strip() else ""
        if settings.token:
            text = text.replace(settings.token, "***")
        reason = f"{type(result).__name__}: {text[:200]}" if text else type(result).__name__
        return None, f"tables not checked: cannot read {where} ({reason})"
    return RawTable(where, result), ""
