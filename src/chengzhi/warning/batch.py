"""Hot issues over years of history: the same functions as the single-process path (`hot.tokenise`,
`hot.features_of`, `hot.group`), with blocking so that grouping is not n x n, and Dask to spread the work.

Blocking. Average-linkage grouping holds an n x n distance matrix: 5,000 messages take ~300 MB. Here the messages
are first put into **blocks** and grouped within each block only (`hot.group` on the block's rows of the
collection's TF-IDF matrix), so the grouping costs Σ block² instead of n²:

1. each message has **keys**: the places it names (their keys: A市丽发新城小区 → 丽发新城) and its strongest words
   (two of the title's, two of the whole message's, by TF-IDF weight);
2. messages sharing a key are in one block (union-find), unless more than `max_key` messages share it (a word
   that says little);
3. a block larger than `max_block` (chained through many keys) is cut into **time windows** of at most `max_block`
   consecutive messages.

What blocking loses: two messages about one problem that share no key, or fall into two windows of a large block,
cannot be grouped. On tc2020-hot (4,326 messages) the blocked path's pairs of messages grouped together agree with
the unblocked path's at precision 0.91 and recall 0.63; its top four issues are the same (see
benchmarks/results/warning_batch-*.md).

Dask. Tokenising (jieba) is the slow part and is independent per message: a `dask.bag` maps `hot.tokenise` over
partitions; the blocks are grouped as another bag. The scheduler is Dask's local one by default (processes, so
that jieba runs on every core) or a `dask.distributed` scheduler's address (`--scheduler tcp://host:8786`,
`CHENGZHI_WARNING_DASK_SCHEDULER`). Without Dask (`scheduler=None` in `group_messages`), the same functions run in
this process: a test shows that both give the same groups.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chengzhi.warning import hot

MAX_BLOCK = 2000  # messages grouped together at most (a 2,000 x 2,000 matrix: 32 MB)
MAX_KEY = 200  # a key (place, word) shared by more messages says too little to put them in one block
LOCAL = "local"  # Dask's local scheduler (processes)
SCHEDULERS = ("local", "processes", "threads", "sync")


@dataclass
class Grouped:
    features: hot.Features
    groups: list[list[int]]  # indexes of the messages of each issue, largest first
    blocks: int
    largest_block: int


def subset(features: hot.Features, rows: Sequence[int]) -> hot.Features:
    """The features of some messages (rows of the matrix), with the collection's vocabulary and IDF."""
    return hot.Features(
        features.matrix[list(rows)],
        [features.words[i] for i in rows],
        [features.places[i] for i in rows],
        [features.admin[i] for i in rows],
        features.vocabulary,
        [features.title_places[i] for i in rows],
    )


def _strongest_words(features: hot.Features, row: int, among: Sequence[str], keep: int) -> list[str]:
    matrix = features.matrix
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    weights = {
        features.vocabulary[j]: w
        for j, w in zip(matrix.indices[start:end], matrix.data[start:end], strict=True)
    }
    ranked = sorted(
        ((weights[t], t) for t in dict.fromkeys(among) if t in weights and not t.startswith("@")),
        reverse=True,
    )
    return [t for _w, t in ranked[:keep]]


def block_keys(features: hot.Features, row: int, title_words: int) -> list[str]:
    """What a message may share with another of its problem: the places it names (their keys) and its strongest
    words (the title's first)."""
    keys = ["@" + hot.place_key(p) for p in features.title_places[row] + features.places[row][:2]]
    words = features.words[row]
    keys += _strongest_words(features, row, words[:title_words], 2)
    keys += _strongest_words(features, row, words, 2)
    return list(dict.fromkeys(keys))


def make_blocks(
    features: hot.Features,
    times: Sequence[dt.datetime | None],
    title_words: Sequence[int],
    max_block: int = MAX_BLOCK,
    max_key: int = MAX_KEY,
) -> list[list[int]]:
    """The rows of each block: messages sharing a key are in one block (union-find), unless the key is shared by
    more than `max_key` messages (a word that says little); a block over `max_block` is cut into time
    windows of at most that many messages."""
    n = len(times)
    keys = [block_keys(features, row, title_words[row]) for row in range(n)]
    holders: dict[str, list[int]] = {}
    for row, found in enumerate(keys):
        for key in found:
            holders.setdefault(key, []).append(row)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for rows in holders.values():
        if 1 < len(rows) <= max_key:
            first = root(rows[0])
            for other in rows[1:]:
                parent[root(other)] = first
    components: dict[int, list[int]] = {}
    for row in range(n):
        components.setdefault(root(row), []).append(row)
    blocks: list[list[int]] = []
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    for rows in components.values():
        if len(rows) <= max_block:
            blocks.append(rows)
            continue
        # Too many chained together: cut into time windows (a problem raised over a longer time than its window
        # can take is split at the window's edge).
        ordered = sorted(rows, key=lambda r: (_aware(times[r]) or floor, r))
        blocks.extend(ordered[i : i + max_block] for i in range(0, len(ordered), max_block))
    return sorted((sorted(rows) for rows in blocks), key=lambda rows: rows[0])


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    return when.replace(tzinfo=dt.UTC) if when is not None and when.tzinfo is None else when


