"""deploybot's log lines: plain text by default, JSON when DEPLOYBOT_LOG_FORMAT=json.

Every line logged while a deploy runs carries its feature, environment, deploy id and
Slack thread (`slack_thread`) (a context variable set by whoever runs the deploy), so one deploy's lines
can be found among many.
"""
from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TypeVar

from pythonjsonlogger.json import JsonFormatter

T = TypeVar("T")
_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "deploybot_log_context", default=MappingProxyType({}))
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` to every line logged inside (this thread, and threads started with `in_context`)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bound(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` carrying the caller's log context into a pool thread (which would start with none)."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(fn, *args, **kwargs)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        for name, value in fields.items():
            setattr(record, name, value)
        record.context = "".join(f" {k}={v}" for k, v in fields.items())
        return True


def configure(*, json: bool, verbose: bool) -> None:
    """deploybot's own news at INFO when serving (or asked to); libraries (botocore, urllib3) only warn."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    if json:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*_RESERVED, "context"]))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("bot", "deployer", "slack_bolt"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


_RESERVED = ["args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "levelname", "levelno",
             "lineno", "module", "msecs", "message", "msg", "name", "pathname", "process", "processName",
             "relativeCreated", "stack_info", "thread", "threadName", "taskName"]
