"""The reports page ``GET /reports`` and its static files, with the headers that lock it down.

How a browser authenticates (what a security review needs to know):

- The page and its scripts are a static shell with no data in them, so they
  are served without a key. Every figure comes from ``/v1/reports/*``, which
  require a key with the ``finance`` (or ``admin``) role, sent as
  ``Authorization: Bearer``, exactly as any other client sends it.
- The user types the key into the page. It is kept in ``sessionStorage``: it
  lives only as long as the tab, is never written to a cookie (so the browser
  never sends it by itself: no CSRF), never put in a URL (so it is in no
  history, log or ``Referer``), and is sent only to this gateway's origin.
  "Sign out" forgets it.
- Script injection is what could read ``sessionStorage``; the page makes it
  hard: a strict Content-Security-Policy (scripts from the gateway only, no
  inline script or ``eval``, connections to the gateway only, no framing, no
  forms posting elsewhere), all values rendered with ``textContent``, and JSON
  data endpoints. The CSP also guarantees the page contacts nothing but the
  gateway; the vendored Chart.js means no CDN is needed.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from starlette.responses import Response

from gateway.errors import GatewayError

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
ASSETS: Final = {
    "reports.js": "text/javascript; charset=utf-8",
    "reports.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",
}
"""The files ``/reports/static/{name}`` serves; any other name is 404."""


def _read(name: str) -> bytes:
    return resources.files("gateway.reports").joinpath("static", name).read_bytes()


def page() -> Response:
    """The page shell (no data inside)."""
    headers = {**SECURITY_HEADERS, "cache-control": "no-store"}
    return Response(_read("reports.html"), media_type="text/html; charset=utf-8", headers=headers)


def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        error = GatewayError("Not found.")
        error.status, error.type, error.code = 404, "invalid_request_error", "not_found"
        raise error
    headers = {**SECURITY_HEADERS, "cache-control": "public, max-age=300"}
    return Response(_read(name), media_type=media_type, headers=headers)
