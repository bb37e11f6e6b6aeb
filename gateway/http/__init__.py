"""The HTTP edge: everything that knows about HTTP, in one package.

- ``state.py``: ``GatewayState``, the application state on ``app.state.gateway``;
- ``deps.py``: typed FastAPI dependencies (the state, the caller, role checks);
- ``errors.py``: errors rendered in one place, and FastAPI's own routed there;
- ``dataplane.py``: the model APIs (``POST /v1/chat/completions``), served without FastAPI's layers;
- ``routes.py``: the control plane (models, probes, metrics, policy administration);
- ``reports.py``: finance's reports;
- ``openapi.py``: ``/openapi.json``, accurate for the data plane.

``install`` puts them on an app; ``gateway/app.py`` builds the object graph.
Nothing here imports the app factory, and no import happens inside a function
(``tests/test_architecture.py`` checks both).
"""

from __future__ import annotations

from fastapi import FastAPI

from gateway.http.dataplane import DataPlane
from gateway.http.errors import install_error_handlers
from gateway.http.openapi import install_openapi
from gateway.http.reports import router as reports_router
from gateway.http.routes import router
from gateway.telemetry import RequestMiddleware, Telemetry

__all__ = ["DataPlane", "install"]


def install(app: FastAPI, telemetry: Telemetry) -> None:
    """The routes, the data plane, the request middleware, the OpenAPI document and the error handlers."""
    app.include_router(router)
    app.include_router(reports_router)
    app.add_middleware(DataPlane)  # inside RequestMiddleware: the data plane skips FastAPI's layers
    app.add_middleware(RequestMiddleware, telemetry=telemetry)
    install_openapi(app)
    install_error_handlers(app)
