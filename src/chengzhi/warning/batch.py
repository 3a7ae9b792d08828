"""Hot issues over years of history: the same functions as the single-process path (`hot.tokenise`, the same
TF-IDF as `hot.features_of`, `hot.group`), with blocking so that grouping is not n x n, and Dask to spread the work.

Blocking. Average-linkage grouping holds an n x n distance matrix: 5,000 messages take ~300 MB. Here the messages
are first put into **blocks** and grouped within each block only (`hot.group` on the block's rows of the
collection's TF-IDF matrix), so the grouping costs Σ block² instead of n²:

1. each message has **keys**: the places it names (their keys: A市丽发新城小区 → 丽发新城) and its strongest words
   (two of the title's, two of the whole message's, by TF-IDF weight; ties: the greater word);
2. messages sharing a key are in one block (connected components of the messages x keys graph), unless more than
   `max_key` messages share it (a word that says little);
3. a block larger than `max_block` (chained through many keys) is cut into **time windows** of at most `max_block`
   consecutive messages.

What blocking loses: two messages about one problem that share no key, or fall into two windows of a large block,
cannot be grouped. On tc2020-hot (4,326 messages) the blocked path's pairs of messages grouped together agree with
the unblocked path's at precision 0.91 and recall 0.63; its top four issues are the same (see
benchmarks/results/warning_batch-*.md).

Dask. Tokenising (jieba) is the slow part and is independent per message: a `dask.bag` maps `tokenise_part` over
chunks of messages, and each worker sends back only counts over its chunk's own terms (a sparse matrix) and the
places: never the words, which for a million messages would not fit in the caller's memory. The caller joins the
parts' vocabularies into the collection's TF-IDF matrix (`combine`: the same numbers as `hot.features_of`), finds
the keys and blocks with sparse-matrix operations (no loop per message), and sends each block only its rows of the
matrix and its titles' places; the blocks are grouped as another bag. The scheduler is Dask's local one by default
(processes, so that jieba runs on every core) or a `dask.distributed` scheduler's address (`--scheduler
tcp://host:8786`, `CHENGZHI_WARNING_DASK_SCHEDULER`). Without Dask (`scheduler=None` in `group_messages`), the same
functions run in this process: a test shows that both give the same groups.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chengzhi.warning import hot

MAX_BLOCK = 2000  # messages grouped together at most (a 2,000 x 2,000 matrix: 32 MB)
MAX_KEY = 200  # a key (place, word) shared by more messages says too little to put them in one block
LOCAL = "local"  # Dask's local scheduler (processes)
SCHEDULERS = ("local", "processes", "threads", "sync")
PART_SIZE = 20_000  # messages tokenised by one task at most


@dataclass
class Part:
    """Some messages tokenised (in a worker), in a compact form: counts over the part's own sorted terms. Only
    this travels back to the caller, not the words (a million messages' words would not fit in its memory)."""

    terms: list[str]  # sorted
    counts: Any  # scipy.sparse.csr_matrix (messages x terms), the TF-IDF document's counts (float64)
    title: Any  # scipy.sparse.csr_matrix (messages x terms), 1 where the term is one of the title's words
    places: list[list[str]]
    admin: list[list[str]]
    title_places: list[list[str]]
    place_keys: list[list[str]]  # the blocking keys of the places each message names


@dataclass
class Grouped:
    features: hot.Features  # `words` is empty: blocking reads the title's words from `title`
    groups: list[list[int]]  # indexes of the messages of each issue, largest first
    blocks: int
    largest_block: int
    # Every term of the collection (before TF-IDF's pruning) and how many messages hold it (for live's IDF table).
    terms: list[str] = field(default_factory=list)
    document_counts: Any = None  # numpy array, aligned with `terms`


def tokenise_part(messages: Sequence[hot.Message], settings: hot.GroupingSettings) -> Part:
    """`hot.tokenise` for each message, kept as counts over the part's terms (the slow part: jieba)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    local: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    title_rows: list[int] = []
    title_cols: list[int] = []
    places, admin, title_places, place_keys = [], [], [], []
    for row, message in enumerate(messages):
        tokens = hot.tokenise(message, settings)
        for term, count in Counter(tokens.document).items():
            rows.append(row)
            cols.append(local.setdefault(term, len(local)))
            values.append(float(count))
        for word in dict.fromkeys(tokens.words[: tokens.title_words]):
            if word in local:
                title_rows.append(row)
                title_cols.append(local[word])
        places.append(tokens.places)
        admin.append(tokens.admin)
        title_places.append(tokens.title_places)
        named = tokens.title_places + tokens.places[:2]
        place_keys.append(list(dict.fromkeys("@" + hot.place_key(p) for p in named)))
    terms = sorted(local)
    position = np.empty(len(local), dtype=np.int64)
    position[[local[t] for t in terms]] = np.arange(len(terms))
    shape = (len(messages), len(terms))

    def matrix(r: list[int], c: list[int], v: Any) -> Any:
        built = csr_matrix(
            (v, (np.asarray(r, dtype=np.int64), position[np.asarray(c, dtype=np.int64)])), shape
        )
        built.sort_indices()
        return built

    counts = matrix(rows, cols, np.asarray(values, dtype=np.float64))
    title = matrix(title_rows, title_cols, np.ones(len(title_rows), dtype=np.float64))
    return Part(terms, counts, title, places, admin, title_places, place_keys)


@dataclass
class Combined:
    features: hot.Features
    title: Any  # csr (messages x features' vocabulary): the title's words
    place_keys: list[list[str]]
    terms: list[str]  # all terms, before pruning
    document_counts: Any  # numpy array aligned with `terms`


def combine(parts: Sequence[Part], settings: hot.GroupingSettings) -> Combined:
    """The collection's TF-IDF matrix from its parts: the same matrix as `hot.features_of` on the same messages
    (the same counts, pruning by document frequency and scikit-learn's TF-IDF), whatever the partitioning."""
    import numpy as np
    from scipy.sparse import csr_matrix, vstack
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    terms = sorted(set().union(*(p.terms for p in parts))) if parts else []
    index = {t: i for i, t in enumerate(terms)}
    shape_cols = max(1, len(terms))

    def widen(matrix: Any, part: Part) -> Any:
        # Both orders are sorted: the new column numbers grow with the old ones (indices stay sorted).
        remap = np.fromiter((index[t] for t in part.terms), dtype=np.int64, count=len(part.terms))
        return csr_matrix(
            (matrix.data, remap[matrix.indices] if len(remap) else matrix.indices, matrix.indptr),
            shape=(matrix.shape[0], shape_cols),
        )

    counts = vstack([widen(p.counts, p) for p in parts], format="csr") if parts else csr_matrix((0, 1))
    title = vstack([widen(p.title, p) for p in parts], format="csr") if parts else csr_matrix((0, 1))
    n = counts.shape[0]
    frequency = np.bincount(counts.indices, minlength=shape_cols)[: len(terms)]
    # What TfidfVectorizer(min_df, max_df) keeps (hot.features_of).
    min_df = settings.min_df if n >= 20 else 1
    max_df = settings.max_df if n >= 20 else 1.0
    keep = np.flatnonzero((frequency >= min_df) & (frequency <= max_df * n))
    if len(keep) == 0 or max_df * n < min_df:
        matrix, vocabulary, title = csr_matrix((n, 1)), [""], csr_matrix((n, 1))
    else:
        counts, title = counts[:, keep], title[:, keep]
        matrix = TfidfTransformer(sublinear_tf=True, norm=None).fit_transform(counts)
        vocabulary = [terms[i] for i in keep]
    places = [row for p in parts for row in p.places]
    admin = [row for p in parts for row in p.admin]
    title_places = [row for p in parts for row in p.title_places]
    features = hot.Features(normalize(matrix), [], places, admin, vocabulary, title_places)
    place_keys = [row for p in parts for row in p.place_keys]
    return Combined(features, title, place_keys, terms, frequency)


def _top(matrix: Any, keep: int, rows_at_once: int = 100_000) -> tuple[Any, Any]:
    """(row, column) of each row's `keep` largest entries; ties: the later column (the greater term) first.
    Sorted `rows_at_once` rows at a time (a sort's temporary arrays for a million rows would take gigabytes)."""
    import numpy as np

    matrix = matrix.tocsr()
    matrix.sort_indices()
    found_rows, found_cols = [], []
    for first in range(0, matrix.shape[0], rows_at_once):
        chunk = matrix[first : first + rows_at_once]
        sizes = np.diff(chunk.indptr)
        rows = np.repeat(np.arange(chunk.shape[0]), sizes)
        order = np.lexsort((-chunk.indices, -chunk.data, rows))
        rank = np.arange(len(order)) - np.repeat(chunk.indptr[:-1], sizes)
        chosen = order[rank < keep]
        found_rows.append(rows[chosen] + first)
        found_cols.append(chunk.indices[chosen])
    if not found_rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_rows), np.concatenate(found_cols)


def block_keys(combined: Combined) -> Any:
    """What each message may share with another of its problem, as a sparse messages x keys matrix of ones: the
    places it names (their keys), its two strongest title words and its two strongest words (by TF-IDF)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    features = combined.features
    n = features.matrix.shape[0]
    words = features.matrix.tocsr(copy=True)
    place_column = np.array([t.startswith("@") for t in features.vocabulary], dtype=bool)
    words.data[place_column[words.indices]] = 0.0
    words.eliminate_zeros()
    in_title = words.multiply(combined.title).tocsr()
    in_title.eliminate_zeros()
    r1, c1 = _top(in_title, 2)
    r2, c2 = _top(words, 2)
    places: dict[str, int] = {}
    r3: list[int] = []
    c3: list[int] = []
    width = words.shape[1]
    for row, found in enumerate(combined.place_keys):
        for key in found:
            r3.append(row)
            c3.append(width + places.setdefault(key, len(places)))
    rows = np.concatenate([r1, r2, np.asarray(r3, dtype=np.int64)])
    cols = np.concatenate([c1, c2, np.asarray(c3, dtype=np.int64)])
    keys = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, width + len(places)))
    keys.data[:] = 1.0  # a key named twice by one message counts once
    return keys


def make_blocks(
    keys: Any,
    times: Sequence[dt.datetime | None],
    max_block: int = MAX_BLOCK,
    max_key: int = MAX_KEY,
) -> list[list[int]]:
    """The rows of each block: messages sharing a key are in one block (connected components), unless the key
    is shared by more than `max_key` messages (a word that says little); a block over `max_block` is cut into
    time windows of at most that many messages."""
    import numpy as np
    from scipy.sparse import bmat, csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = keys.shape[0]
    if n == 0:
        return []
    holders = np.asarray(keys.sum(axis=0)).ravel()
    useful = np.flatnonzero((holders > 1) & (holders <= max_key))
    linked = csr_matrix(keys[:, useful])
    graph = bmat([[None, linked], [linked.T, None]], format="csr") if len(useful) else None
    if graph is None:
        labels = np.arange(n)
    else:
        _count, labels = connected_components(graph, directed=False)
        labels = labels[:n]
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    moments = np.array([_seconds(t) for t in times], dtype=np.float64)
    blocks: list[list[int]] = []
    for rows in np.split(order, cuts):
        if len(rows) <= max_block:
            blocks.append(sorted(int(r) for r in rows))
            continue
        # Too many chained together: cut into time windows (a problem raised over a longer time than its window
        # can take is split at the window's edge).
        ordered = rows[np.lexsort((rows, moments[rows]))]
        for start in range(0, len(ordered), max_block):
            blocks.append(sorted(int(r) for r in ordered[start : start + max_block]))
    return sorted(blocks, key=lambda rows: rows[0])


def _seconds(when: dt.datetime | None) -> float:
    if when is None:
        return -math.inf
    return (when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when).timestamp()


def group_block(
    part: tuple[list[int], Any, list[list[str]]], settings: hot.GroupingSettings
) -> list[list[int]]:
    """One block's groups, as indexes into the whole collection (the block's rows of the matrix and the places
    its titles name are all `hot.group` reads)."""
    rows, matrix, title_places = part
    features = hot.Features(matrix, [], [], [], [], title_places)
    return [[rows[i] for i in members] for members in hot.group(features, settings)]


def _sort(groups: list[list[int]]) -> list[list[int]]:
    groups = [sorted(members) for members in groups]
    return sorted(groups, key=lambda members: (-len(members), members[0]))


def _chunks(items: Sequence[Any], count: int) -> list[list[Any]]:
    size = max(1, min(PART_SIZE, math.ceil(len(items) / max(1, count))))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


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
    workers = os.cpu_count() or 1
    count = partitions or max(1, workers * 4)
    run = _runner(scheduler, count)
    parts = list(run(lambda chunk: tokenise_part(chunk, settings), _chunks(messages, count * 4)))
    combined = combine(parts, settings)
    del parts
    features = combined.features
    blocks = make_blocks(block_keys(combined), [m.time for m in messages], max_block)
    matrix = features.matrix.tocsr()
    alone = [rows for rows in blocks if len(rows) == 1]
    work = [
        (rows, matrix[rows], [features.title_places[i] for i in rows]) for rows in blocks if len(rows) > 1
    ]
    groups = alone + [
        members for found in run(lambda part: group_block(part, settings), work) for members in found
    ]
    return Grouped(
        features,
        _sort(groups),
        len(blocks),
        max((len(b) for b in blocks), default=0),
        combined.terms,
        combined.document_counts,
    )


Runner = Callable[[Callable[[Any], Any], list[Any]], Iterator[Any]]


def _runner(scheduler: str | None, count: int) -> Runner:
    if scheduler is None:
        return lambda function, items: map(function, items)
    import dask
    import dask.bag

    workers = os.cpu_count() or 1
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
        # Four tasks per partition asked for: a worker that is done takes the next (a slow last task does not keep
        # one core busy while the other waits).
        tasks = min(count * 4, len(items))
        bag = dask.bag.from_sequence(items, npartitions=tasks)  # type: ignore[no-untyped-call]
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
