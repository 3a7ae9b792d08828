"""Hot issues from messages: grouping messages about the same problem at the same place, and the heat index.

This module needs no database: the offline command (`chengzhi hot detect`) and the live recomputation
(`warning.live`) call the same functions.

- `featurise(messages)`: each message's words (jieba, through `routing.service.tokens`), weighted by TF-IDF, plus the places
  it names (`routing.service.place_mentions`: compounds, roads, villages, schools ...) as extra features, so that two
  messages about the same problem at the same place are close even when worded differently.
- `group(features)`: average-linkage clustering on cosine distance, cut at `GroupingSettings.max_distance`, then
  issues that are too loose are split again. Average linkage does not chain: a message joins a group only if it is
  close to the group as a whole.
- `heat(issues)`: the heat index, a weighted sum of terms each scaled to [0, 1] over the candidate issues; every
  term's contribution is kept so that a leader sees why an issue is hot (`HeatWeights`, a setting).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chengzhi.routing.service import TextError, normalise, place_mentions, tokens

# Words that say nothing about the problem: how residents address the board and describe asking.
STOP_WORDS = frozenset(
    """
    反映 问题 投诉 咨询 请问 建议 关于 希望 要求 请求 恳请 领导 您好 你好 尊敬 相关 部门 政府
    有关 单位 我们 你们 他们 自己 这个 那个 这些 那些 什么 怎么 如何 为什么 是否 没有 已经 可以
    能够 进行 情况 一直 现在 目前 今天 时候 一个 一些 还是 但是 而且 因为 所以 如果 虽然 然后
    并且 以及 或者 还有 就是 这样 那样 这里 那里 非常 特别 严重 问问 解决 处理 谢谢 感谢 市民
    居民 群众 业主 本人 大家 工作 希望 尽快 及时 帮助 帮忙 答复 回复 回应 落实 不能 不是 不会
    不要 不到 得到 需要 应该 知道 觉得 认为 表示 发现 出现 存在 造成 导致 影响 根据 按照 通过
    对于 由于 其中 之后 之前 以后 以前 其他 其它 不少 很多 许多 一下 一样 一起 各位 给予 予以
    敬请 此事 此类 该 请 望 年 月 日 号 时 分
    """.split()  # noqa: SIM905
)
# "A市", "A3区", "B2县": the competition data's anonymised district names; also real names of the same shape.
_ADMIN = re.compile(
    r"(?:[A-Z][0-9]{0,2}|[\u4e00-\u9fff]{2,4}(?<![小社园景城片辖校街厂山郊矿新老开发]))[市区县](?![场域别长委民])"
)
# Words that end a name on the left ("户口落到本市": no district is named).
_ADMIN_STOP = re.compile(
    r".*[的在是了我你他她们和与及到从于对把被给向往住近旁边附位处去来说本该此各个全整落在]"
)
_NOT_PLACES = re.compile(r"(?:线路|道路|马路|电路|网路|思路|出路|门路|套路|公交线路)$")
_DIGITS = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True)
class Message:
    """One message (a request, a board post): what grouping and heat read."""

    id: str
    title: str
    detail: str
    time: dt.datetime | None
    user: str = ""
    likes: int = 0
    dislikes: int = 0
    area: str | None = None  # the district or street it is about, when known
    negativity: float | None = None  # 0..1, from the sentiment model when there is one


@dataclass(frozen=True)
class GroupingSettings:
    """How close messages must be to form an issue (cosine distance on the weighted words and places)."""

    max_distance: float = 0.85
    place_weight: float = 2.0  # a shared named place counts like this many shared rare words
    # Two messages whose titles name places, none of them the same, are about different places: at least this far.
    other_place_distance: float = 0.95
    # Groups about the same place whose mean word vectors are at least this similar are one issue.
    same_place_similarity: float = 0.5
    title_repeat: int = 3  # the title's words count this many times (titles name the problem)
    min_df: int = 2
    max_df: float = 0.3
    min_people: int = 2  # a hot issue: at least this many different people wrote about it


@dataclass(frozen=True)
class HeatWeights:
    """Weights of the heat index's terms (any scale; the index divides by their sum)."""

    messages: float = 0.5  # how many messages
    people: float = 2.0  # how many different people wrote (re-posts by one person count once)
    likes: float = 1.5  # supports
    dislikes: float = 0.5  # opposes: attention too
    intensity: float = 1.5  # messages per week over the issue's time span (a short, dense issue is hotter)
    recency: float = 0.5  # how recent the last message is, relative to the reference time
    growth: float = 0.5  # share of the messages in the last `recent_days`
    negativity: float = 0.5  # mean negativity of the messages (0 where no sentiment is known)
    spread: float = 0.5  # how many areas it is raised from

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in HEAT_TERMS}


