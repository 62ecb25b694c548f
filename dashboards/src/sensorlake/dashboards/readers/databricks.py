"""Databricks, the one place it is spoken to: tables through databricks-sql-connector (row
counts, ``DESCRIBE HISTORY``, ``cloud_files_state``) and job runs through databricks-sdk.

Configured by ``DATABRICKS_HOST``, ``DATABRICKS_HTTP_PATH`` and ``DATABRICKS_TOKEN``. Where a
stream keeps its checkpoint (for ``cloud_files_state``) is read from what infra deployed: the
stream job's own parameters (:meth:`DatabricksReader.checkpoint_location`). The
token goes to the connector and the SDK and nowhere else: every failure is turned into one
line with the token scrubbed out, and the connection is opened per refresh and closed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sensorlake.contract.layouts import JobArgs, state_path
from sensorlake.contract.names import UC_NAME_HINT, is_uc_name
from sensorlake.contract.pipelines import TARGETS, job_name, table_name
from sensorlake.contract.records import INGEST_COLUMNS, LINEAGE, RESCUED_COLUMN

from ..errors import BackendUnavailable, NotConfigured
from ..settings import DatabricksSettings
from .base import (
    EMERGENCIES_READ,
    EmergencyReading,
    HistoryEntry,
    JobRun,
    TableStats,
    emergency_reading,
    key_in,
)

__all__ = [
    "HISTORY_SHOWN",
    "INGESTED_AT",
    "RUNS_SHOWN",
    "SOURCE_FILE",
    "DatabricksReader",
    "emergency_query",
    "queries",
]

log = logging.getLogger(__name__)

INGESTED_AT, SOURCE_FILE = INGEST_COLUMNS[0].name, INGEST_COLUMNS[1].name
HISTORY_SHOWN = 20
RUNS_SHOWN = 10
_NOT_FOUND = ("TABLE_OR_VIEW_NOT_FOUND", "DELTA_TABLE_NOT_FOUND", "cannot be found")


def _quote(name: str) -> str:
    """A name the contract's one rule accepts, quoted (the settings checked it already;
    this keeps a name from reaching SQL unchecked by any other path)."""
    if not is_uc_name(name):
        raise NotConfigured(f"catalog/schema/table name {name!r}: {UC_NAME_HINT}")
    return f"`{name}`"


def queries(fqn: str, checkpoint: str | None) -> dict[str, str]:
    """The SQL sent for one table (``fqn`` already quoted)."""
    lin = LINEAGE.name
    out = {
        "history": f"DESCRIBE HISTORY {fqn} LIMIT {HISTORY_SHOWN}",
        "columns": f"SELECT * FROM {fqn} LIMIT 0",
        "initial_columns": f"SELECT * FROM {fqn} VERSION AS OF 0 LIMIT 0",
        "gateways": (
            f"SELECT {lin}.gateway_id AS gateway, count(*) AS row_count, "
            f"count(DISTINCT {lin}.epoch, {lin}.row_id) AS distinct_count, "
            f"max({INGESTED_AT}) AS last_ingested, count({RESCUED_COLUMN}) AS rescued "
            f"FROM {fqn} GROUP BY {lin}.gateway_id"
        ),
        "per_minute": (
            f"SELECT date_trunc('MINUTE', {INGESTED_AT}) AS minute, count(*) AS row_count "
            f"FROM {fqn} WHERE {INGESTED_AT} >= current_timestamp() - INTERVAL 7 DAYS "
            "GROUP BY 1"
        ),
        "files": f"SELECT DISTINCT {SOURCE_FILE} AS path FROM {fqn}",
    }
    if checkpoint:
        literal = checkpoint.replace("\\", "\\\\").replace("'", "\\'")
        out["processed"] = f"SELECT * FROM cloud_files_state('{literal}')"
    return out


def emergency_query(fqn: str, limit: int) -> str:
    """The newest emergency readings by reading time (``fqn`` already quoted)."""
    return (
        f"SELECT sensor_id, timestamp, reading_id, readings, emergency, "
        f"{LINEAGE.name}.gateway_id AS lineage_gateway, {INGESTED_AT} AS _ingested_at "
        f"FROM {fqn} ORDER BY timestamp DESC, {INGESTED_AT} DESC LIMIT {int(limit)}"
    )


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class _Result:
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


class DatabricksReader:
    kind = "databricks"

    def __init__(
        self,
        settings: DatabricksSettings,
        catalog: str,
        schema: str,
        *,
        connect: Callable[..., Any] | None = None,
        workspace: Callable[[], Any] | None = None,
    ) -> None:
        if settings.missing:
            raise NotConfigured(f"Databricks not configured: set {', '.join(settings.missing)}")
        self.settings = settings
        self.catalog, self.schema = catalog, schema
        self._connect = connect or _sql_connect
        self._workspace = workspace or (lambda: _workspace_client(settings))
        # target -> checkpoint, from the deployed jobs' parameters (see checkpoint_location)
        self._deployed: dict[str, str] = {}

    def checkpoint_location(self, target: str) -> str | None:
        """Where ``target``'s stream keeps its checkpoint; None: unknown.

        What infra deployed decides: the stream job's parameters, which :meth:`job_runs`
        reads with the job list it fetches anyway (``expand_tasks``) and parses with the
        contract's :class:`JobArgs`, the code the job itself parses them with. So a changed
        volume or catalog in infra's configuration needs no second setting here, and the
        tables never wait on the Jobs API (no request of their own). Until the jobs have
        been read, or when they cannot be (Jobs API unreachable, no such job, parameters
        that are not a stream job's of this catalog and schema),
        ``SENSORLAKE_DATABRICKS_CHECKPOINTS`` (``checkpoint_root``) is the fallback.
        """
        deployed = self._deployed.get(target)
        if deployed is not None:
            return deployed
        root = self.settings.checkpoint_root
        return state_path(root, table_name(target)) if root else None

    def _note_deployment(self, target: str, job: Any) -> None:
        """Remember the checkpoint the deployed job of ``target`` writes, from its task."""
        tasks = getattr(getattr(job, "settings", None), "tasks", None) or ()
        for task in tasks:
            wheel = getattr(task, "python_wheel_task", None)
            if wheel is None or not wheel.parameters:
                continue
            try:
                args = JobArgs.parse(wheel.parameters)
            except ValueError as exc:
                log.warning("job %s: parameters not understood (%s)", job_name(target), exc)
                continue
            if (args.target, args.catalog, args.schema) != (target, self.catalog, self.schema):
                log.warning(
                    "job %s streams %s.%s (%s), not %s.%s: its checkpoint is not used",
                    job_name(target),
                    args.catalog,
                    args.schema,
                    args.target,
                    self.catalog,
                    self.schema,
                )
                continue
            self._deployed[target] = args.locations.checkpoint(table_name(target))

    # -- tables ----------------------------------------------------------------------------

    def table_stats(self, target: str) -> TableStats | None:
        table = table_name(target)
        fqn = ".".join(_quote(p) for p in (self.catalog, self.schema, table))
        sql = queries(fqn, self.checkpoint_location(target))
        with self._cursor(table) as run:
            history_rows = run(sql["history"], missing_ok=True)
            if history_rows is None:
                return None
            columns = run(sql["columns"]).columns  # type: ignore[union-attr]
            try:
                initial = run(sql["initial_columns"]).columns  # type: ignore[union-attr]
            except BackendUnavailable:
                initial = columns  # version 0 vacuumed away: count from now
            gateways = run(sql["gateways"]).rows  # type: ignore[union-attr]
            per_minute = run(sql["per_minute"]).rows  # type: ignore[union-attr]
            files = run(sql["files"]).rows  # type: ignore[union-attr]
            processed = self._processed(run, sql.get("processed"), table)
        history = tuple(
            HistoryEntry(
                version=int(r["version"]),
                timestamp=_ts(r["timestamp"]) or 0.0,
                operation=str(r.get("operation") or ""),
                rows_written=_int(_map(r.get("operationMetrics")).get("numOutputRows")),
            )
            for r in history_rows.rows
        )
        rows = sum(int(r["row_count"]) for r in gateways)
        # A landed line that was not JSON is a row with a null _lineage: counted, not a gateway.
        unattributed = sum(int(r["row_count"]) for r in gateways if r["gateway"] is None)
        gateways_named = [r for r in gateways if r["gateway"] is not None]
        last = max(
            (t for r in gateways if (t := _ts(r["last_ingested"])) is not None), default=None
        )
        created = min((h.timestamp for h in history if h.version == 0), default=None)
        return TableStats(
            table=f"{self.catalog}.{self.schema}.{table}",
            version=max((h.version for h in history), default=0),
            rows=rows,
            created_at=created,
            last_ingested_at=last,
            columns=columns,
            initial_columns=initial,
            rescued_rows=sum(int(r["rescued"]) for r in gateways),
            files=frozenset(k for r in files if (k := key_in(str(r["path"] or "")))),
            gateway_rows={str(r["gateway"]): int(r["row_count"]) for r in gateways_named},
            gateway_distinct={str(r["gateway"]): int(r["distinct_count"]) for r in gateways_named},
            unattributed_rows=unattributed,
            ingested_per_minute={
                int(_ts(r["minute"]) or 0): int(r["row_count"]) for r in per_minute
            },
            history=history,
            processed_files=processed,
        )

    def latest_emergencies(self, limit: int = EMERGENCIES_READ) -> tuple[EmergencyReading, ...]:
        """The newest rows of the emergency table, newest first; () before it exists."""
        table = table_name("emergency")
        fqn = ".".join(_quote(p) for p in (self.catalog, self.schema, table))
        with self._cursor(table) as run:
            result = run(emergency_query(fqn, limit), missing_ok=True)
        if result is None:
            return ()
        return tuple(emergency_reading(r) for r in result.rows)

    def _processed(
        self, run: Callable[..., _Result | None], sql: str | None, table: str
    ) -> frozenset[str] | None:
        """Landing keys the stream has committed, from ``cloud_files_state``; None (no
        checkpoint information: the one-minute grace rule applies) when there is no
        checkpoint root, when the query fails, or when the checkpoint gives no commit time.

        The function's ``commit_time`` is filled only on Databricks Runtime 16.4+ with
        ``cloudFiles.cleanSource`` enabled, or 18.2+ (the cloud_files_state table-valued
        function's reference: docs.databricks.com/en/sql/language-manual/functions/
        cloud_files_state.html, learn.microsoft.com/azure/databricks/sql/language-manual/
        functions/cloud_files_state); elsewhere it is null for every file, which would make
        every absent file pending for ever. Reading the checkpoint needs READ VOLUME on the
        checkpoints volume.
        """
        if sql is None:
            return None
        try:
            result = run(sql)
        except BackendUnavailable as exc:
            log.warning("no checkpoint information for %s: %s", table, exc.message)
            return None
        rows = result.rows if result is not None else []
        committed = [r for r in rows if r.get("commit_time") is not None]
        if not committed:
            return None
        return frozenset(k for r in committed if (k := key_in(str(r.get("path") or ""))))

    @contextmanager
    def _cursor(self, table: str) -> Iterator[Callable[..., _Result | None]]:
        try:
            conn = self._connect(
                timeout=self.settings.timeout_seconds,
                server_hostname=_hostname(self.settings.host or ""),
                http_path=self.settings.http_path,
                access_token=self.settings.token,
            )
        except Exception as exc:
            raise BackendUnavailable(self._describe(exc, "connect to the SQL warehouse")) from None
        try:
            cursor = conn.cursor()

            def run(sql: str, missing_ok: bool = False) -> _Result | None:
                try:
                    cursor.execute(sql)
                    names = tuple(d[0] for d in cursor.description or ())
                    rows = [_as_dict(r, names) for r in cursor.fetchall()] if names else []
                except Exception as exc:
                    if missing_ok and any(s in str(exc) for s in _NOT_FOUND):
                        return None
                    raise BackendUnavailable(self._describe(exc, f"query {table}")) from None
                return _Result(names, rows)

            yield run
        finally:
            try:
                conn.close()
            except Exception:  # closing a broken connection must not hide the real error
                log.debug("closing the Databricks connection failed", exc_info=True)

    # -- jobs ------------------------------------------------------------------------------

    def job_runs(self) -> list[JobRun]:
        """The newest runs of the project's stream jobs, newest first.

        ``jobs.list_runs`` without a ``job_id`` lists every job of the workspace, so the
        project's jobs are first found by the names infra gives them (``job_name``; the
        Jobs API's ``name`` filter is exact, case-insensitive), then their runs are listed per
        job (with their tasks: :meth:`checkpoint_location` reads the deployed parameters
        from them). A run's state is read from ``status`` (``RunStatus``: life-cycle state and
        termination details); ``state`` is deprecated (databricks-sdk ``service/jobs.py``).
        """
        try:
            client = self._workspace()
            runs: list[JobRun] = []
            for target in TARGETS:
                name = job_name(target)
                for job in client.jobs.list(name=name, expand_tasks=True):
                    if job.job_id is None:
                        continue
                    self._note_deployment(target, job)
                    # The SDK pages on for ever: stop after one page's worth per job.
                    for n, run in enumerate(
                        client.jobs.list_runs(
                            job_id=job.job_id, limit=RUNS_SHOWN, expand_tasks=False
                        )
                    ):
                        if n >= RUNS_SHOWN:
                            break
                        runs.append(_job_run(run, target))
        except Exception as exc:
            raise BackendUnavailable(self._describe(exc, "list job runs")) from None
        runs.sort(key=lambda r: (r.started_at or 0.0, r.run_id), reverse=True)
        return runs[:RUNS_SHOWN]

    def _describe(self, exc: Exception, action: str) -> str:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.settings.token:
            text = text.replace(self.settings.token, "***")
        return f"Databricks could not {action}: {type(exc).__name__}: {text[:200]}"


def _job_run(run: Any, target: str) -> JobRun:
    status = run.status
    details = status.termination_details if status else None
    return JobRun(
        run_id=int(run.run_id or 0),
        job_id=int(run.job_id or 0),
        name=run.run_name or "",
        life_cycle=_enum(status.state if status else None),
        result=_enum(details.code if details else None),
        message=(details.message or "") if details else "",
        started_at=_ts(run.start_time) if run.start_time else None,
        ended_at=_ts(run.end_time) if run.end_time else None,
        target=target,
    )


def _enum(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _map(value: Any) -> dict[str, Any]:
    """A SQL map as the connector returns it: a dict, or (key, value) pairs from Arrow."""
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    return {k: v for k, v in value}


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _as_dict(row: Any, names: Sequence[str]) -> dict[str, Any]:
    if hasattr(row, "asDict"):
        return dict(row.asDict())
    return dict(zip(names, row, strict=False))


def _hostname(host: str) -> str:
    return re.sub(r"^https?://", "", host).rstrip("/")


def _sql_connect(timeout: float = 10.0, **kwargs: Any) -> Any:
    """The SQL connector with its retries bounded: by default it retries for up to 900 s
    (``_retry_stop_after_attempts_duration`` in databricks-sql-connector's
    ``backend/thrift_backend.py``), which would blind the tables for a quarter of an hour."""
    from databricks import sql

    return sql.connect(
        **kwargs,
        _socket_timeout=timeout,
        _retry_stop_after_attempts_count=2,
        _retry_stop_after_attempts_duration=max(1.0, timeout),
    )


def _workspace_client(settings: DatabricksSettings) -> Any:
    """The SDK client with bounded waits (``http_timeout_seconds``, ``retry_timeout_seconds``
    in databricks-sdk's ``config.py``; the defaults are 60 s and 300 s)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    host = settings.host or ""
    if not host.startswith(("http://", "https://")):
        host = f"https://{host}"
    timeout = settings.timeout_seconds
    config = Config(
        host=host,
        token=settings.token,
        auth_type="pat",
        http_timeout_seconds=timeout,
        retry_timeout_seconds=max(1, int(timeout)),
    )
    return WorkspaceClient(config=config)
