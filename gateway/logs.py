"""Structured logs: one JSON object a line, carrying the id of the request being served.

Contract, at every level including DEBUG:

- The gateway's own loggers (``gateway.*``, ``adapters.*``) never log prompt
  text, answer text, keys or detected values: only names the operator chose
  (route, target, level), codes and counts. Their messages are written in full.
- Other libraries (litellm, openai, httpx, presidio...) may put a request body
  into a debug message. Their loggers are held at WARNING whatever the
  configured level, and their records are written without the text: the
  message template when the record has arguments (the arguments are dropped),
  otherwise a placeholder. A library warning thus still shows *where* and *how
  often*, never *what*.
- Exceptions are written as their type and stack frames (file, line,
  function), never their message: a vendor exception may quote the upstream's
  answer, which may quote the prompt.

``request_id`` is a ``ContextVar`` (set by the HTTP middleware in
``gateway/telemetry.py``); its value is per request, not shared state.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)

# Loggers whose messages we wrote and reviewed: written in full.
OWN_LOGGERS = ("gateway", "adapters", "uvicorn.error")
# Libraries known to log request or response bodies at DEBUG or INFO.
NOISY_LOGGERS = (
    "LiteLLM",
    "LiteLLM Router",
    "LiteLLM Proxy",
    "litellm",
    "openai",
    "httpx",
    "httpcore",
    "urllib3",
    "presidio-analyzer",
    "presidio_analyzer",
    "transformers",
    "huggingface_hub",
    "hpack",
    "asyncio",
    "multipart",
    "python_multipart",
)
WITHHELD = "(third-party message withheld: it may carry request content)"


def new_request_id() -> str:
    """A request id: 24 hex digits, the time in milliseconds (44 bits) then 52 random bits.

    Ids made later sort later, so the ledger's and the audit trail's indexes on
    request ids grow at their end, as their time indexes do, instead of being
    written all over (on SQLite, random ids made each insert slower as the
    tables grew). Two requests in the same millisecond share the first 11
    digits and differ by chance in the rest: a collision is not expected in
    the life of a deployment.
    """
    return f"{time.time_ns() // 1_000_000 & 0xFFF_FFFF_FFFF:011x}{_RANDOM.bits52():013x}"


class _RandomBits:
    """Random numbers from the operating system's generator (as ``secrets``), read 4 KiB at a
    time: one system call per 585 request ids instead of one per id (a few microseconds each
    on a virtual machine). A forked child starts with an empty buffer, never its parent's."""

    _SIZE = 4095  # a multiple of the 7 bytes an id takes

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._offset = b"", 0

    def bits52(self) -> int:
        with self._lock:
            if self._offset >= len(self._buffer):
                self._buffer, self._offset = os.urandom(self._SIZE), 0
            chunk = self._buffer[self._offset : self._offset + 7]
            self._offset += 7
        return int.from_bytes(chunk, "big") >> 4


_RANDOM = _RandomBits()


def current_request_id() -> str | None:
    """The id of the request this code is serving, if any."""
    return REQUEST_ID.get()


@contextmanager
def bound_request_id(request_id: str) -> Iterator[None]:
    """Log under ``request_id`` inside the block."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


def _own(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in OWN_LOGGERS)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; see the module docstring for what is withheld."""

    def format(self, record: logging.LogRecord) -> str:
        if _own(record.name):
            message = record.getMessage()
        elif record.args:
            message = str(record.msg)[:300]
        else:
            message = WITHHELD
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            out["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            out["exception"] = exc_type.__name__
            out["stack"] = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)][-12:]
        return orjson.dumps(out).decode()


class _Floor(logging.Filter):
    """Drops third-party records under WARNING, whatever the configured level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _own(record.name)


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes lines in batches: at most every ``interval_s``, at once for WARNING and above.

    A line per request written one by one costs a system call each, on the
    event loop. Here a line is appended to a buffer; the buffer goes to the
    stream when ``interval_s`` has passed since the last write (checked at each
    line and by a timer thread, so an idle server's last lines still appear),
    when a warning or an error arrives (those are wanted at once), and at exit.
    """

    def __init__(self, stream: IO[str] | None = None, interval_s: float = 0.25) -> None:
        super().__init__(stream)
        self.interval_s = interval_s
        self._buffer: list[str] = []
        self._written = time.monotonic()
        self._timer = threading.Thread(target=self._tick, name="log-flush", daemon=True)
        self._timer.start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging never breaks the caller
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._buffer.append(line)
            due = record.levelno >= logging.WARNING or time.monotonic() - self._written >= self.interval_s
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._buffer = self._buffer, []
            self._written = time.monotonic()
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):  # one bad line (an encoding the stream refuses) spares the rest
                    for line in lines:
                        try:
                            self.stream.write(line + "\n")
                        except (OSError, ValueError):
                            continue  # the stream went away (closed at exit), or this line cannot be written

    def _tick(self) -> None:
        while True:
            time.sleep(self.interval_s)
            if self._buffer:
                self.flush()


def configure_logging(
    level: str | int = "INFO", stream: IO[str] | None = None, *, batched: bool = False
) -> logging.Handler:
    """Send every log record through one JSON handler on the root logger (process start-up only).

    Returns the handler. Loggers of noisy libraries are held at WARNING and
    their own handlers removed, so nothing bypasses the formatter.
    ``batched``: the server's setting (``BatchedStreamHandler``): info lines
    reach the stream within a quarter of a second instead of one by one.
    """
    handler = BatchedStreamHandler(stream or sys.stderr) if batched else logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_Floor())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries()
    return handler


def quiet_libraries() -> None:
    """Hold noisy libraries at WARNING and route them through the root handler.

    Called again once adapters have started: some libraries (litellm) attach
    their own handler when first imported.
    """
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
