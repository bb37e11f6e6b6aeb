"""Who is calling: the ``Authorization: Bearer <key>`` header to a ``Principal``, or an error.

One function for every route: the control plane reaches it through FastAPI's
dependencies (``routes.principal``), the data plane calls it directly
(``dataplane.py``). A key seen in the last few seconds is answered from the
key store's cache without I/O; otherwise the store is asked off the event
loop. Errors: 401 ``AuthenticationFailed`` (missing, unknown or revoked key),
500-class ``GatewayError`` when the key store cannot be reached.
"""

from __future__ import annotations

import asyncio

from gateway.errors import AuthenticationFailed, GatewayError
from gateway.keys import KeyStore, Principal
from gateway.ledger.store import StoreUnavailable


async def authenticate(keys: KeyStore, authorization: str) -> Principal:
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise AuthenticationFailed("Missing API key: send 'Authorization: Bearer <key>'.")
    known, found = keys.cached(key)
    if not known:
        try:
            found = await asyncio.to_thread(keys.authenticate, key)
        except StoreUnavailable:
            raise GatewayError("The key store is unavailable; try again shortly.") from None
    if found is None:
        raise AuthenticationFailed("Invalid or revoked API key.")
    return found
