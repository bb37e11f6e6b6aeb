"""A request body read the same way at every front door: a JSON object, then its wire model.

Both failures are the client's 400, worded without echoing what was sent: the
body is not a JSON object; or the model refuses it, named by position only
(``gateway.protocol.describe_validation_error`` with the API's own vocabulary).
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from gateway.errors import InvalidRequest
from gateway.protocol import VOCABULARY, describe_validation_error

M = TypeVar("M", bound=BaseModel)


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying it is not one."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return payload


def validated(model: type[M], payload: dict[str, Any], vocabulary: frozenset[str] = VOCABULARY) -> M:
    """``payload`` as ``model``, or a 400 that names the position, never the text."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        message, param = describe_validation_error(exc, payload, vocabulary)
        raise InvalidRequest(message, param=param) from None
