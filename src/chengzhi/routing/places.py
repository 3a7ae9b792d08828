"""Place from text: requests without a map point are located from the places they name.

The gazetteer holds
- the city's territorial units (districts, streets, communities) by their names and short forms
  ("青松街道", "青松"), each standing for its area's representative point;
- place names learned from the city's history (`place_names`, `chengzhi triage rebuild-places`): compounds,
  roads, villages, schools, hospitals, parks ... named in requests that carry a map point, each with the mean
  point of its mentions and the unit most of them fall in.

Mentions that match a place pattern (…小区, …路, …街, …村, …学校, …医院, …公园) but no known place are reported
too, so the dispatcher sees what the text names even when the platform cannot place it.

`locate(session, text)` returns the matches, the chosen place, the units it lies in (`rules.Located`) and the
reason (a composed message, `chengzhi.i18n.Phrase`, shown in the reader's language); `suggestion_from_text` routes
a request by the core's rules from there.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.db import utcnow
from chengzhi.i18n import N_, NC_, PATH_SEPARATOR, Listed, Phrase, Sentences, Text, quoted
from chengzhi.org import queries as org_queries
from chengzhi.org.models import UnitKind
from chengzhi.requests import queries as request_queries
from chengzhi.routing.rules import AreaIndex, Located, RoutingSuggestion, area_index, suggest_unit
from chengzhi.routing.text import (
    MAX_CHARS,
    CityDictionary,
    TextError,
    city_dictionary,
    name_variants,
    normalise,
)
from chengzhi.routing.triage_models import PlaceName, RequestTriage

REFRESH_SECONDS = 60.0
# Places are named early in a request; the scan stops here (a few ms at most).
SCAN_CHARS = 3000

# Place patterns: the generic last word of a place name, and the kind of place it makes.
SUFFIXES: dict[str, str] = {
    "小区": "compound", "花园": "compound", "家园": "compound", "新村": "compound", "新城": "compound",
    "公寓": "compound", "大厦": "compound", "名城": "compound", "雅居": "compound", "苑": "compound",
    "社区": "community", "街道": "street", "镇": "street", "乡": "street",
    "大道": "road", "大街": "road", "路": "road", "街": "road", "巷": "road", "胡同": "road",
    "村": "village",
    "学校": "school", "小学": "school", "中学": "school", "幼儿园": "school", "大学": "school", "学院": "school",
    "医院": "hospital", "卫生院": "hospital", "卫生服务中心": "hospital",
    "公园": "park", "广场": "park",
    "农贸市场": "market", "菜市场": "market", "市场": "market", "商业街": "market",
    "地铁站": "station", "火车站": "station", "汽车站": "station", "公交站": "station",
}  # fmt: skip
_SUFFIX_LIST = sorted(SUFFIXES, key=len, reverse=True)
# A name: 2-10 characters before the suffix, without punctuation or digits.
# "路面", "路灯", "路况" are not roads.
_MENTION = re.compile(r"([\u4e00-\u9fff]{2,10}?)(" + "|".join(_SUFFIX_LIST) + ")(?![面灯况费由过径人])")
# Words that end a name on the left ("我住在青松花园": the name starts after 在).
_LEFT_STOP = re.compile(
    r".*(?:[的在是了我你他她们和与及到从于对把被给向往住近旁边附位处去来说]|反映|投诉|请问|附近|门口|[市区县省]|这个|那个|整个|所在|同一|一个|该|本|此|各)"
)
# Words that make a generic place, not a name ("老旧小区", "安置小区").
_GENERIC = re.compile(r"^(?:老旧|新建|安置|商品房|回迁|拆迁|高档|周边|周围|其他|其它|多个|几个|城中|农村)")

KIND_NAMES: dict[str, Text] = {
    "district": NC_("kind of place", "district"),
    "street": NC_("kind of place", "street office"),
    "community": NC_("kind of place", "community"),
    "compound": NC_("kind of place", "residential compound"),
    "road": NC_("kind of place", "road"),
    "village": NC_("kind of place", "village"),
    "school": NC_("kind of place", "school"),
    "hospital": NC_("kind of place", "hospital"),
    "park": NC_("kind of place", "park or square"),
    "market": NC_("kind of place", "market"),
    "station": NC_("kind of place", "station"),
    "place": NC_("kind of place", "place"),
}
SPECIFICITY = {UnitKind.district: 1, UnitKind.street: 2, UnitKind.community: 3}
LEARNED_MIN_MENTIONS = 3


@dataclass(frozen=True)
class Entry:
    """One name the gazetteer knows."""

    name: str
    kind: str
    source: str  # "unit" or "history"
    unit_id: int | None
    lat: float | None
    lon: float | None
    mentions: int = 0
    short: bool = False  # a unit's name without its generic suffix ("青松" for "青松街道")


@dataclass(frozen=True)
class PlaceMatch:
    text: str  # the words in the request
    entry: Entry | None  # None: a place pattern without a known place
    kind: str
    start: int

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "kind": self.kind}
        if self.entry is not None:
            data.update(name=self.entry.name, source=self.entry.source, unit_id=self.entry.unit_id)
        return data


@dataclass
class Gazetteer:
    built_at: float
    index: AreaIndex | None = None
    names: dict[str, list[Entry]] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)

    def add(self, entry: Entry, key: str | None = None) -> None:
        key = key or entry.name
        if len(key) < 2:
            return
        self.names.setdefault(key, []).append(entry)

    def finish(self) -> None:
        self.lengths = sorted({len(k) for k in self.names}, reverse=True)

    def scan(self, text: str) -> list[tuple[int, int, list[Entry]]]:
        """Known names in `text` (normalised, lower case), longest first, without overlaps."""
        found: list[tuple[int, int, list[Entry]]] = []
        i, n = 0, min(len(text), SCAN_CHARS)
        while i < n:
            for length in self.lengths:
                if i + length > len(text):
                    continue
                entries = self.names.get(text[i : i + length])
                if not entries:
                    continue
                end = i + length
                if all(e.short for e in entries) and _suffix_at(text, end):
                    # "青松花园" is not 青松街道 ("青松"): a longer place name of an unknown kind goes on.
                    continue
                found.append((i, end, entries))
                i = end
                break
            else:
                i += 1
        return found


def _suffix_at(text: str, position: int) -> bool:
    return any(text.startswith(suffix, position) for suffix in _SUFFIX_LIST)


_lock = threading.Lock()
_gazetteers: dict[str, Gazetteer] = {}


def invalidate() -> None:
    with _lock:
        _gazetteers.clear()


def gazetteer(session: Session) -> Gazetteer:
    """The gazetteer of this database, rebuilt every REFRESH_SECONDS or after `invalidate()`."""
    key = str(session.get_bind().engine.url)
    now = time.monotonic()
    index = area_index(session)
    with _lock:
        cached = _gazetteers.get(key)
        # The area index is rebuilt when units change (rules.invalidate): the gazetteer follows it.
        if cached is not None and cached.index is index and now - cached.built_at < REFRESH_SECONDS:
            return cached
    built = _build(session, index, now)
    with _lock:
        _gazetteers[key] = built
    return built


def _representative_points(index: AreaIndex) -> dict[int, tuple[float, float]]:
    points: dict[int, tuple[float, float]] = {}
    for _kind, (_tree, ids, geoms) in index.trees.items():
        for unit_id, geometry in zip(ids, geoms, strict=True):
            point = geometry.representative_point()
            points[unit_id] = (point.y, point.x)
    return points


def _build(session: Session, index: AreaIndex, now: float) -> Gazetteer:
    result = Gazetteer(built_at=now, index=index)
    points = _representative_points(index)
    territorial = (UnitKind.district, UnitKind.street, UnitKind.community)
    names_en = org_queries.active_unit_names_en(session, territorial)
    for unit_id, (kind, _parent, name_zh, _function) in index.units.items():
        if kind not in territorial:
            continue
        lat, lon = points.get(unit_id, (None, None))
        full = normalise(name_zh).replace(" ", "").lower()
        for variant in name_variants(name_zh):
            variant = variant.lower()
            result.add(Entry(full, kind.value, "unit", unit_id, lat, lon, short=variant != full), variant)
        english = normalise(names_en.get(unit_id) or "").lower()
        if len(english) >= 4:
            result.add(Entry(full, kind.value, "unit", unit_id, lat, lon), english)
    for place in session.scalars(select(PlaceName).where(PlaceName.mentions >= LEARNED_MIN_MENTIONS)):
        result.add(
            Entry(place.name, place.kind, "history", place.unit_id, place.lat, place.lon, place.mentions)
        )
    result.finish()
    return result


def mentions(text: str) -> list[tuple[int, int, str, str]]:
    """Place-pattern mentions in normalised text: (start, end, name, kind); the name starts after words such
    as 在, 住, 附近 that end a name on the left."""
    found = []
    for match in _MENTION.finditer(text[:SCAN_CHARS]):
        prefix = match.group(1)
        cut = _LEFT_STOP.match(prefix)
        if cut:
            prefix = prefix[cut.end() :]
        if len(prefix) < 2 or _GENERIC.match(prefix):
            continue
        name = prefix + match.group(2)
        found.append((match.end() - len(name), match.end(), name, SUFFIXES[match.group(2)]))
    return found


@dataclass(frozen=True)
class Placed:
    """Where the text says a request is."""

    matches: tuple[PlaceMatch, ...] = ()
    chosen: PlaceMatch | None = None
    lat: float | None = None
    lon: float | None = None
    unit_id: int | None = None  # the most specific unit the place lies in
    located: Located = field(default_factory=Located)
    why: Phrase | Sentences | None = None
    note: str | None = None

    @property
    def found(self) -> bool:
        return self.unit_id is not None or self.lat is not None

    def reason(self, lang: str) -> str:
        return self.why.render(lang) if self.why is not None else ""


def _chain(index: AreaIndex, unit_id: int | None) -> Located:
    district = street = community = None
    current = unit_id
    while current is not None and current in index.units:
        kind, parent, _name, _function = index.units[current]
        if kind == UnitKind.community:
            community = current
        elif kind == UnitKind.street:
            street = current
        elif kind == UnitKind.district:
            district = current
        current = parent
    return Located(district_id=district, street_id=street, community_id=community)


def _specificity(index: AreaIndex, entry: Entry) -> float:
    if entry.unit_id is None or entry.unit_id not in index.units:
        return 0.5 if entry.lat is not None else 0.0
    level = SPECIFICITY.get(index.units[entry.unit_id][0], 0)
    # A learned place (a compound, a school) is more precise than the community it lies in.
    return level + (0.5 if entry.source == "history" else 0.0) - (0.25 if entry.short else 0.0)


def _unit_name(index: AreaIndex, unit_id: int | None) -> str:
    return index.units[unit_id][2] if unit_id is not None and unit_id in index.units else "?"


def locate_normalised(session: Session, text: str) -> Placed:
    index = area_index(session)
    lowered = text.lower()
    matches: list[PlaceMatch] = []
    covered: list[tuple[int, int]] = []
    for start, end, entries in gazetteer(session).scan(lowered):
        best = max(entries, key=lambda e: (_specificity(index, e), e.mentions))
        matches.append(PlaceMatch(text[start:end], best, best.kind, start))
        covered.append((start, end))
    for start, end, name, kind in mentions(text):
        if not any(s <= start < e or s < end <= e for s, e in covered):
            matches.append(PlaceMatch(name, None, kind, start))
    matches.sort(key=lambda m: m.start)
    known = [m for m in matches if m.entry is not None and (m.entry.unit_id or m.entry.lat is not None)]
    if not known:
        return _unplaced(tuple(matches))
    unit_ids = {m.entry.unit_id for m in known if m.entry is not None and m.entry.unit_id}

    def rank(match: PlaceMatch) -> tuple[int, float, int, int]:
        assert match.entry is not None
        chain = _chain(index, match.entry.unit_id)
        ancestors = {chain.district_id, chain.street_id, chain.community_id} - {None, match.entry.unit_id}
        agreeing = len(ancestors & unit_ids)
        return (agreeing, _specificity(index, match.entry), match.entry.mentions, -match.start)

    chosen = max(known, key=rank)
    entry = chosen.entry
    assert entry is not None
    located = _chain(index, entry.unit_id)
    if entry.unit_id is None and entry.lat is not None and entry.lon is not None:
        located = index.locate(entry.lat, entry.lon)
    return Placed(
        matches=tuple(matches),
        chosen=chosen,
        lat=entry.lat,
        lon=entry.lon,
        unit_id=located.community_id or located.street_id or located.district_id,
        located=located,
        why=_reason(index, tuple(matches), chosen, located),
    )


def _unplaced(matches: tuple[PlaceMatch, ...]) -> Placed:
    if not matches:
        return Placed(why=Phrase(N_("The text names no place the platform knows.")))
    return Placed(
        matches=matches,
        why=Phrase(
            N_("The text names %(said)s, but the city's gazetteer does not know these places."),
            said=Listed(quoted(m.text) for m in matches),
        ),
    )


def _where(index: AreaIndex, located: Located) -> Listed:
    """The units a place lies in, from the district down."""
    where_ids = [u for u in (located.district_id, located.street_id, located.community_id) if u]
    return Listed((_unit_name(index, u) for u in where_ids), PATH_SEPARATOR)


def _reason(
    index: AreaIndex, matches: tuple[PlaceMatch, ...], chosen: PlaceMatch, located: Located
) -> Phrase | Sentences:
    entry = chosen.entry
    assert entry is not None
    kind = KIND_NAMES.get(entry.kind, KIND_NAMES["place"])
    where = _where(index, located)
    if entry.source == "history":
        source = Phrase(
            N_("the %(kind)s '%(name)s', named in %(mentions)s earlier requests with a map point"),
            kind=kind,
            name=entry.name,
            mentions=entry.mentions,
        )
    else:
        source = Phrase(N_("the %(kind)s '%(name)s'"), kind=kind, name=entry.name)
    located_from = Phrase(
        N_("No map point; located from the text: '%(said)s' → %(source)s, in %(where)s."),
        said=chosen.text,
        source=source,
        where=where if where.items else "?",
    )
    others = [m for m in matches if m is not chosen]
    if not others:
        return located_from
    also = Phrase(N_("The text also names %(said)s."), said=Listed(quoted(m.text) for m in others))
    return Sentences(located_from, also)


def locate(session: Session, text: str | None) -> Placed:
    """Where `text` says the request is. Never raises for text: empty, binary or garbled text is not placed
    and says why; text beyond `text.MAX_CHARS` characters is cut."""
    if not text or not text.strip():
        return Placed(note="text_empty")
    try:
        normalised = normalise(text, MAX_CHARS)
    except TextError as error:
        return Placed(
            note=error.code,
            why=Phrase(
                N_("The text cannot be analysed: %(error)s"), error=Phrase(error.msgid, max=MAX_CHARS)
            ),
        )
    return locate_normalised(session, normalised.replace(" ", "") if _mostly_han(normalised) else normalised)


def _mostly_han(text: str) -> bool:
    sample = text[:200]
    return sum(1 for ch in sample if "\u4e00" <= ch <= "\u9fff") * 2 > len(sample)


# ---------------------------------------------------------------- routing from the text


def suggestion_from_text(
    session: Session, category: Category | None, triage: RequestTriage | None
) -> RoutingSuggestion | None:
    """The core's routing rules applied to the place read from the text at intake; None if there is none."""
    if triage is None or triage.place_unit_id is None:
        return None
    index = area_index(session)
    located = _chain(index, triage.place_unit_id)
    rules = suggest_unit(session, category, None, None, located=located)
    matched = [m for m in triage.place_matches or [] if m.get("name")]
    chosen = next((m for m in matched if m.get("unit_id") == triage.place_unit_id), None) or (
        matched[0] if matched else {}
    )
    words = chosen.get("text", "?")
    name = chosen.get("name", "?")
    located_from = Phrase(
        N_("No map point; located from the text: '%(said)s' → '%(name)s', in %(where)s."),
        said=str(words),
        name=str(name),
        where=_where(index, located),
    )
    return RoutingSuggestion(rules.unit_id, Sentences(located_from, rules.why), located)


