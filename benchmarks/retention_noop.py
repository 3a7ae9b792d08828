"""What retention by age costs the scheduler: the `retention` job runs every round and, since the by-age pruners
(recorded outbound messages, verification codes, ended sessions, topic votes), reads four more indexes even when
nothing is due. This times a run with nothing due, with and without the pruners, over 100,000 recent recorded
messages and 100,000 live verification codes, on a fresh SQLite file and (with `--postgresql URL`, a database
that may be emptied) PostgreSQL. Loopback only; small and quick.

    .venv/bin/python -m benchmarks.retention_noop [--runs 30] [--postgresql postgresql+psycopg://…/db]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from chengzhi import reactions
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.identity.models import VerificationCode
from chengzhi.migrate import upgrade
from chengzhi.outbound.models import OutboundRecord
from chengzhi.requests import retention

ROWS = 100_000


def _fill(url: str, now: dt.datetime) -> None:
    upgrade(url)
    with get_sessionmaker(url)() as session, session.begin():
        session.execute(
            insert(OutboundRecord),
            [
                {"channel": "sms", "recipient": "x", "reference": f"r{i}", "idempotency_key": f"k{i}", "body": {},
                 "created_at": now - dt.timedelta(minutes=i)}
                for i in range(ROWS)
            ],
        )  # fmt: skip
        session.execute(
            insert(VerificationCode),
            [
                {"browser": f"b{i}", "channel": "sms", "target": "x", "code_hash": "0", "created_at": now,
                 "expires_at": now + dt.timedelta(minutes=5), "attempts": 0}
                for i in range(ROWS)
            ],
        )  # fmt: skip
        if url.startswith("postgresql"):
            session.execute(text("ANALYZE"))


def _median_ms(url: str, settings: Settings, now: dt.datetime, runs: int) -> float:
    times = []
    for _ in range(runs):
        with get_sessionmaker(url)() as session, session.begin():
            start = time.perf_counter()
            retention.anonymise_expired(session, settings, now)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(url: str, runs: int) -> str:
    settings = Settings(database_url=url, retention_months=36)
    now = dt.datetime.now(dt.UTC)
    _fill(url, now)
    reactions.install()
    _median_ms(url, settings, now, 5)  # warm
    lines = []
    for turn in range(2):  # with, without, with, without: the same load for both
        with_pruners = _median_ms(url, settings, now, runs)
        for prune in reactions.PRUNE_BY_AGE:
            retention.off_cutoff(prune)
        without = _median_ms(url, settings, now, runs)
        reactions.install()
        lines.append(
            f"{url.split(':')[0]} turn {turn + 1}: {with_pruners:.2f} ms with, {without:.2f} ms without"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgresql", help="a PostgreSQL database URL whose contents may be replaced")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(measure(f"sqlite:///{Path(folder) / 'retention.db'}", args.runs))
    if args.postgresql:
        print(measure(args.postgresql, args.runs))


if __name__ == "__main__":
    main()
