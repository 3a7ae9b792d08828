"""Urgency: emergencies (gas leak, fire, collapse, people injured or trapped, ...) recognised in a request's text.

The words and patterns are data (`routing/data/urgency.toml`, or the city's own file named by
`CHENGZHI_URGENCY_TERMS_PATH`), not code. A term preceded closely by a negation ("没有起火", "no one was injured")
or inside a longer phrase that is not an emergency ("火灾隐患") does not count. At intake an urgent request gets
the priority "emergency", and with it the emergency time limits (`Settings.emergency_limits`) when dispatched.
"""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from chengzhi.i18n import N_, Listed, Named, Phrase, quoted
from chengzhi.routing.text import MAX_CHARS, TextError, normalise

PACKAGED = "urgency.toml"


class TermsFileError(ValueError):
    """The urgency terms file cannot be used (missing, not TOML, or not of the expected form)."""


@dataclass(frozen=True)
class Kind:
    code: str
    name_zh: str
    name_en: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    exceptions: tuple[str, ...]


@dataclass(frozen=True)
class Terms:
    kinds: tuple[Kind, ...]
    negation_zh: tuple[str, ...]
    negation_en: tuple[str, ...]
    zh_gap: int
    en_gap: int
    source: str
    _en_regex: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def en_regex(self, term: str) -> re.Pattern[str]:
        regex = self._en_regex.get(term)
        if regex is None:
            words = r"\s+".join(re.escape(w) for w in term.split())
            regex = re.compile(rf"(?<![a-z0-9']){words}(?![a-z0-9'])")
            self._en_regex[term] = regex
        return regex


@dataclass(frozen=True)
class Match:
    kind: str
    term: str  # the list entry or pattern that matched
    text: str  # what the request says
    start: int

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "term": self.term, "text": self.text}


@dataclass(frozen=True)
class Urgency:
    urgent: bool
    matches: tuple[Match, ...] = ()
    # Terms found but not counted (negated or inside an exception), for the reason shown to dispatchers.
    ignored: tuple[Match, ...] = ()
    note: str | None = None  # why the text could not be analysed, or "truncated"

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(m.kind for m in self.matches))

    def why(self, terms: Terms) -> Phrase | None:
        """Why the text is an emergency (the kinds' names come from the terms file, in both languages)."""
        if not self.urgent:
            return None
        names = {k.code: Named(k.name_zh, k.name_en) for k in terms.kinds}
        return Phrase(
            N_("Emergency (%(kinds)s): the text says %(said)s."),
            kinds=Listed(names.get(k, k) for k in self.kinds()),
            said=Listed(quoted(text) for text in dict.fromkeys(m.text for m in self.matches)),
        )

    def reason(self, terms: Terms, lang: str) -> str:
        why = self.why(terms)
        return why.render(lang) if why is not None else ""


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TermsFileError(f"{where}: a list of non-empty strings is expected")
    return tuple(v.strip() for v in value)


def parse_terms(data: dict[str, Any], source: str) -> Terms:
    """Checks and compiles a terms file's content; raises `TermsFileError` naming the problem."""
    kinds_data = data.get("kind")
    if not isinstance(kinds_data, list) or not kinds_data:
        raise TermsFileError(f"{source}: at least one [[kind]] table is expected")
    kinds: list[Kind] = []
    for number, entry in enumerate(kinds_data, start=1):
        if not isinstance(entry, dict):
            raise TermsFileError(f"{source}: kind {number} is not a table")
        code = entry.get("code")
        if not isinstance(code, str) or not code:
            raise TermsFileError(f"{source}: kind {number} has no code")
        where = f"{source}: kind {code}"
        patterns = []
        for pattern in _strings(entry.get("patterns"), f"{where}: patterns"):
            try:
                patterns.append(re.compile(normalise(pattern).lower()))
            except re.error as error:
                raise TermsFileError(f"{where}: pattern {pattern!r}: {error}") from None
        kinds.append(
            Kind(
                code=code,
                name_zh=str(entry.get("name_zh") or code),
                name_en=str(entry.get("name_en") or code),
                zh=tuple(normalise(t) for t in _strings(entry.get("zh"), f"{where}: zh")),
                en=tuple(normalise(t).lower() for t in _strings(entry.get("en"), f"{where}: en")),
                patterns=tuple(patterns),
                exceptions=tuple(
                    normalise(t).lower() for t in _strings(entry.get("except"), f"{where}: except")
                ),
            )
        )
    negation = data.get("negation") or {}
    if not isinstance(negation, dict):
        raise TermsFileError(f"{source}: [negation] must be a table")
    try:
        zh_gap = int(negation.get("zh_gap", 4))
        en_gap = int(negation.get("en_gap", 3))
    except (TypeError, ValueError):
        raise TermsFileError(f"{source}: zh_gap and en_gap must be whole numbers") from None
    return Terms(
        kinds=tuple(kinds),
        negation_zh=tuple(
            sorted(
                (normalise(t) for t in _strings(negation.get("zh"), f"{source}: negation.zh")),
                key=len,
                reverse=True,
            )
        ),
        negation_en=tuple(
            normalise(t).lower() for t in _strings(negation.get("en"), f"{source}: negation.en")
        ),
        zh_gap=max(0, min(zh_gap, 20)),
        en_gap=max(0, min(en_gap, 10)),
        source=source,
    )