HEAT_TERMS = (
    "messages",
    "people",
    "likes",
    "dislikes",
    "intensity",
    "recency",
    "growth",
    "negativity",
    "spread",
)


@dataclass
class Features:
    """Messages as rows of a sparse matrix (L2-normalised), with what each message names."""

    matrix: Any  # scipy.sparse.csr_matrix
    words: list[list[str]]
    places: list[list[str]]
    admin: list[list[str]]
    vocabulary: list[str]
    title_places: list[list[str]] = field(default_factory=list)


def clean_text(message: Message) -> tuple[str, str]:
    """The normalised title and detail, without spaces between Chinese characters. Unusable text → ''."""
    out = []
    for text in (message.title, message.detail):
        try:
            out.append(normalise(text or "").replace("\u3000", " "))
        except TextError:
            out.append("")
    return out[0], out[1]


def useful_words(text: str) -> list[str]:
    """The words of `text` that can say what a problem is: no stop words, single characters or numbers."""
    return [
        w
        for w in tokens(text, normalised=True)
        if len(w) >= 2 and w not in STOP_WORDS and not _DIGITS.match(w)
    ]


def named_places(text: str) -> list[str]:
    """Places the text names (compounds, roads, villages, schools, ...), in order, without repeats."""
    seen: dict[str, None] = {}
    for _start, _end, name, _kind in place_mentions(text.replace(" ", "")):
        if not _NOT_PLACES.search(name):
            seen.setdefault(name, None)
    return list(seen)


def admin_areas(text: str) -> list[str]:
    """District-level names in the text ("A3区", "朝阳区"), in order, without repeats."""
    seen: dict[str, None] = {}
    for match in _ADMIN.finditer(text.replace(" ", "")):
        name = match.group(0)
        cut = _ADMIN_STOP.match(name[:-1])
        if cut:
            name = name[cut.end() :]
        if len(name) >= 2 and not (len(name) == 2 and name[0] in "本全我该此"):
            seen.setdefault(name, None)
    return list(seen)


def document_tokens(
    title: str, detail: str, settings: GroupingSettings
) -> tuple[list[str], list[str], list[str], list[str]]:
    """What TF-IDF reads of a message (title words repeated, detail words, places as `@name` features), its words,
    the places its title names and all the places it names."""
    title_words = useful_words(title)
    detail_words = useful_words(detail)
    in_title = named_places(title)
    named = in_title + [p for p in named_places(detail) if p not in in_title]
    # Place names enter as their own features, repeated by their weight (rounded).
    place_tokens = [f"@{p}" for p in named for _ in range(max(1, round(settings.place_weight)))]
    document = title_words * settings.title_repeat + detail_words + place_tokens
    return document, title_words + detail_words, in_title, named


@dataclass(frozen=True)
class Tokens:
    """What featurising reads of one message (`tokenise`): picklable, so that a Dask worker can make it."""

    document: list[str]
    words: list[str]
    places: list[str]
    admin: list[str]
    title_places: list[str]
    title_words: int = 0  # how many of `words` are the title's


def tokenise(message: Message, settings: GroupingSettings | None = None) -> Tokens:
    """One message's tokens: the slow part of featurising (jieba), independent of the other messages."""
    title, detail = clean_text(message)
    settings = settings or GroupingSettings()
    document, words, in_title, named = document_tokens(title, detail, settings)
    from_title = (len(document) - len(words) - len(named) * max(1, round(settings.place_weight))) // max(
        1, settings.title_repeat - 1
    )
    return Tokens(document, words, named, admin_areas(title + "。" + detail), in_title, from_title)


def featurise(messages: Sequence[Message], settings: GroupingSettings | None = None) -> Features:
    return features_of([tokenise(m, settings) for m in messages], settings)


