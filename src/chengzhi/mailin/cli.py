"""`chengzhi mail ...`: the receiving side of e-mail intake (docs/channels.md)."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from chengzhi.config import get_settings

mail_app = typer.Typer(
    help="E-mail intake: mail to the city's address becomes a request.", no_args_is_help=True
)


@mail_app.command("serve")
def mail_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="SMTP port (behind the city's mail server, which relays to it).")
    ] = 2525,
) -> None:
    """Receive mail over SMTP until stopped: each message becomes a request, or joins the one it quotes."""
    from aiosmtpd.controller import Controller

    from chengzhi.mailin.service import MailHandler

    controller = Controller(MailHandler(get_settings()), hostname=host, port=port)
    controller.start()
    typer.echo(f"receiving mail on {host}:{port}; Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@mail_app.command("receive")
def mail_receive(
    file: Annotated[
        Path, typer.Argument(help="A message (.eml, RFC 5322), e.g. piped from the mail server.")
    ],
) -> None:
    """Take one message from a file: what a mail server's pipe transport (Postfix, Exim) would hand over."""
    from chengzhi.mailin.service import receive_mail

    received = receive_mail(get_settings(), file.read_bytes())
    typer.echo(json.dumps(asdict(received), ensure_ascii=False))
    if received.outcome == "refused":
        raise typer.Exit(1)