def load_terms(path: str | Path | None = None) -> Terms:
    """The packaged terms, or the city's file at `path`."""
    if path:
        source = str(path)
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise TermsFileError(f"{source}: cannot be read ({error})") from None
    else:
        source = f"chengzhi.routing.data/{PACKAGED}"
        raw = resources.files("chengzhi.routing.data").joinpath(PACKAGED).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as error:
        raise TermsFileError(f"{source}: not valid TOML ({error})") from None
    return parse_terms(data, source)


_lock = threading.Lock()
_cache: dict[str, Terms] = {}


def invalidate() -> None:
    """Forgets the loaded terms files (read again on next use)."""
    with _lock:
        _cache.clear()


def terms_for(path: str | Path | None) -> Terms:
    """Loaded once per process and path."""
    key = str(path or "")
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    terms = load_terms(path)
    with _lock:
        _cache[key] = terms
    return terms


_CLAUSE_END = re.compile(r"[，。,.!！？?；;：:\n]")


def _negated_zh(text: str, start: int, terms: Terms) -> bool:
    """A Chinese negation within `zh_gap` characters before the term, in the same clause."""
    window_start = max(0, start - terms.zh_gap - max((len(n) for n in terms.negation_zh), default=0))
    window = text[window_start:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(window)), default=0)
    window = window[cut:]
    for negation in terms.negation_zh:
        position = window.rfind(negation)
        if position >= 0 and len(window) - (position + len(negation)) <= terms.zh_gap:
            return True
    return False


_EN_WORD = re.compile(r"[a-z0-9']+")


def _negated_en(text: str, start: int, terms: Terms) -> bool:
    before = text[max(0, start - 80) : start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    words = _EN_WORD.findall(before[cut:])
    tail = " " + " ".join(words[-(terms.en_gap + 2) :]) + " "
    for negation in terms.negation_en:
        for found in re.finditer(rf"(?<= ){re.escape(negation)}(?= )", tail):
            after = tail[found.end() :].split()
            if len(after) <= terms.en_gap:
                return True
    return False


def _inside_exception(text: str, start: int, end: int, kind: Kind) -> bool:
    for phrase in kind.exceptions:
        position = text.find(phrase, max(0, start - len(phrase)), end + len(phrase))
        while position >= 0 and position <= start:
            if position + len(phrase) >= end:
                return True
            position = text.find(phrase, position + 1, end + len(phrase))
    return False


def analyse_normalised(text: str, terms: Terms) -> Urgency:
    """Urgency of text already normalised (see `text.normalise`); lower-cased here for the English terms."""
    lowered = text.lower()
    found: list[Match] = []
    ignored: list[Match] = []
    for kind in terms.kinds:
        spans: list[tuple[int, int, str]] = []
        for term in kind.zh:
            position = lowered.find(term)
            while position >= 0:
                spans.append((position, position + len(term), term))
                position = lowered.find(term, position + 1)
        for term in kind.en:
            spans.extend((m.start(), m.end(), term) for m in terms.en_regex(term).finditer(lowered))
        for pattern in kind.patterns:
            spans.extend((m.start(), m.end(), pattern.pattern) for m in pattern.finditer(lowered))
        covered = -1
        # Longest first at each position; a span overlapping one already taken is the same mention.
        for start, end, term in sorted(spans, key=lambda span: (span[0], -span[1])):
            if start < covered:
                continue
            covered = max(covered, end)
            match = Match(kind.code, term, text[start:end], start)
            latin = term.isascii()
            negated = _negated_en(lowered, start, terms) if latin else _negated_zh(lowered, start, terms)
            if negated or _inside_exception(lowered, start, end, kind):
                ignored.append(match)
            else:
                found.append(match)
    found.sort(key=lambda m: m.start)
    return Urgency(urgent=bool(found), matches=tuple(found), ignored=tuple(ignored))


def analyse(text: str | None, terms: Terms) -> Urgency:
    """Urgency of raw text. Never raises for text: empty, binary or garbled text is not urgent and says why;
    text beyond `text.MAX_CHARS` characters is cut (and says so)."""
    if not text or not text.strip():
        return Urgency(False, note="text_empty")
    try:
        normalised = normalise(text)
    except TextError as error:
        return Urgency(False, note=error.code)
    result = analyse_normalised(normalised, terms)
    if len(text) > MAX_CHARS:
        return Urgency(result.urgent, result.matches, result.ignored, note="truncated")
    return result