def features_of(tokens: Sequence[Tokens], settings: GroupingSettings | None = None) -> Features:
    """The messages' TF-IDF matrix from their tokens (over all of them: the IDF is the collection's)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    settings = settings or GroupingSettings()
    n = len(tokens)
    min_df = settings.min_df if n >= 20 else 1
    max_df = settings.max_df if n >= 20 else 1.0
    vectorizer = TfidfVectorizer(
        analyzer=lambda document: document, min_df=min_df, max_df=max_df, sublinear_tf=True, norm=None
    )
    try:
        matrix = vectorizer.fit_transform([t.document for t in tokens])
        vocabulary = list(vectorizer.get_feature_names_out())
    except ValueError:  # no word left at all
        from scipy.sparse import csr_matrix

        matrix = csr_matrix((n, 1))
        vocabulary = [""]
    return Features(
        normalize(matrix),
        [t.words for t in tokens],
        [t.places for t in tokens],
        [t.admin for t in tokens],
        vocabulary,
        [t.title_places for t in tokens],
    )


def group(features: Features, settings: GroupingSettings | None = None) -> list[list[int]]:
    """Indexes of the messages of each issue, largest issue first. Every message is in exactly one issue."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    settings = settings or GroupingSettings()
    n = features.matrix.shape[0]
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    similarity = (features.matrix @ features.matrix.T).toarray()
    distance = np.clip(1.0 - similarity, 0.0, 1.0).astype(np.float64)
    # Messages without any word left are alone (distance 1 to everything).
    _keep_places_apart(distance, features.title_places, settings.other_place_distance)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=settings.max_distance, criterion="distance")
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    merged = _merge_same_place(list(groups.values()), features, settings)
    return sorted(merged, key=lambda members: (-len(members), members[0]))


def _merge_same_place(
    groups: list[list[int]], features: Features, settings: GroupingSettings
) -> list[list[int]]:
    """Joins groups whose messages mostly name the same place in their titles and whose words are still close
    (fumes and noise from the same shops): one place, one related problem, one issue."""
    import numpy as np

    by_place: dict[str, list[int]] = {}
    for number, members in enumerate(groups):
        if len(members) < 2:
            continue
        keys = _majority([[place_key(p) for p in features.title_places[i]] for i in members], 0.5)
        if keys:
            by_place.setdefault(keys[0], []).append(number)
    absorbed: set[int] = set()
    for numbers in by_place.values():
        numbers = sorted(numbers, key=lambda k: -len(groups[k]))
        centroids = {k: np.asarray(features.matrix[groups[k]].mean(axis=0)).ravel() for k in numbers}
        head = numbers[0]
        for other in numbers[1:]:
            a, b = centroids[head], centroids[other]
            cosine = float(a @ b / ((np.linalg.norm(a) * np.linalg.norm(b)) or 1.0))
            if cosine >= settings.same_place_similarity:
                groups[head] = groups[head] + groups[other]
                absorbed.add(other)
    return [members for number, members in enumerate(groups) if number not in absorbed]


_GENERIC_PLACE = re.compile(r"(?:小区|社区|花园|家园|公寓|大厦)$")


def place_key(name: str) -> str:
    """A place name without the district before it and a generic last word: "A市丽发新城小区" → "丽发新城"."""
    name = _ADMIN.sub("", name) or name
    return _GENERIC_PLACE.sub("", name) or name


def _keep_places_apart(distance: Any, title_places: list[list[str]], floor: float) -> None:
    """Raises to `floor` the distance of two messages whose titles both name places and share none. Two names
    are the same place when most character pairs of the shorter are in the longer ("丽发" and "丽发新城")."""
    import numpy as np
    from scipy.sparse import csr_matrix

    if not title_places or floor <= 0:
        return
    pairs: dict[str, int] = {}
    rows, cols = [], []
    owners: list[int] = []  # place row -> message
    for index, names in enumerate(title_places):
        for name in dict.fromkeys(place_key(n) for n in names):
            grams = {name[i : i + 2] for i in range(len(name) - 1)} or {name}
            row = len(owners)
            owners.append(index)
            for gram in grams:
                rows.append(row)
                cols.append(pairs.setdefault(gram, len(pairs)))
    if not owners:
        return
    grams_matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(owners), len(pairs)))
    overlap = (grams_matrix @ grams_matrix.T).toarray()
    sizes = np.asarray(grams_matrix.sum(axis=1)).ravel()
    same = overlap >= 0.5 * np.minimum.outer(sizes, sizes)
    owner = np.asarray(owners)
    n = distance.shape[0]
    # Messages sharing at least one place: a boolean n × n from the place × place matrix.
    to_message = csr_matrix((np.ones(len(owners)), (owner, np.arange(len(owners)))), shape=(n, len(owners)))
    shared = (to_message @ csr_matrix(same.astype(np.float64)) @ to_message.T).toarray() > 0
    has_place = np.zeros(n, dtype=bool)
    has_place[owner] = True
    apart = np.outer(has_place, has_place) & ~shared
    distance[apart] = np.maximum(distance[apart], floor)


# ---------------------------------------------------------------- describing and scoring an issue


