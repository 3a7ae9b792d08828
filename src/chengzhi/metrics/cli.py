"""`chengzhi metrics ...`: rebuild the dashboards' facts and roll-ups from the event log (after bulk loads)."""

from __future__ import annotations

import json
import time

import typer

from chengzhi.config import get_settings

metrics_app = typer.Typer(help="Dashboards' figures (three rates, roll-ups).", no_args_is_help=True)


@metrics_app.command("rebuild")
def metrics_rebuild(
    facts: bool = typer.Option(True, help="Recompute every request's facts from its events first."),
) -> None:
    """Recompute request_facts from the whole event log and sum every day into the roll-ups again.

    Needed only after loading events without the platform's services (bulk SQL, restored dumps): every event
    appended through the services rewrites its request's facts in its own transaction.
    """
    from chengzhi.db import get_engine
    from chengzhi.metrics import facts as facts_module
    from chengzhi.metrics import rollup

    settings = get_settings()
    engine = get_engine(settings.database_url)
    started = time.perf_counter()
    requests = facts_module.rebuild(engine, timezone=settings.timezone) if facts else None
    days = rollup.rebuild(engine)
    typer.echo(
        json.dumps({"requests": requests, "days": days, "seconds": round(time.perf_counter() - started, 1)})
    )