def group_block(part: tuple[list[int], hot.Features], settings: hot.GroupingSettings) -> list[list[int]]:
    """One block's groups, as indexes into the whole collection."""
    rows, features = part
    return [[rows[i] for i in members] for members in hot.group(features, settings)]


def _sort(groups: list[list[int]]) -> list[list[int]]:
    groups = [sorted(members) for members in groups]
    return sorted(groups, key=lambda members: (-len(members), members[0]))


def group_messages(
    messages: Sequence[hot.Message],
    settings: hot.GroupingSettings | None = None,
    *,
    scheduler: str | None = None,
    max_block: int = MAX_BLOCK,
    partitions: int | None = None,
) -> Grouped:
    """Messages → their features and blocked groups. `scheduler` None: in this process, without Dask; else Dask
    with its local scheduler (`local`/`processes`, `threads`, `sync`) or a distributed scheduler's address."""
    settings = settings or hot.GroupingSettings()
    run = _runner(scheduler, partitions)
    tokens = list(run(lambda m: hot.tokenise(m, settings), list(messages)))
    features = hot.features_of(tokens, settings)
    blocks = make_blocks(features, [m.time for m in messages], [t.title_words for t in tokens], max_block)
    parts = [(rows, subset(features, rows)) for rows in blocks]
    groups = [members for found in run(lambda part: group_block(part, settings), parts) for members in found]
    return Grouped(features, _sort(groups), len(blocks), max((len(b) for b in blocks), default=0))


Runner = Callable[[Callable[[Any], Any], list[Any]], Iterator[Any]]


def _runner(scheduler: str | None, partitions: int | None) -> Runner:
    if scheduler is None:
        return lambda function, items: map(function, items)
    import dask
    import dask.bag

    workers = os.cpu_count() or 1
    count = partitions or max(1, workers * 4)
    options: dict[str, Any]
    if scheduler in SCHEDULERS:
        name = "processes" if scheduler == LOCAL else scheduler
        options = {"scheduler": name}
        if name == "processes":
            options["num_workers"] = workers
    else:
        client = _client(scheduler)
        options = {"scheduler": client.get}

    def run(function: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
        if not items:
            return iter(())
        bag = dask.bag.from_sequence(items, npartitions=min(count, len(items)))  # type: ignore[no-untyped-call]
        return iter(bag.map(function).compute(**options))

    return run


_clients: dict[str, Any] = {}


def _client(address: str) -> Any:
    """A client of the distributed scheduler at `address` (kept for the process's life)."""
    if address not in _clients:
        from distributed import Client

        _clients[address] = Client(address, set_as_default=False, timeout="20s")  # type: ignore[no-untyped-call]
    return _clients[address]


def close_clients() -> None:
    """Closes the clients of distributed schedulers opened by this process."""
    while _clients:
        _address, client = _clients.popitem()
        client.close()


def detect(
    messages: Sequence[hot.Message],
    *,
    grouping: hot.GroupingSettings | None = None,
    weights: hot.HeatWeights | None = None,
    reference: dt.datetime | None = None,
    scheduler: str | None = LOCAL,
    max_block: int = MAX_BLOCK,
) -> list[hot.Issue]:
    """`hot.detect` with blocking (and Dask unless `scheduler` is None): messages → hot issues, hottest first."""
    grouping = grouping or hot.GroupingSettings()
    grouped = group_messages(messages, grouping, scheduler=scheduler, max_block=max_block)
    candidates = [
        members
        for members in grouped.groups
        if len(members) >= 2
        and len({messages[i].user or messages[i].id for i in members}) >= grouping.min_people
    ]
    issues = hot.make_issues(messages, candidates, grouped.features)
    return hot.heat(issues, weights, reference=reference)
