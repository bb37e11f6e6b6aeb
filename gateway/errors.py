"""The gateway's error tree, in one place.

Every failure that can reach a client is one of these classes. Vendor errors
(litellm, httpx, redis, SQLAlchemy) are translated into them at exactly one
boundary each: ``adapters/litellm_client.py``, ``adapters/openai_compatible.py``,
the cache and the ledger store. ``render`` turns any of them into the wire shape
``{"error": {"message", "type", "code", "param"}}``.

Messages are written by us, never copied from a request or from an upstream's
body: they must not echo prompt text, keys or stack traces.
"""

from __future__ import annotations

from collections.abc import Mapping


class GatewayError(Exception):
    """Base of everything the gateway reports to a client."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "code": self.code,
                "param": self.param,
            }
        }


class InvalidRequest(GatewayError):
    """400: the request is malformed or asks for something we refuse."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class RequestTimeout(InvalidRequest):
    """408: the request's headers or body stopped arriving (the front door's deadlines); the
    connection is closed."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(InvalidRequest):
    """431: the request's headers are too large or too many; the connection is closed."""

    status = 431
    code = "request_header_fields_too_large"


class AuthenticationFailed(GatewayError):
    """401: missing, unknown or revoked API key."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """403: the key lacks the role or the model it asks for."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class PolicyDenied(GatewayError):
    """403: a policy route with ``deny`` matched. The message is the policy's."""

    status = 403
    type = "permission_error"
    code = "policy_denied"


class ModelNotFound(GatewayError):
    """404: ``model`` is not a virtual model of the policy (or not this key's)."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class ModelNotSupported(InvalidRequest):
    """400: the route the policy chose for this request has no target that serves its API (an embeddings
    request to a route of chat models); nothing was sent."""

    code = "model_not_supported"


class PayloadTooLarge(GatewayError):
    """413: the body or the message count is over the configured limit."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    """429: a per-key or per-team rate limit. Carries ``Retry-After``."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(GatewayError):
    """429: the team's budget is spent and the policy says ``block``."""

    status = 429
    type = "rate_limit_error"
    code = "budget_exceeded"


class UpstreamError(GatewayError):
    """502: an upstream answered with an error or with something unreadable.

    ``retryable`` marks failures worth another attempt (connection errors,
    429, 5xx); ``upstream_status`` keeps the status the upstream gave, if any.
    """

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s


class UpstreamRejected(UpstreamError):
    """400: the upstream refused the request itself (HTTP 400, 413, 415 or 422: a parameter it does
    not take, an image for a text model, a prompt longer than its context). It is the client's
    error: answered as ``invalid_request_error``, never retried, no other target tried (the same
    request would be refused again), one ledger and audit row. The message gives the upstream's
    status and, when they are plain identifiers, its error ``code``, ``type`` and ``param``;
    never its text, which may quote the prompt.
    """

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected"

    def __init__(self, message: str, *, upstream_status: int | None = 400, param: str | None = None) -> None:
        super().__init__(message, retryable=False, upstream_status=upstream_status)
        self.param = param


class UpstreamTimeout(UpstreamError):
    """504: the upstream did not answer in time."""

    status = 504
    type = "upstream_error"
    code = "upstream_timeout"


class UpstreamUnreachable(UpstreamError):
    """No connection to the upstream could be opened: nothing was sent to it.

    Retryable. ``gateway/dispatch.py`` never shows it to a client as such: when
    every permitted target was unreachable the answer is 503
    ``no_target_available``.
    """

    code = "upstream_unreachable"


class UpstreamTooLarge(UpstreamError):
    """502: an upstream's answer passed a size limit (its body, its stream, its headers:
    the target's ``limits``). Not retried on the same target; the next one may be tried."""

    code = "upstream_response_too_large"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class StreamInterrupted(UpstreamError):
    """An upstream failed after the first chunk had reached the client.

    Never retried or continued elsewhere: the client already holds part of an
    answer from that target.
    """

    code = "stream_interrupted"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class NoTargetAvailable(GatewayError):
    """503: no target that may receive this request is up. Nothing was sent."""

    status = 503
    type = "service_unavailable"
    code = "no_target_available"


class Overloaded(GatewayError):
    """503: a target's queue is full. Carries ``Retry-After``."""

    status = 503
    type = "service_unavailable"
    code = "overloaded"


class InvariantViolation(GatewayError):
    """A target was about to receive a request above its ``max_level``.

    Raised by the guard in ``gateway/dispatch.py`` before anything is sent; it
    means a bug upstream of the guard, so it is logged loudly and the target is
    skipped, never called.
    """

    status = 503
    type = "service_unavailable"
    code = "no_target_available"


def render(error: GatewayError) -> tuple[int, dict[str, object], dict[str, str]]:
    """Status, JSON body and extra headers for one error: the only renderer."""
    return error.status, error.body(), error.headers
