"""Early warning (issue 13): the 未诉先办 backtest on a city's history.

    python -m benchmarks.warning_proactive --db sqlite:////path/to/demo.db [--months 6]

For each of the last `months` complete months: the street × category pairs expected from the months before it
(`proactive.expected_in`: 2 of the last 3 months, or 2+ requests in the same month a year before) against those
that had at least 2 requests in it. Compared with a naive rule under the same months: "what came last month comes
again". Writes benchmarks/results/warning_proactive-<date>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    from chengzhi.config import Settings
    from chengzhi.db import get_sessionmaker
    from chengzhi.warning import forecast, proactive

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--months", type=int, default=6)
    args = parser.parse_args()
    settings = Settings(_env_file=None, database_url=args.db)
    with get_sessionmaker(args.db)() as session:
        last = session.execute(text("SELECT max(received_at) FROM hot_issue_members")).scalar()
        now = dt.datetime.fromisoformat(str(last)).replace(tzinfo=dt.UTC) if last else dt.datetime.now(dt.UTC)
        result = forecast.backtest(session, settings, now, args.months)
        counts = {k: v for k, v in forecast._counts(session, settings, now).items() if k.area_path}
    this_month = proactive.month_of(now.date())
    months = [proactive.add_months(this_month, -n) for n in range(args.months, 0, -1)]
    predicted = happened = hits = 0
    for month in months:
        before = proactive.add_months(month, -1)
        guessed = {k for k, s in counts.items() if s.get(before, 0) >= 1}
        came = {k for k, s in counts.items() if s.get(month, 0) >= 2}
        predicted, happened, hits = predicted + len(guessed), happened + len(came), hits + len(guessed & came)
    naive = proactive.Backtest(len(months), predicted, happened, hits)
    lines = [
        f"# 未诉先办 backtest ({dt.date.today()})",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}. Database "
        f"{args.db.split('/')[-1]}: {len(counts)} street × category series; months "
        f'{months[0].isoformat()[:7]} to {months[-1].isoformat()[:7]}; "came" = at least 2 requests in the month.',
        "",
        "| rule | expected | came | hits | precision | recall |",
        "|---|---|---|---|---|---|",
        f"| recurring (2 of 3 months) or seasonal (2+ a year before) | {result.predicted} | {result.happened} | "
        f"{result.hits} | {result.precision:.2f} | {result.recall:.2f} |",
        f"| naive: any request last month | {naive.predicted} | {naive.happened} | {naive.hits} | "
        f"{naive.precision:.2f} | {naive.recall:.2f} |",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"warning_proactive-{dt.date.today()}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"→ {out}")


if __name__ == "__main__":
    main()
