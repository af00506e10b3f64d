"""`medgrid tokens create|list|revoke`: the REST API's bearer tokens in MEDGRID_DATABASE_URL.

The table holds sha256 digests only, so `create` prints the token once (alone on stdout, for
`TOKEN=$(medgrid tokens create ...)`) and nothing can print it again.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import click


@click.group()
def tokens():
    """Bearer tokens of the REST API (stored hashed)."""


@contextmanager
def _token_store():
    """The session factory of MEDGRID_DATABASE_URL; bad input and database trouble become one-line errors."""
    from sqlalchemy.exc import SQLAlchemyError

    from api.auth import TokenError
    from db.session import make_engine, make_sessionmaker
    from medgrid.errors import UserError, load_settings

    engine = make_engine(load_settings().resolved_database_url)
    try:
        yield make_sessionmaker(engine)
    except TokenError as exc:
        raise UserError(str(exc)) from None
    except SQLAlchemyError as exc:
        # The driver's first line says what failed (unreachable, missing table) and holds no password.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise UserError(f"database error ({reason}); is MEDGRID_DATABASE_URL reachable and at the latest "
                        f"revision (`medgrid db upgrade`)?") from None
    finally:
        engine.dispose()


@tokens.command("create")
@click.option("--name", required=True, help="a unique name saying who or what uses the token")
@click.option("--scope", required=True, type=click.Choice(["read", "write"]),
              help="read: GET endpoints; write: also POST endpoints")
def tokens_create(name, scope):
    """Create a token and print it; this is the only time it is shown."""
    from api.auth import create_token

    with _token_store() as factory:
        token = create_token(factory, name, scope)
    click.echo(token)
    click.echo(f"token {name!r} ({scope}) created; store it now, it cannot be shown again", err=True)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON array of {name, scope, created_at, last_used_at, revoked_at}")
def tokens_list(as_json):
    """List tokens: name, scope, when created, last used and revoked (never the token)."""
    from api.auth import list_tokens

    with _token_store() as factory:
        rows = list_tokens(factory)
    if as_json:
        click.echo(json.dumps([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                               for row in rows], indent=1))
        return
    if not rows:
        click.echo("no tokens (create one with `medgrid tokens create --name NAME --scope read|write`)")
        return
    click.echo(f"{'name':24s} {'scope':6s} {'created':24s} {'last used':24s} revoked")
    for row in rows:
        click.echo(f"{row['name']:24s} {row['scope']:6s} {_when(row['created_at']):24s} "
                   f"{_when(row['last_used_at']):24s} {_when(row['revoked_at'])}")


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name):
    """Revoke the token NAME: requests bearing it get 401 from now on."""
    from api.auth import revoke_token

    with _token_store() as factory:
        revoked_now = revoke_token(factory, name)
    click.echo(f"token {name!r} revoked" if revoked_now else f"token {name!r} was already revoked")