@dataclass
class Issue:
    """A group of messages and what a reader needs to know about it."""

    members: list[int]
    messages: list[Message]
    top_words: list[str] = field(default_factory=list)
    place_or_group: str = ""
    description: str = ""
    representative: list[int] = field(default_factory=list)  # indexes into `messages`, most central first
    terms: dict[str, float] = field(default_factory=dict)  # raw values
    scaled: dict[str, float] = field(default_factory=dict)  # 0..1
    contributions: dict[str, float] = field(default_factory=dict)  # points of heat
    heat: float = 0.0

    @property
    def start(self) -> dt.datetime | None:
        times = [m.time for m in self.messages if m.time is not None]
        return min(times) if times else None

    @property
    def end(self) -> dt.datetime | None:
        times = [m.time for m in self.messages if m.time is not None]
        return max(times) if times else None

    @property
    def people(self) -> int:
        return len({m.user or m.id for m in self.messages})

    def time_range(self) -> str:
        start, end = self.start, self.end
        if start is None or end is None:
            return ""
        return f"{start:%Y/%m/%d} 至 {end:%Y/%m/%d}"


def describe(issue: Issue, features: Features) -> None:
    """Fills the issue's top words, place or group, representative messages and a short description."""
    import numpy as np

    rows = features.matrix[issue.members]
    centroid = np.asarray(rows.mean(axis=0)).ravel()
    order = np.argsort(-centroid)
    issue.top_words = [
        features.vocabulary[i].lstrip("@") for i in order[:12] if centroid[i] > 0 and features.vocabulary[i]
    ][:8]
    closeness = np.asarray(rows @ centroid).ravel()
    issue.representative = [int(i) for i in np.argsort(-closeness)[:3]]
    issue.place_or_group = _place_or_group(issue, features)
    issue.description = _description(issue, features)


def _majority(items: list[list[str]], share: float) -> list[str]:
    counts: Counter[str] = Counter(item for row in items for item in dict.fromkeys(row))
    if not counts:
        return []
    needed = max(1.0, share * len(items))
    return [name for name, count in counts.most_common() if count >= needed]


def _place_or_group(issue: Issue, features: Features) -> str:
    # Places named in titles first (a title names the problem's place), then anywhere in the messages.
    places = _majority([features.title_places[i] for i in issue.members], 0.3) or _majority(
        [features.places[i] for i in issue.members], 0.3
    )
    admin = _majority([features.admin[i] for i in issue.members], 0.3)
    # One city-level and one district-level name at most, the city first: "A市A6区月亮岛路".
    city = next((a for a in admin if a.endswith("市")), "")
    district = next((a for a in admin if not a.endswith("市")), "")
    place = places[0] if places else ""
    prefix = "".join(a for a in (city, district) if a and a not in place)
    if place:
        return prefix + place
    return prefix + _group_of_people(issue, features) or "—"


_PEOPLE = re.compile(
    r"[\u4e00-\u9fff]{0,2}?(?:业主|居民|村民|学生|家长|教师|老师|职工|员工|工人|司机|商户|患者|老人|退休人员|投资人|受害人|农民工|考生|租户|买房人|购房者)"
)


def _group_of_people(issue: Issue, features: Features) -> str:
    counts: Counter[str] = Counter()
    for message in issue.messages:
        title, detail = clean_text(message)
        for found in dict.fromkeys(_PEOPLE.findall(title + detail)):
            cut = _ADMIN_STOP.match(found[:2]) if len(found) > 2 else None
            counts[found[cut.end() :] if cut else found] += 1
    if counts:
        name, count = counts.most_common(1)[0]
        if count >= max(2, 0.3 * len(issue.messages)):
            return name
    return ""


def _description(issue: Issue, features: Features) -> str:
    """The most central message's title, trimmed of addresses to the board, with the issue's top words."""
    central = issue.messages[issue.representative[0]] if issue.representative else issue.messages[0]
    title, _detail = clean_text(central)
    title = re.sub(r"^(?:关于|反映|投诉|举报|咨询|建议|请求|恳请|请问)[:：]?", "", title).strip(
        "，。！？!?.,： "
    )
    words = [w for w in issue.top_words if w not in title and w not in issue.place_or_group][:3]
    return title + (f"（{'、'.join(words)}）" if words else "")


def make_issues(messages: Sequence[Message], groups: list[list[int]], features: Features) -> list[Issue]:
    issues = []
    for members in groups:
        issue = Issue(members=members, messages=[messages[i] for i in members])
        describe(issue, features)
        issues.append(issue)
    return issues


