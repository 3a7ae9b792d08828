"""Load generator: a fixed number of concurrent HTTP clients for a fixed time, one latency per request.

It runs as a process of its own (`python -m benchmarks.loadgen ...`) so that it never shares an interpreter with
the server; on a small machine it still shares the CPU cores, which the results say.

Modes:
  submit  POST /api/v1/requests, each with a distinct Idempotency-Key, varied text, a point inside the city;
          the tracking numbers of the created requests are written to --tracking-file.
  read    GET /api/v1/requests/{tracking_number}, a random number taken from --tracking-file each time.

A request counts as successful when its status is the expected one (201 for submit, 200 for read); anything else,
including a connection error or a timeout, is an error and is counted by its status or exception type.
Latency is measured from just before the request is sent to the end of reading the response body, on the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

PLACES = [
    "小区东门",
    "路口",
    "公交站旁",
    "菜市场后面",
    "学校门口",
    "地铁站出口",
    "公园北侧",
    "胡同里",
    "楼下",
    "河边步道",
]
PROBLEMS = {
    "litter": ["垃圾堆放多日无人清理", "垃圾桶满了溢出来", "有人乱扔建筑垃圾", "绿化带里全是塑料袋"],
    "road": ["路面有大坑", "井盖松动", "人行道砖破损", "路面塌陷"],
    "water": ["停水一整天了", "水管爆裂漏水", "自来水发黄", "水压很低"],
    "bus": ["公交车不按时到站", "站牌信息错误", "末班车提前开走", "公交车太挤"],
}
DETAILS = ["请尽快处理", "已经反映过一次", "影响老人出行", "晚上特别明显", "孩子上学要经过", ""]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(latencies_s: list[float]) -> dict[str, float]:
    values = sorted(latencies_s)
    if not values:
        return {}
    return {
        "min": round(values[0] * 1000, 2),
        "p50": round(percentile(values, 50) * 1000, 2),
        "p90": round(percentile(values, 90) * 1000, 2),
        "p99": round(percentile(values, 99) * 1000, 2),
        "max": round(values[-1] * 1000, 2),
        "mean": round(sum(values) / len(values) * 1000, 2),
    }


def submission(rng: random.Random, channel: str) -> dict[str, Any]:
    """A plausible request at a random point inside the benchmark city (lon 0..2, lat 0..1)."""
    category = rng.choice(list(PROBLEMS))
    text = f"{rng.choice(PLACES)}{rng.choice(PROBLEMS[category])}，{rng.choice(DETAILS)}（{rng.randrange(10**6)}）"
    body: dict[str, Any] = {
        "text": text,
        "category": category,
        "channel": channel,
        "lat": round(rng.uniform(0.01, 0.99), 6),
        "lon": round(rng.uniform(0.01, 1.99), 6),
        "contact_name": rng.choice(["张", "王", "李", "赵", "刘"]) + rng.choice(["先生", "女士"]),
        "contact_phone": f"13{rng.randrange(10**9):09d}",
    }
    if category == "road":
        body["attributes"] = {"size": rng.choice(["small", "large"])}
    return body


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # successful requests only, seconds
    errors: Counter[str] = field(default_factory=Counter)
    tracking_numbers: list[str] = field(default_factory=list)
    first_error: str | None = None
    last_end: float = 0.0


async def _client(
    worker: int,
    session: aiohttp.ClientSession,
    args: argparse.Namespace,
    tally: Tally | None,
    deadline: float,
    tracking: list[str],
) -> None:
    rng = random.Random(f"{args.seed}-{worker}-{tally is None}")
    base = args.base_url.rstrip("/")
    if tally is None and args.ramp > 0:
        # Open the connections one after another during the warm-up: a burst of simultaneous connects is accepted
        # by whichever server process wakes first, and keep-alive would then tie most clients to one process.
        await asyncio.sleep(worker * args.ramp / args.concurrency)
    # Open loop (`--rate`): this client sends every `period` seconds on a fixed schedule, the clients staggered
    # evenly; a request's latency counts from its scheduled time, so a send delayed by the one before it (the
    # server falling behind) shows in the figures instead of lowering the offered rate (no coordinated omission).
    period = args.concurrency / args.rate if args.rate > 0 else 0.0
    next_at = time.perf_counter() + worker * period / args.concurrency
    while (next_at if period else time.perf_counter()) < deadline:
        if args.mode == "submit":
            method, url = "POST", f"{base}/api/v1/requests"
            kwargs: dict[str, Any] = {
                "json": submission(rng, args.channel),
                "headers": {"Idempotency-Key": uuid.uuid4().hex},
            }
            expected = 201
        else:
            method, url = "GET", f"{base}/api/v1/requests/{rng.choice(tracking)}"
            kwargs = {}
            expected = 200
        if period:
            wait = next_at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            started, next_at = next_at, next_at + period
        else:
            started = time.perf_counter()
        try:
            async with session.request(method, url, **kwargs) as response:
                body = await response.read()
                ended = time.perf_counter()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            ended = time.perf_counter()
            if tally is not None:
                tally.errors[type(exc).__name__] += 1
                tally.first_error = tally.first_error or repr(exc)[:300]
                tally.last_end = max(tally.last_end, ended)
            continue
        if tally is None:
            continue
        tally.last_end = max(tally.last_end, ended)
        if status == expected:
            tally.latencies.append(ended - started)
            if args.mode == "submit":
                tally.tracking_numbers.append(json.loads(body)["request"]["tracking_number"])
        else:
            tally.errors[str(status)] += 1
            tally.first_error = tally.first_error or f"{status} {body[:300].decode(errors='replace')}"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tracking: list[str] = []
    if args.mode == "read":
        tracking = [line for line in Path(args.tracking_file).read_text().split() if line]
        if not tracking:
            raise SystemExit("read mode needs tracking numbers in --tracking-file")
    connector = aiohttp.TCPConnector(
        limit=args.concurrency, limit_per_host=args.concurrency, force_close=args.new_connections
    )
    headers = {"Authorization": f"Bearer {args.token}", "Accept-Language": "zh"}
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:
        if args.warmup > 0:
            deadline = time.perf_counter() + args.warmup
            await asyncio.gather(
                *(_client(w, session, args, None, deadline, tracking) for w in range(args.concurrency))
            )
        tally = Tally()
        started = time.perf_counter()
        deadline = started + args.duration
        await asyncio.gather(
            *(_client(w, session, args, tally, deadline, tracking) for w in range(args.concurrency))
        )
        elapsed = max(tally.last_end, deadline) - started
    ok = len(tally.latencies)
    errors = sum(tally.errors.values())
    if args.mode == "submit" and args.tracking_file:
        Path(args.tracking_file).write_text("\n".join(tally.tracking_numbers) + "\n")
    return {
        "mode": args.mode,
        "concurrency": args.concurrency,
        "offered_per_s": args.rate or None,
        "warmup_s": args.warmup,
        "duration_s": round(elapsed, 3),
        "ok": ok,
        "errors": errors,
        "errors_by_kind": dict(tally.errors),
        "first_error": tally.first_error,
        "throughput_per_s": round(ok / elapsed, 1),
        "latency_ms": summarise(tally.latencies),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--mode", choices=["submit", "read"], required=True)
    parser.add_argument("--token", required=True, help="API token (Authorization: Bearer)")
    parser.add_argument("--channel", default="phone", help="channel of submissions (phone needs an operator)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds of load before measuring")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument(
        "--tracking-file", help="submit: where to write tracking numbers; read: where to read"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=2.0,
        help="seconds of the warm-up over which the clients start, one by one",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: requests per second offered in all (each client on a fixed schedule; latency from the "
        "scheduled time); 0: closed loop, each client sends as soon as its last answer came",
    )
    parser.add_argument("--new-connections", action="store_true", help="one TCP connection per request")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", help="write the JSON summary here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
