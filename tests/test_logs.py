"""Structured logs: JSON lines with the request id; third-party text and exception messages withheld."""

from __future__ import annotations

import io
import logging
import os
import re

import orjson

from gateway.logs import WITHHELD, JsonFormatter, bound_request_id, configure_logging, new_request_id


def _record(name: str, msg: str, *args: object, level: int = logging.INFO, exc: BaseException | None = None
            ) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_own_messages_are_written_with_the_request_id() -> None:
    with bound_request_id("abc123"):
        line = orjson.loads(JsonFormatter().format(_record("gateway.dispatch", "target %s failed: %s", "t", "x")))
    assert line["message"] == "target t failed: x" and line["request_id"] == "abc123"
    assert line["level"] == "INFO" and line["logger"] == "gateway.dispatch" and line["ts"].endswith("+00:00")


def test_third_party_text_is_withheld() -> None:
    formatter = JsonFormatter()
    templated = orjson.loads(formatter.format(_record("LiteLLM", "request body: %s", "card 4111111111111111")))
    assert templated["message"] == "request body: %s"
    preformatted = orjson.loads(formatter.format(_record("openai", "Request options: {'messages': 'secret'}")))
    assert preformatted["message"] == WITHHELD


def test_exception_messages_are_not_written() -> None:
    try:
        raise ValueError("the prompt was: card 4111111111111111")
    except ValueError as exc:
        line = JsonFormatter().format(_record("gateway.serving", "failed", exc=exc))
    parsed = orjson.loads(line)
    assert parsed["exception"] == "ValueError" and parsed["stack"]
    assert "4111" not in line


def test_configured_logging_holds_libraries_at_warning() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    try:
        configure_logging("DEBUG", stream=buffer)
        logging.getLogger("gateway.test").debug("kept %d", 1)
        logging.getLogger("httpx").debug("dropped %s", "body")
        logging.getLogger("somelib").info("dropped too")
        logging.getLogger("somelib").warning("kept, withheld")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("gateway.test", "kept 1"), ("somelib", WITHHELD)]


def test_batched_lines_reach_the_stream_within_the_interval() -> None:
    import time

    from gateway.logs import BatchedStreamHandler

    buffer = io.StringIO()
    handler = BatchedStreamHandler(buffer, interval_s=0.1)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gateway.batched-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.setLevel(logging.INFO)
        handler._written = time.monotonic()  # a write just happened: the next info line waits
        logger.info("first")
        assert buffer.getvalue() == ""
        logger.warning("at once")  # a warning takes the waiting lines with it
        assert [orjson.loads(line)["message"] for line in buffer.getvalue().splitlines()] == ["first", "at once"]
        logger.info("later")
        deadline = time.monotonic() + 2
        while "later" not in buffer.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)  # the timer thread writes it: an idle server's last lines still appear
        assert "later" in buffer.getvalue()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_request_ids_are_unique_sortable_and_not_shared_with_a_forked_child() -> None:
    """The random part comes from a buffer of the OS's random bytes; ids must still never repeat,
    across buffer refills and across a fork (a child must not replay its parent's buffer)."""
    ids = [new_request_id() for _ in range(3000)]  # about five refills
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{24}", request_id) for request_id in ids)
    assert [request_id[:11] for request_id in ids] == sorted(request_id[:11] for request_id in ids)
    assert len({request_id[11:] for request_id in ids}) == len(ids)
    new_request_id()  # the parent's buffer now holds unread bytes
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, " ".join(new_request_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        theirs = {request_id[11:] for request_id in pipe.read().split()}
    ours = {new_request_id()[11:] for _ in range(5)}
    assert len(theirs) == 5 and not theirs & ours