# ---------------------------------------------------------------- learning place names from history


@dataclass
class _Tally:
    mentions: int = 0
    lat: float = 0.0
    lon: float = 0.0
    points: list[tuple[float, float]] = field(default_factory=list)
    units: Counter[tuple[int | None, int | None, int | None]] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)


def _candidates(text: str) -> Iterator[tuple[str, str, str]]:
    """Every name a place mention could be: (name, kind, the character left of it)."""
    for match in _MENTION.finditer(text):
        suffix = match.group(2)
        end = match.end()
        start_limit = match.start()
        for start in range(end - len(suffix) - 2, start_limit - 1, -1):
            name = text[start:end]
            yield name, SUFFIXES[suffix], text[start - 1] if start > 0 else ""


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def learn_places(
    rows: Iterable[tuple[str, float, float]], index: AreaIndex, *, min_mentions: int = LEARNED_MIN_MENTIONS
) -> list[dict[str, Any]]:
    """Place names from (text, lat, lon) of requests with a map point.

    Every run of 2-10 characters before a place suffix is a candidate; a candidate whose left neighbour is
    nearly always the same character is part of a longer name and gives way to it ("松花园" → "青松花园"). A name
    keeps the mean point of its mentions and the unit most of them fall in: the community if 60% agree, else the
    street, else the district."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    kinds: dict[str, str] = {}
    for raw, lat, lon in rows:
        try:
            text = normalise(raw or "").replace(" ", "")
        except TextError:
            continue
        seen: set[str] = set()
        located = index.locate(lat, lon)
        for name, kind, left in _candidates(text):
            if name in seen:
                continue
            seen.add(name)
            tally = tallies[name]
            tally.mentions += 1
            tally.lat += lat
            tally.lon += lon
            if len(tally.points) < 200:
                tally.points.append((lat, lon))
            tally.units[(located.community_id, located.street_id, located.district_id)] += 1
            tally.left[left] += 1
            kinds[name] = kind
    unit_names = {normalise(v[2]) for v in index.units.values()}
    learned = []
    for name, tally in tallies.items():
        if tally.mentions < min_mentions or name in unit_names:
            continue
        if _LEFT_STOP.match(name[:-1]) and _LEFT_STOP.match(name[:-1]).end() > 0:  # type: ignore[union-attr]
            continue
        top_left, top_count = tally.left.most_common(1)[0]
        if top_left and top_count >= 0.9 * tally.mentions:
            continue  # nearly always preceded by the same character: part of a longer name
        lat, lon = tally.lat / tally.mentions, tally.lon / tally.mentions
        spread = sum(_metres(lat, lon, a, b) for a, b in tally.points) / len(tally.points)
        learned.append(
            {
                "name": name[:60],
                "kind": kinds[name],
                "lat": lat,
                "lon": lon,
                "unit_id": _majority_unit(tally),
                "mentions": tally.mentions,
                "spread_m": round(spread, 1),
            }
        )
    return learned


def _majority_unit(tally: _Tally) -> int | None:
    for level in range(3):
        counts: Counter[int] = Counter()
        for units, count in tally.units.items():
            if units[level] is not None:
                counts[units[level]] += count  # type: ignore[index]
        if counts:
            unit_id, count = counts.most_common(1)[0]
            if count >= 0.6 * tally.mentions:
                return unit_id
    return None


def rebuild_places(
    session: Session, *, limit: int = 200_000, min_mentions: int = LEARNED_MIN_MENTIONS
) -> int:
    """Replaces the learned place names with those of the `limit` most recent requests that have a map point;
    returns how many names were learned. The caller commits."""
    index = area_index(session)
    rows = (
        (f"{title or ''}。{text or ''}。{address or ''}", float(lat), float(lon))
        for title, text, address, lat, lon in request_queries.located_texts(session, limit)
        if lat is not None and lon is not None
    )
    learned = learn_places(rows, index, min_mentions=min_mentions)
    session.execute(delete(PlaceName))
    now = utcnow()
    for start in range(0, len(learned), 1000):
        session.execute(
            insert(PlaceName), [dict(row, updated_at=now) for row in learned[start : start + 1000]]
        )
    invalidate()
    return len(learned)


# ---------------------------------------------------------------- the city's words for the tokenizer


def load_city_dictionary(
    session: Session, *, address_limit: int = 50_000, install: bool = True
) -> CityDictionary:
    """The city's dictionary (`routing.text.city_dictionary`) from its active units and the addresses of its
    `address_limit` most recent requests; with `install`, its words are added to jieba."""
    return city_dictionary(
        org_queries.active_unit_names(session),
        request_queries.recent_addresses(session, address_limit),
        install=install,
    )
