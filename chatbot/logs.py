"""The chat app's logs: one line per event, a JSON object per line where a machine reads them
(stderr is not a terminal: a container, a service manager, a file), readable text where a
person does. LOG_FORMAT forces either, LOG_LEVEL sets the threshold.

Fields beyond the message come from `extra={"conversation": id}` on the call, or from
`context(job=...)` for everything logged in that block and thread; JSON carries them as keys,
text as `key=value` after the message. What users type and what the model answers is never
logged at INFO or above.

llmserver has its own copy of this module (llmserver/logs.py): the packages share no code.
Under gunicorn, `--logger-class chatbot.logs.GunicornLogger` gives gunicorn's own error and
access lines the same format.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

# Attributes every LogRecord has; anything else on a record was passed as `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
_bound: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)

# Libraries that log every request they make at INFO: the LLM server's /health and token
# counts (httpx), each long-polling round trip (werkzeug's development server).
_CHATTY = {"httpx": logging.WARNING, "werkzeug": logging.ERROR}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's fields beyond the standard ones: its `extra`, then those of `context`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extras, "exception"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        extras = "".join(f" {k}={v}" for k, v in fields(record).items())
        return super().formatMessage(record) + extras


def formatter(log_format: str, stream: IO[str]) -> logging.Formatter:
    """The formatter LOG_FORMAT (`json`, `text` or `auto`) asks for, writing to `stream`."""
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    return JsonFormatter() if log_format == "json" else TextFormatter()


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            record.__dict__.setdefault(key, value)
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written (as logging's last-resort
    handler does), so a stderr replaced later (a test's capture) is followed, not kept."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self.addFilter(_ContextFilter())

    @property
    def stream(self) -> IO[str]:  # type: ignore[override]
        return sys.stderr


def setup(level: str = "INFO", log_format: str = "auto") -> None:
    """Send every logger's records to stderr in the chosen format. Idempotent: create_app
    calls it for each app; it replaces its own handler and a `logging.basicConfig` one."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler) or type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(formatter(log_format, sys.stderr))
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in _CHATTY.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))


@contextlib.contextmanager
def context(**bound: Any) -> Iterator[None]:
    """Add these fields to every line logged in this block (in this thread)."""
    token = _bound.set({**(_bound.get() or {}), **bound})
    try:
        yield
    finally:
        _bound.reset(token)


def __getattr__(name: str) -> object:
    # Defined on first use: only gunicorn's master asks for it, and importing gunicorn would
    # add to every other start-up.
    if name == "GunicornLogger":
        from gunicorn.glogging import Logger

        class GunicornLogger(Logger):
            """gunicorn's logger with its handlers formatted as LOG_FORMAT says."""

            def setup(self, cfg: Any) -> None:
                super().setup(cfg)
                from chatbot.settings import Settings

                log_format = Settings().log_format
                for log in (self.error_log, self.access_log):
                    for handler in log.handlers:
                        stream = getattr(handler, "stream", None) or sys.stderr
                        handler.setFormatter(formatter(log_format, stream))

        globals()[name] = GunicornLogger
        return GunicornLogger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
