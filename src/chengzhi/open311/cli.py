"""`chengzhi open311 ...`: API keys for apps, and units' own Open311 endpoints."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer

from chengzhi.config import get_settings

open311_app = typer.Typer(help="Open311: API keys and units' own Open311 systems.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys of apps that post requests (only hashes are stored).", no_args_is_help=True
)
endpoints_app = typer.Typer(
    help="Units that receive their dispatched requests in their own Open311 system.", no_args_is_help=True
)
open311_app.add_typer(keys_app, name="keys")
open311_app.add_typer(endpoints_app, name="endpoints")


def _fail(text: str) -> typer.Exit:
    typer.echo(text, err=True)
    return typer.Exit(2)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who the key is for (unique), e.g. the app's name.")],
    rate: Annotated[
        str | None, typer.Option(help="Its rate limit, e.g. 100/minute (default CHENGZHI_OPEN311_KEY_RATE).")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(help="Code of a unit whose requests this key may also update (servicerequestupdates)."),
    ] = None,
) -> None:
    """Issue a new key and print it (shown once: only its hash is kept)."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.errors import ChengzhiError
    from chengzhi.i18n import message
    from chengzhi.open311.keys import create_key
    from chengzhi.org.service import get_unit_by_code

    settings = get_settings()
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            target = get_unit_by_code(session, unit) if unit else None
            new = create_key(session, name, rate or settings.open311_key_rate, target)
    except ChengzhiError as exc:
        raise _fail(message(exc.code, "en", dict(exc.params))) from None
    typer.echo(new.key)


@keys_app.command("list")
def keys_list() -> None:
    """List the keys: name, prefix, rate, unit, created, last used, revoked."""
    from chengzhi.db import get_sessionmaker
    from chengzhi.open311.keys import list_keys
    from chengzhi.org.service import get_unit

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session:
        for key in list_keys(session):
            unit = get_unit(session, key.unit_id) if key.unit_id else None
            fields = [
                key.name,
                key.prefix + "…",
                key.rate,
                unit.code if unit else "-",
                key.created_at.isoformat(timespec="seconds"),
                key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never used",
                f"revoked {key.revoked_at.isoformat(timespec='seconds')}" if key.revoked_at else "active",
            ]
            typer.echo("\t".join(fields))


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: it stops working at once."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.errors import ChengzhiError
    from chengzhi.open311.keys import revoke_key

    settings = get_settings()
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            revoke_key(session, name)
    except ChengzhiError:
        raise _fail(f"no key named {name!r}") from None
    typer.echo(f"revoked {name}")


@keys_app.command("vouch")
def keys_vouch(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Withdraw the mark instead.")] = False,
) -> None:
    """Mark a client as vouching for its users' accounts (it signs them in and sends only verified contacts): the
    account_id it posts is kept and links requests to residents on proof. --withdraw ends it."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.errors import ChengzhiError
    from chengzhi.open311.accounts import set_vouches

    settings = get_settings()
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            set_vouches(session, name, not withdraw, "command line")
    except ChengzhiError:
        raise _fail(f"no usable key named {name!r}") from None
    typer.echo(f"{name} {'no longer vouches' if withdraw else 'vouches'} for its users' accounts")


@endpoints_app.command("set")
def endpoints_set(
    unit: Annotated[str, typer.Argument(help="Code of the unit.")],
    url: Annotated[
        str, typer.Option(help="Base URL of its Open311 server, e.g. https://x.example/open311/v2.")
    ],
    jurisdiction: Annotated[
        str | None, typer.Option(help="jurisdiction_id to send, if it needs one.")
    ] = None,
    service_code: Annotated[
        list[str] | None,
        typer.Option(help="OUR=THEIRS where their service code differs from our category code (repeatable)."),
    ] = None,
) -> None:
    """Send the unit's dispatched requests to its Open311 system. The API key it issued us is read from
    CHENGZHI_OPEN311_ENDPOINT_KEY or asked for (never a command-line argument), and stored encrypted."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.errors import ChengzhiError
    from chengzhi.i18n import message
    from chengzhi.open311.delivery import set_endpoint
    from chengzhi.org.service import get_unit_by_code

    codes: dict[str, str] = {}
    for pair in service_code or []:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise _fail(f"--service-code {pair!r}: write OUR=THEIRS")
        codes[ours.strip()] = theirs.strip()
    api_key = os.environ.get("CHENGZHI_OPEN311_ENDPOINT_KEY") or getpass.getpass("their api_key: ")
    settings = get_settings()
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            target = get_unit_by_code(session, unit)
            set_endpoint(session, settings, target, url, api_key, jurisdiction, codes)
    except ChengzhiError as exc:
        raise _fail(message(exc.code, "en", dict(exc.params))) from None
    typer.echo(f"{unit}: dispatched requests go to {url.rstrip('/')}")


@endpoints_app.command("list")
def endpoints_list() -> None:
    """List the units with an Open311 endpoint (keys are not shown)."""
    from chengzhi.db import get_sessionmaker
    from chengzhi.open311.delivery import list_endpoints

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session:
        for endpoint, unit in list_endpoints(session):
            pulled = endpoint.pulled_until.isoformat(timespec="seconds") if endpoint.pulled_until else "never"
            state = "active" if endpoint.active else "disabled"
            typer.echo(
                f"{unit.code}\t{endpoint.url}\t{endpoint.jurisdiction_id or '-'}\t{state}\tpulled {pulled}"
            )


@endpoints_app.command("disable")
def endpoints_disable(unit: Annotated[str, typer.Argument(help="Code of the unit.")]) -> None:
    """Stop delivering to the unit's system (its new dispatches go to the workbench again)."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.errors import ChengzhiError
    from chengzhi.open311.delivery import disable_endpoint
    from chengzhi.org.service import get_unit_by_code

    settings = get_settings()
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            disable_endpoint(session, get_unit_by_code(session, unit))
    except ChengzhiError:
        raise _fail(f"unit {unit!r} has no Open311 endpoint") from None
    typer.echo(f"{unit}: disabled")


@open311_app.command("recorded")
def recorded_list(
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1)] = 20,
) -> None:
    """Deliveries recorded instead of sent (outbound mode `record`, the default outside production): time,
    tracking number, endpoint and the form that would have been posted (without the api_key)."""
    import json

    from chengzhi.db import get_sessionmaker
    from chengzhi.outbound.record import recorded

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session:
        for record in recorded(session, "open311", limit):
            fields = [
                record.created_at.isoformat(timespec="seconds"),
                record.reference,
                record.recipient,
                json.dumps(record.body, ensure_ascii=False, sort_keys=True),
            ]
            typer.echo("\t".join(fields))
