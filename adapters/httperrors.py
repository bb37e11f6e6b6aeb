"""The errors of ``adapters/httpclient.py``, and the check that keeps what it sends well framed."""

from __future__ import annotations

import re
from typing import Final

UNSAFE_PATH: Final = re.compile(rb"[\x00-\x20\x7f]")  # CR, LF, NUL, space, controls: would split the request line
_UNSAFE_VALUE: Final = re.compile(rb"[\r\n\x00]")
_UNSAFE_NAME: Final = re.compile(rb"[^!#$%&'*+.^_`|~0-9A-Za-z-]")


class HttpError(Exception):
    """The exchange failed. ``sent``: the request may have reached the server."""

    sent = True


class ConnectError(HttpError):
    """No connection could be opened (refused, unresolvable, TLS failed): nothing was sent."""

    sent = False


class ConnectTimeout(ConnectError):
    """Opening a connection took longer than ``connect_timeout_s``: nothing was sent."""


class PoolTimeout(HttpError):
    """Every connection stayed busy for ``connect_timeout_s``: nothing was sent."""

    sent = False


class ReadTimeout(HttpError):
    """The server sent nothing for ``read_timeout_s`` while a response was awaited."""


class ReadError(HttpError):
    """The connection was reset or closed before the response was complete."""


class ProtocolError(HttpError):
    """The server's bytes are not an HTTP/1.1 response."""


class ResponseTooLarge(HttpError):
    """The response's headers or body passed a limit; the connection was closed."""


class InvalidRequest(HttpError):
    """A path or header that would change the request's framing (CR, LF, NUL): nothing was sent."""

    sent = False


def check_header(name: bytes, value: bytes) -> None:
    """Raise ``InvalidRequest`` for a header that could split the request (CR, LF, NUL, not a token)."""
    if not name or _UNSAFE_NAME.search(name) or _UNSAFE_VALUE.search(value):
        raise InvalidRequest("a request header has a character that is not allowed")
