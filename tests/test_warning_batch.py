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


def _many(count: int = 40) -> list[hot.Message]:
    rng = random.Random(7)
    return [
        message(100 + k, f"阳光花园小区烧烤噪音第{k}次", rng.choice(NOISE).detail, days=k / 10)
        for k in range(count)
    ] + SAMPLE


def _combined(messages: list[hot.Message], sizes: list[int]) -> batch.Combined:
    settings = hot.GroupingSettings()
    parts, start = [], 0
    for size in sizes:
        parts.append(batch.tokenise_part(messages[start : start + size], settings))
        start += size
    return batch.combine(parts, settings)


def test_no_block_is_larger_than_asked() -> None:
    many = _many()[:40]
    blocks = batch.make_blocks(batch.block_keys(_combined(many, [40])), [m.time for m in many], max_block=8)
    assert max(len(b) for b in blocks) <= 8
    assert sorted(r for b in blocks for r in b) == list(range(len(many)))
    # Time windows: each block holds consecutive messages.
    for rows in blocks:
        times = sorted(many[r].time or dt.datetime.min for r in rows)
        assert times == [many[r].time for r in sorted(rows)]


def test_the_parts_make_the_same_matrix_as_one_process_whatever_the_partitioning() -> None:
    many = _many()
    alone = hot.featurise(many)
    for sizes in ([len(many)], [1, 20, len(many)], [7] * 10):
        combined = _combined(many, sizes)
        assert combined.features.vocabulary == alone.vocabulary
        # The same numbers (scikit-learn sums a row's squares in another order: the last bit may differ).
        assert abs(combined.features.matrix - alone.matrix).max() < 1e-12
        assert combined.features.title_places == alone.title_places
        assert combined.features.places == alone.places and combined.features.admin == alone.admin


def _reference_blocks(messages: list[hot.Message], max_block: int, max_key: int) -> list[list[int]]:
    """Blocking as written first (a Python loop per message, union-find): the vectorised path must agree."""
    features = hot.featurise(messages)
    tokens = [hot.tokenise(m) for m in messages]
    position = {t: j for j, t in enumerate(features.vocabulary)}

    def strongest(row: int, among: list[str]) -> list[str]:
        weights = {t: features.matrix[row, position[t]] for t in dict.fromkeys(among) if t in position}
        return [t for _w, t in sorted(((w, t) for t, w in weights.items() if w > 0), reverse=True)[:2]]

    holders: dict[str, list[int]] = {}
    for row, tok in enumerate(tokens):
        keys = ["@" + hot.place_key(p) for p in tok.title_places + tok.places[:2]]
        keys += strongest(row, tok.words[: tok.title_words]) + strongest(row, tok.words)
        for key in dict.fromkeys(keys):
            holders.setdefault(key, []).append(row)
    parent = list(range(len(messages)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for rows in holders.values():
        if 1 < len(rows) <= max_key:
            for other in rows[1:]:
                parent[root(other)] = root(rows[0])
    components: dict[int, list[int]] = {}
    for row in range(len(messages)):
        components.setdefault(root(row), []).append(row)
    blocks = []
    for rows in components.values():
        ordered = sorted(rows, key=lambda r: (messages[r].time or dt.datetime.min.replace(tzinfo=dt.UTC), r))
        blocks += [sorted(ordered[i : i + max_block]) for i in range(0, len(ordered), max_block)]
    return sorted(blocks, key=lambda rows: rows[0])


@pytest.mark.parametrize(("max_block", "max_key"), [(2000, 200), (8, 200), (2000, 6)])
def test_vectorised_blocking_agrees_with_the_rule_written_as_a_loop(max_block: int, max_key: int) -> None:
    many = _many()
    keys = batch.block_keys(_combined(many, [13, len(many)]))
    found = batch.make_blocks(keys, [m.time for m in many], max_block, max_key)
    assert found == _reference_blocks(many, max_block, max_key)


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