def heat(
    issues: list[Issue],
    weights: HeatWeights | None = None,
    *,
    reference: dt.datetime | None = None,
    recent_days: int = 30,
    recency_half_life_days: float = 90.0,
) -> list[Issue]:
    """Scores the issues and returns them hottest first. `reference` is "now" (default: the latest message)."""
    if not issues:
        return []
    times = [m.time for issue in issues for m in issue.messages if m.time is not None]
    if reference is None:
        reference = max(times) if times else dt.datetime.now(dt.UTC)
    for issue in issues:
        issue.terms = raw_terms(
            Tally.of(issue.messages, reference, recent_days), reference, recency_half_life_days
        )
    for issue, (scaled, contributions, value) in zip(
        issues, score([i.terms for i in issues], weights), strict=True
    ):
        issue.scaled, issue.contributions, issue.heat = scaled, contributions, value
    return sorted(issues, key=lambda issue: (-issue.heat, -len(issue.messages)))


def score(
    terms: list[dict[str, float]], weights: HeatWeights | None = None
) -> list[tuple[dict[str, float], dict[str, float], float]]:
    """(scaled terms, contributions, heat) of each issue's raw terms. Counts are scaled by the largest among these
    issues; recency, growth and negativity are already between 0 and 1 and stay absolute."""
    w = (weights or HeatWeights()).as_dict()
    total = sum(w.values()) or 1.0
    maxima = {name: max((t[name] for t in terms), default=0.0) for name in HEAT_TERMS}
    out = []
    for raw in terms:
        scaled = {name: (raw[name] / maxima[name] if maxima[name] > 0 else 0.0) for name in HEAT_TERMS}
        for name in ("recency", "growth", "negativity"):
            scaled[name] = raw[name]
        contributions = {name: 100.0 * w[name] * scaled[name] / total for name in HEAT_TERMS}
        out.append((scaled, contributions, round(sum(contributions.values()), 2)))
    return out


@dataclass(frozen=True)
class Tally:
    """What the heat index reads of an issue's messages."""

    messages: int
    people: int
    likes: int
    dislikes: int
    first: dt.datetime | None
    last: dt.datetime | None
    recent: int  # messages in the last `recent_days` before the reference time
    negativity: float | None
    areas: int

    @classmethod
    def of(cls, messages: Sequence[Message], reference: dt.datetime, recent_days: int) -> Tally:
        times = [m.time for m in messages if m.time is not None]
        negativities = [m.negativity for m in messages if m.negativity is not None]
        return cls(
            messages=len(messages),
            people=len({m.user or m.id for m in messages}),
            likes=sum(max(0, m.likes) for m in messages),
            dislikes=sum(max(0, m.dislikes) for m in messages),
            first=min(times) if times else None,
            last=max(times) if times else None,
            recent=sum(1 for t in times if (reference - t).days < recent_days),
            negativity=sum(negativities) / len(negativities) if negativities else None,
            areas=len({m.area for m in messages if m.area}),
        )


def raw_terms(tally: Tally, reference: dt.datetime, half_life_days: float = 90.0) -> dict[str, float]:
    n = tally.messages
    span_days = (tally.last - tally.first).total_seconds() / 86400 if tally.first and tally.last else 0.0
    age_days = max(0.0, (reference - tally.last).total_seconds() / 86400) if tally.last else 0.0
    return {
        # Logarithms: the fiftieth message or like adds less than the second.
        "messages": math.log1p(n),
        "people": math.log1p(tally.people),
        "likes": math.log1p(tally.likes),
        "dislikes": math.log1p(tally.dislikes),
        # Messages per week of the issue's span, counting a single day as a week.
        "intensity": math.log1p(n / max(1.0, (span_days + 1) / 7)) if n > 1 else 0.0,
        "recency": 0.5 ** (age_days / half_life_days) if tally.last else 0.0,
        "growth": tally.recent / n if n and tally.last else 0.0,
        "negativity": tally.negativity or 0.0,
        "spread": math.log1p(max(0, tally.areas - 1)),
    }


def is_candidate(issue: Issue, min_people: int = 2) -> bool:
    """Whether an issue can be a hot issue: several messages from at least `min_people` different people."""
    return len(issue.messages) >= 2 and issue.people >= min_people


def detect(
    messages: Sequence[Message],
    *,
    grouping: GroupingSettings | None = None,
    weights: HeatWeights | None = None,
    reference: dt.datetime | None = None,
) -> list[Issue]:
    """Messages → hot issues, hottest first: the groups that `is_candidate`; heat is scaled over these."""
    grouping = grouping or GroupingSettings()
    features = featurise(messages, grouping)
    groups = group(features, grouping)
    candidates = [
        members
        for members in groups
        if len(members) >= 2
        and len({messages[i].user or messages[i].id for i in members}) >= grouping.min_people
    ]
    issues = make_issues(messages, candidates, features)
    return heat(issues, weights, reference=reference)
