"""No configured secret in any log line the process writes, whichever logger writes it.

Libraries log what a server sends back: a workspace (or anything at DATABRICKS_HOST) that
echoes the request makes ``databricks.sdk`` log the token, in its debug dump of the response
and in the error message it raises, which a reader then logs. Secrets are removed from each
record as it is made (a wrapper around the log record factory, so every logger, uvicorn's and
``py.warnings`` included, and every handler, present or added later, sees only the redacted
record): the message, its arguments, the traceback and the stack. What a caller sets on a
record after it is made (``extra=``) is caught where every handler renders it,
``logging.Handler.format``.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "MIN_LENGTH", "add_secrets", "install", "redact", "uninstall"]

MASK = "***"
MIN_LENGTH = 4  # shorter values would blank ordinary text and are no secret anyway

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_previous: Callable[..., logging.LogRecord] | None = None
_captured_warnings = False


def add_secrets(values: Iterable[str | None]) -> None:
    """Redact these too (with their URL-encoded forms), longest first."""
    global _secrets
    with _lock:
        found = set(_secrets)
        for value in values:
            if value and len(value) >= MIN_LENGTH:
                found |= {value, quote(value, safe="")}
        _secrets = tuple(sorted(found, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _has_secret(text: str) -> bool:
    return any(secret in text for secret in _secrets)


def _clean(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return value
    return redact(text) if _has_secret(text) else value


def _scrub(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    # Arguments one by one first, so formatters that read record.args (uvicorn's access
    # log) keep working; then the whole message if a secret still shows in it.
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(a) for a in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {k: _clean(v) for k, v in record.args.items()}
    record.msg = _clean(record.msg)
    try:
        message = record.getMessage()
    except Exception:
        message = f"{record.msg} {record.args!r}"
    if _has_secret(message):
        record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if _has_secret(text):
            # Formatters print exc_text as it is; no handler may render exc_info itself.
            record.exc_text, record.exc_info = redact(text), None
    if record.exc_text and _has_secret(record.exc_text):
        record.exc_text = redact(record.exc_text)
    if record.stack_info and _has_secret(record.stack_info):
        record.stack_info = redact(record.stack_info)


def install(secrets: Iterable[str | None]) -> None:
    """Redact ``secrets`` from every log record from now on, and route warnings through
    logging so they are redacted too. Called at ``sensorlake monitor``/``status`` start."""
    global _previous, _captured_warnings
    add_secrets(secrets)
    with _lock:
        if _previous is not None:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _scrub(record)
            return record

        _previous = previous
        logging.setLogRecordFactory(factory)
        # Second layer, for what is set on a record after it is made (``extra=``): every
        # handler's formatted text. Handler.format is what every handler calls to render.
        original_format = logging.Handler.format

        def format(self: logging.Handler, record: logging.LogRecord) -> str:
            return redact(original_format(self, record))

        format.original = original_format  # type: ignore[attr-defined]
        logging.Handler.format = format  # type: ignore[method-assign]
        if not _captured_warnings:
            logging.captureWarnings(True)
            _captured_warnings = True


def uninstall() -> None:
    """Back to the plain factory and no secrets (tests)."""
    global _previous, _secrets, _captured_warnings
    with _lock:
        if _previous is not None:
            logging.setLogRecordFactory(_previous)
            _previous = None
            original = getattr(logging.Handler.format, "original", None)
            if original is not None:
                logging.Handler.format = original  # type: ignore[method-assign]
        _secrets = ()
        if _captured_warnings:
            logging.captureWarnings(False)
            _captured_warnings = False
