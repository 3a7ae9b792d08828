"""`make bench`: the intake benchmark on SQLite and on PostgreSQL, written to benchmarks/results/.

    python -m benchmarks.run_all [--databases sqlite,postgresql] [--concurrency 32] [--duration 20] ...

PostgreSQL is reached at CHENGZHI_BENCH_POSTGRES_URL (default postgres@127.0.0.1:5432, database chengzhi_bench,
which is dropped and created again); the SQLite file is var/bench/chengzhi-bench.db. Where PostgreSQL does not
answer, its part is reported as skipped with the reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.intake import ROOT, WORK, Options, measure

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench"
TARGET_PER_S = 500
TARGET_P99_MS = 100
# Busy cores outside the benchmark's own processes above which a phase is reported as disturbed.
DISTURBED_CORES = 0.35
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "psycopg",
    "pydantic",
    "aiohttp",
)
PG_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "shared_buffers",
    "max_connections",
)


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return (
                    line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
                )
    except OSError:
        return None
    return None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def postgres_info(url: str) -> dict[str, Any]:
    engine = create_engine(make_url(url).set(database="postgres"), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            return {name: connection.execute(text(f"SHOW {name}")).scalar_one() for name in PG_SETTINGS}
    finally:
        engine.dispose()


def machine_info() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal")
    flags = _first("/proc/cpuinfo", "flags") or ""
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "virtualised": "hypervisor" in flags.split(),
        "ram_gib": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "os": _first("/etc/os-release", "PRETTY_NAME") or platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


# ---------------------------------------------------------------- Markdown


def _ms(figures: dict[str, Any], key: str) -> str:
    value = figures.get("latency_ms", {}).get(key)
    return "–" if value is None else f"{value:.1f}"


def _errors(figures: dict[str, Any]) -> str:
    if not figures["errors"]:
        return "0"
    kinds = ", ".join(f"{k}×{v}" for k, v in sorted(figures["errors_by_kind"].items()))
    return f"{figures['errors']} ({kinds})"


def _other_cores(cpu: dict[str, Any]) -> float:
    other = cpu["machine_busy_cores"] - cpu["server_cores"] - cpu["client_cores"] - cpu["postgres_cores"]
    return max(0.0, float(other))


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"# Intake benchmark, {report['date']}",
        "",
        f"Run `{report['command']}` at {report['started_at']} (UTC), commit `{report['commit']}`.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['cpu_count']} cores"
        + (" (virtual machine)" if m["virtualised"] else ""),
        f"- RAM: {m['ram_gib']} GiB; OS: {m['os']}, kernel {m['kernel']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}"
        + (f", PostgreSQL {report['postgresql']['server_version']}" if report.get("postgresql") else ""),
        "- " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v),
        f"- Load average at start: {' '.join(m['load_average_at_start'])}",
    ]
    if report.get("postgresql"):
        pg = report["postgresql"]
        lines.append(
            f"- PostgreSQL settings: fsync={pg['fsync']}, synchronous_commit={pg['synchronous_commit']}, "
            f"wal_sync_method={pg['wal_sync_method']}, shared_buffers={pg['shared_buffers']}"
        )
    lines += [
        "",
        "## Settings",
        "",
        f"- Server: `uvicorn chengzhi.app:create_app --factory --workers {s['workers']} --no-access-log`, "
        "scheduler off, loopback.",
        f"- Load generator: a separate process (asyncio + aiohttp), {s['concurrency']} concurrent keep-alive "
        f"connections opened one by one over the first {s.get('ramp', 2.0):g} s of a {s['warmup']:g} s warm-up, "
        f"then {s['duration']:g} s measured for submissions, {s['read_duration']:g} s for reads. It runs on the "
        "same cores as the server and the database.",
        (
            f"- **Open loop for submissions: {s['rate']:g} offered per second** in all, each client on a fixed "
            "schedule (staggered evenly); a submission's latency counts from its scheduled time, so a server that "
            "falls behind shows it in the latencies (no coordinated omission). Reads are closed loop."
            if s.get("rate")
            else "- Closed loop: each client sends its next request as soon as it has the answer to the last one "
            f"(the platform's maximum rate; latencies include the queue of {s['concurrency']} clients)."
        ),
        "- Submissions: authenticated operator, channel `phone`, a distinct `Idempotency-Key` each, varied text, "
        "one of four categories, a random point inside the city. Reads: `GET /api/v1/requests/{tracking_number}` "
        "of a random request created during the measured submissions (with its events and routing suggestion).",
        f"- Raw inserts: {s['concurrency']} threads, one psycopg / sqlite3 connection each, one INSERT + COMMIT "
        f"per row into the same `requests` table, {s['raw_duration']:g} s, server stopped.",
        "- Latencies are client-side, over successful responses only (201 for submissions, 200 for reads); "
        "every other outcome is counted as an error.",
    ]
    if s.get("with_model"):
        lines.append(
            "- **With an active category model** (trained on 1,200 texts made like the load generator's): intake "
            "classifies every submission and dispatches the ones it is sure of in the same transaction. "
            + "; ".join(
                f"{db['database']}: {db['model']['dispatched_at_intake']} of {db['requests_committed']} "
                "requests dispatched at intake"
                for db in report["databases"]
                if db.get("model") and "dispatched_at_intake" in db["model"]
            )
            + "."
        )
    lines += [
        "",
        "## Results",
        "",
        "| Database | Phase | per second | p50 ms | p90 ms | p99 ms | max ms | ok | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for db in report["databases"]:
        if db.get("skipped"):
            lines.append(f"| {db['database']} | skipped: {db['skipped']} | | | | | | | |")
            continue
        for phase, label, rate in (
            ("submit", "POST /api/v1/requests", "throughput_per_s"),
            ("read", "GET /api/v1/requests/{n}", "throughput_per_s"),
            ("raw", f"raw INSERT+COMMIT ×{s['concurrency']}", "inserts_per_s"),
            ("raw_single_connection", "raw INSERT+COMMIT ×1", "inserts_per_s"),
        ):
            if phase not in db:
                continue
            f = db[phase]
            lines.append(
                f"| {db['database']} | {label} | {f[rate]:.0f} | {_ms(f, 'p50')} | {_ms(f, 'p90')} | "
                f"{_ms(f, 'p99')} | {_ms(f, 'max')} | {f['ok']} | {_errors(f)} |"
            )
    lines += [
        "",
        "The triage worker (inside the server, one process holds the lease): outbox rows left when the submit phase "
        "ended, seconds until it was empty, and the triage lag (triaged_at - received_at) of every request:",
        "",
        "| Database | left after submit | catch-up s | triaged | lag p50 s | lag p95 s | lag max s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for db in report["databases"]:
        t = db.get("triage")
        if db.get("skipped") or not t:
            continue
        lag = t["lag_s"]
        lines.append(
            f"| {db['database']} | {t['outbox_depth_after_submit']} | {t['catch_up_s']} | {t['triaged']} | "
            f"{lag['p50']} | {lag['p95']} | {lag['max']} |"
        )
    lines += [
        "",
        "Emergencies during the submit phase (one a second, submitted beside the load): seconds from the 201 until "
        "the request shows the emergency priority (the worker's emergency lane; target 1 s):",
        "",
        "| Database | probes | p50 s | p95 s | max s | not seen in 30 s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for db in report["databases"]:
        e = db.get("emergency_probe")
        if db.get("skipped") or not e:
            continue
        lines.append(
            f"| {db['database']} | {e['probes']} | {e['p50_s']} | {e['p95_s']} | {e['max_s']} | {e['missed_30s']} |"
        )
    lines += ["", "| Database | platform ÷ raw (submissions/s ÷ inserts/s) |", "|---|---:|"]
    for db in report["databases"]:
        if not db.get("skipped"):
            lines.append(f"| {db['database']} | {db['ratio_platform_to_raw']:.3f} |")
    lines += [
        "",
        "CPU used during each phase, in cores (1.0 = one core busy for the whole phase); *other* is the rest of "
        "the machine's busy time (kernel, short-lived processes, anything else running):",
        "",
        "| Database | Phase | server (uvicorn: per process) | client (loadgen / raw) | PostgreSQL | other | machine busy |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for db in report["databases"]:
        if db.get("skipped"):
            continue
        for phase in ("submit", "read", "raw"):
            c = db[phase]["cpu"]
            other = _other_cores(c)
            postgres = f"{c['postgres_cores']:.2f}" if db["database"] == "postgresql" else "–"
            spread = " + ".join(f"{v:.2f}" for v in c.get("server_cores_by_process", []) if v >= 0.01)
            server = f"{c['server_cores']:.2f} ({spread})" if spread else f"{c['server_cores']:.2f}"
            lines.append(
                f"| {db['database']} | {phase} | {server} | {c['client_cores']:.2f} | "
                f"{postgres} | {other:.2f} | "
                f"{c['machine_busy_cores']:.2f} of {c['machine_cores']} |"
            )
    lines += [
        "",
        "The same, as CPU milliseconds per successful request (per inserted row for *raw*):",
        "",
        "| Database | Phase | server | client | PostgreSQL | other | all |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for db in report["databases"]:
        if db.get("skipped"):
            continue
        for phase, rate in (
            ("submit", "throughput_per_s"),
            ("read", "throughput_per_s"),
            ("raw", "inserts_per_s"),
        ):
            c = db[phase]["cpu"]
            per = 1000 / db[phase][rate] if db[phase][rate] else float("nan")
            postgres = f"{c['postgres_cores'] * per:.2f}" if db["database"] == "postgresql" else "–"
            lines.append(
                f"| {db['database']} | {phase} | {c['server_cores'] * per:.2f} | {c['client_cores'] * per:.2f} | "
                f"{postgres} | {_other_cores(c) * per:.2f} | {c['machine_busy_cores'] * per:.2f} |"
            )
    target = report["target"]
    lines += [
        "",
        f"## Target: ≥ {TARGET_PER_S} submissions/s with p99 < {TARGET_P99_MS} ms on PostgreSQL",
        "",
        target["verdict"],
        "",
    ]
    first_errors = [
        f"- {db['database']} {phase}: `{db[phase]['first_error']}`"
        for db in report["databases"]
        if not db.get("skipped")
        for phase in ("submit", "read", "raw")
        if db[phase].get("first_error")
    ]
    if first_errors:
        lines += ["First error seen per phase:", "", *first_errors, ""]
    if report.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in report["notes"]], ""]
    return "\n".join(lines)


def verdict(databases: list[dict[str, Any]]) -> dict[str, Any]:
    pg = next((db for db in databases if db["database"] == "postgresql"), None)
    if pg is None or pg.get("skipped"):
        return {"met": None, "verdict": "Not measured: PostgreSQL was not part of this run."}
    rate = pg["submit"]["throughput_per_s"]
    p99 = pg["submit"]["latency_ms"].get("p99", float("inf"))
    met = rate >= TARGET_PER_S and p99 < TARGET_P99_MS and pg["submit"]["errors"] == 0
    word = "Met" if met else "Not met"
    return {
        "met": met,
        "verdict": f"{word}: {rate:.0f} submissions/s, p99 {p99:.1f} ms, {pg['submit']['errors']} errors.",
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.split("\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--read-duration", type=float, default=20.0)
    parser.add_argument("--raw-duration", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the clients connect")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="submissions per second offered (open loop; latency from the scheduled time); 0: closed loop",
    )
    parser.add_argument("--raw-single-duration", type=float, default=5.0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory for the JSON and Markdown")
    parser.add_argument("--no-write", action="store_true", help="print the report, write no result files")
    parser.add_argument("--note", action="append", default=[], help="a note to add to the report")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each phase, wait up to this many seconds for the machine to be idle (shared machines)",
    )
    parser.add_argument(
        "--with-model",
        action="store_true",
        help="make a trained category model active: intake classifies and dispatches the sure requests itself",
    )
    parser.add_argument("--tag", default="", help="added to the result file names: intake-<date>-<tag>")
    parser.add_argument(
        "--render", type=Path, help="write the Markdown of an existing JSON result again, and stop"
    )
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    if args.render:
        args.render.with_suffix(".md").write_text(render_markdown(json.loads(args.render.read_text())))
        return
    options = Options(
        quiet_wait=args.quiet_wait,
        ramp=args.ramp,
        rate=args.rate,
        concurrency=args.concurrency,
        workers=args.workers,
        warmup=args.warmup,
        duration=args.duration,
        read_duration=args.read_duration,
        raw_duration=args.raw_duration,
        raw_single_duration=args.raw_single_duration,
        with_model=args.with_model,
    )
    started = dt.datetime.now(dt.UTC)
    postgres_url = os.environ.get("CHENGZHI_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    sqlite_url = f"sqlite:///{WORK / 'chengzhi-bench.db'}"
    report: dict[str, Any] = {
        "benchmark": "intake",
        "date": started.date().isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "command": "make bench" if not given else " ".join(["python -m benchmarks.run_all", *given]),
        "commit": (_git("rev-parse", "--short", "HEAD") or "?")
        + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no", "src") else ""),
        "machine": machine_info(),
        "settings": {
            "workers": options.workers,
            "concurrency": options.concurrency,
            "warmup": options.warmup,
            "duration": options.duration,
            "read_duration": options.read_duration,
            "raw_duration": options.raw_duration,
            "quiet_wait": options.quiet_wait,
            "ramp": options.ramp,
            "rate": options.rate,
            "with_model": options.with_model,
            "submit_as": "operator, channel phone",
        },
        "postgresql": None,
        "databases": [],
        "notes": list(args.note),
    }
    for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
        if name == "sqlite":
            report["databases"].append(measure("sqlite", sqlite_url, options))
            report["notes"].append(
                f"SQLite serves {options.workers} worker processes through one file in WAL mode with "
                "synchronous=NORMAL: commits are durable against a process crash but not a power cut, and all "
                "writers take turns on one lock. Production runs on PostgreSQL."
            )
        elif name == "postgresql":
            try:
                report["postgresql"] = postgres_info(postgres_url)
            except Exception as exc:
                reason = f"PostgreSQL not reachable at {make_url(postgres_url).render_as_string()}: {exc}"
                print(reason)
                report["databases"].append({"database": "postgresql", "skipped": reason.splitlines()[0]})
                continue
            report["databases"].append(measure("postgresql", postgres_url, options))
        else:
            raise SystemExit(f"unknown database {name!r}: sqlite or postgresql")
    for db in report["databases"]:
        for phase in ("submit", "read", "raw"):
            cpu = db.get(phase, {}).get("cpu")
            if cpu and _other_cores(cpu) > DISTURBED_CORES:
                report["notes"].append(
                    f"{db['database']} {phase}: {_other_cores(cpu):.2f} cores were busy outside the benchmark's "
                    "processes (other work on the machine, kernel): its figures are lower than on an idle machine."
                )
    report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["target"] = verdict(report["databases"])
    markdown = render_markdown(report)
    print()
    print(markdown)
    if not args.no_write:
        args.results.mkdir(parents=True, exist_ok=True)
        stem = args.results / f"intake-{report['date']}{'-' + args.tag if args.tag else ''}"
        stem.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        stem.with_suffix(".md").write_text(markdown)
        print(f"written: {stem}.json, {stem}.md")


if __name__ == "__main__":
    main()
