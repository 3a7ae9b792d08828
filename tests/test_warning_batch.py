"""The batch path (warning/batch.py): blocking keeps grouping out of n x n, and Dask (local scheduler, a
distributed scheduler's address) gives the same groups as the single-process path on the same messages."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.warning import batch, hot
from chengzhi.warning.files import read_messages

from .test_warning_hot import LIGHTS, NOISE, OTHERS, message

SAMPLE = NOISE + LIGHTS + OTHERS
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "tc2020-hot" / "messages.csv"


def as_ids(messages: list[hot.Message], groups: list[list[int]]) -> list[set[str]]:
    return sorted(({messages[i].id for i in g} for g in groups), key=lambda s: sorted(s))


def test_blocked_grouping_finds_the_obvious_groups_as_the_unblocked_path_does() -> None:
    unblocked = hot.group(hot.featurise(SAMPLE))
    blocked = batch.group_messages(SAMPLE, scheduler=None)
    assert as_ids(SAMPLE, blocked.groups) == as_ids(SAMPLE, unblocked)
    assert {m.id for m in NOISE} in as_ids(SAMPLE, blocked.groups)
    assert {m.id for m in LIGHTS} in as_ids(SAMPLE, blocked.groups)
    # The three unrelated messages are in blocks of their own: nothing else is compared with them.
    assert blocked.blocks >= 5 and blocked.largest_block == len(NOISE)


def test_no_block_is_larger_than_asked() -> None:
    rng = random.Random(7)
    many = [
        message(100 + k, f"阳光花园小区烧烤噪音第{k}次", rng.choice(NOISE).detail, days=k / 10)
        for k in range(40)
    ]
    features = hot.featurise(many)
    tokens = [hot.tokenise(m) for m in many]
    blocks = batch.make_blocks(features, [m.time for m in many], [t.title_words for t in tokens], max_block=8)
    assert max(len(b) for b in blocks) <= 8
    assert sorted(r for b in blocks for r in b) == list(range(len(many)))
    # Time windows: each block holds consecutive messages.
    for rows in blocks:
        times = sorted(many[r].time or dt.datetime.min for r in rows)
        assert times == [many[r].time for r in sorted(rows)]


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_dask_gives_the_same_groups_as_one_process(scheduler: str) -> None:
    alone = batch.group_messages(SAMPLE, scheduler=None)
    spread = batch.group_messages(SAMPLE, scheduler=scheduler, partitions=3)
    assert spread.groups == alone.groups
    assert (spread.features.matrix != alone.features.matrix).nnz == 0


@pytest.mark.slow
def test_a_distributed_scheduler_by_its_address_gives_the_same_groups() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]
        spread = batch.group_messages(SAMPLE, scheduler=cluster.scheduler_address)
        batch.close_clients()
    assert spread.groups == batch.group_messages(SAMPLE, scheduler=None).groups


@pytest.mark.slow
@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/tc2020-hot is not on this machine")
def test_dask_and_one_process_agree_on_a_sample_of_real_messages() -> None:
    sample = read_messages(REAL)[:400]
    alone = batch.group_messages(sample, scheduler=None, max_block=150)
    spread = batch.group_messages(sample, scheduler="local", max_block=150, partitions=4)
    assert spread.groups == alone.groups
    assert alone.largest_block <= 150


def test_the_offline_command_runs_the_batch_on_dask(tmp_path: Path) -> None:
    path = tmp_path / "messages.csv"
    lines = ["message_id,user,title,detail,time"] + [
        f"{m.id},{m.user},{m.title},{m.detail},{(m.time or dt.datetime.min).isoformat(' ')}" for m in SAMPLE
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["hot", "detect", str(path), "--output", str(tmp_path / "out"), "--dask", "--scheduler", "threads"],
    )
    assert result.exit_code == 0, result.output
    assert "阳光花园" in (tmp_path / "out" / "hot_issues.csv").read_text(encoding="utf-8-sig")
