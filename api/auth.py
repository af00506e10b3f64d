"""Bearer tokens: read tokens may GET, write tokens may also POST.

A token is valid when it is one of the settings tokens (MEDGRID_API_READ_TOKENS /
MEDGRID_API_WRITE_TOKENS: bootstrap and CI) or an unrevoked token of the ``api_tokens`` table
(managed by ``medgrid tokens``). The table holds sha256 digests only; a presented token is hashed
first and looked up by its digest, so neither path compares the secret itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import current_app, request

from api.errors import ApiError

log = logging.getLogger("medgrid.api")

SCOPES = ("read", "write")
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
# last_used_at is written at most once per this interval per token, so reads do not all turn into writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenError(ValueError):
    """A token command was given a bad name or scope, or names a token that does not exist."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hash_token(token: str) -> str:
    """The form a token is stored in: its sha256 hex digest."""
    return hashlib.sha256(token.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything medgrid writes is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


# -- the token store (the `medgrid tokens` commands and request authentication) --------------------

def create_token(factory, name: str, scope: str) -> str:
    """Store a new token's digest under ``name`` and return the token: the only time it exists in clear."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from db import models as m
    from db.session import transaction

    if not TOKEN_NAME.fullmatch(name or ""):
        raise TokenError(f"invalid token name {name!r}: use 1-100 letters, digits, '_', '.' or '-', "
                         f"starting with a letter or digit")
    if scope not in SCOPES:
        raise TokenError(f"invalid scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
    token = secrets.token_urlsafe(32)
    try:
        with transaction(factory) as session:
            if session.scalar(select(m.ApiToken.id).where(m.ApiToken.name == name)) is not None:
                raise TokenError(f"a token named {name!r} already exists (revoked tokens keep their name)")
            session.add(m.ApiToken(name=name, scope=scope, token_hash=hash_token(token)))
    except IntegrityError:  # a concurrent create of the same name won the race
        raise TokenError(f"a token named {name!r} already exists (revoked tokens keep their name)") from None
    return token


def list_tokens(factory) -> list[dict]:
    """Every token's name, scope and dates, oldest first; never the digest, never the token."""
    from sqlalchemy import select

    from db import models as m
    from db.session import transaction

    with transaction(factory) as session:
        rows = session.scalars(select(m.ApiToken).order_by(m.ApiToken.created_at, m.ApiToken.id)).all()
        return [{"name": t.name, "scope": t.scope, "created_at": _aware(t.created_at),
                 "last_used_at": _aware(t.last_used_at), "revoked_at": _aware(t.revoked_at)} for t in rows]


def revoke_token(factory, name: str) -> bool:
    """Revoke the token named ``name``: True if revoked now, False if it already was."""
    from sqlalchemy import select

    from db import models as m
    from db.session import transaction

    with transaction(factory) as session:
        token = session.scalar(select(m.ApiToken).where(m.ApiToken.name == name).with_for_update())
        if token is None:
            raise TokenError(f"no token named {name!r} (see `medgrid tokens list`)")
        if token.revoked_at is not None:
            return False
        token.revoked_at = _utcnow()
        return True


def scope_of_stored_token(factory, token: str) -> str | None:
    """The scope of an unrevoked stored token, or None; records when it was last used."""
    from sqlalchemy import or_, select, update

    from db import models as m
    from db.session import transaction

    with transaction(factory) as session:
        row = session.execute(select(m.ApiToken.id, m.ApiToken.scope).where(
            m.ApiToken.token_hash == hash_token(token), m.ApiToken.revoked_at.is_(None))).first()
        if row is None:
            return None
        now = _utcnow()
        session.execute(update(m.ApiToken).where(
            m.ApiToken.id == row.id,
            or_(m.ApiToken.last_used_at.is_(None), m.ApiToken.last_used_at < now - LAST_USED_RESOLUTION))
            .values(last_used_at=now))
        return row.scope


# -- request authentication ------------------------------------------------------------------------

def _scope_of(token: str) -> str | None:
    settings = current_app.config["MEDGRID_SETTINGS"]
    presented = _digest(token)
    # Hash both sides so comparison time does not depend on where the strings differ.
    if any(hmac.compare_digest(presented, _digest(t)) for t in settings.api_write_tokens):
        return "write"
    if any(hmac.compare_digest(presented, _digest(t)) for t in settings.api_read_tokens):
        return "read"
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return scope_of_stored_token(current_app.extensions["medgrid"].factory, token)
    except SQLAlchemyError:
        log.exception("token lookup failed")
        raise ApiError(503, "unavailable", "the token store cannot be reached; try again later") from None


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
