"""Bearer tokens: read tokens may GET, write tokens may also POST. Compared as hashes in constant time."""

from __future__ import annotations

import hashlib
import hmac
from functools import wraps

from flask import current_app, request

from api.errors import ApiError


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _scope_of(token: str) -> str | None:
    settings = current_app.config["MEDGRID_SETTINGS"]
    presented = _digest(token)
    # Hash both sides so comparison time does not depend on where the strings differ.
    if any(hmac.compare_digest(presented, _digest(t)) for t in settings.api_write_tokens):
        return "write"
    if any(hmac.compare_digest(presented, _digest(t)) for t in settings.api_read_tokens):
        return "read"
    return None


def require(scope: str):
    """Decorator: 401 without a valid token, 403 when a read token attempts a write."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer ") or not header[7:].strip():
                raise ApiError(401, "unauthorized", "a bearer token is required (Authorization: Bearer <token>)")
            granted = _scope_of(header[7:].strip())
            if granted is None:
                raise ApiError(401, "unauthorized", "unknown token")
            if scope == "write" and granted != "write":
                raise ApiError(403, "forbidden", "this token may read but not write")
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorate
