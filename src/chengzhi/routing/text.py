"""The text pipeline shared by classification, place finding, duplicates and urgency.

- `normalise(text)`: full-width → half-width (NFKC), traditional → simplified (OpenCC), masked spans (`****`,
  `XX`, `××`) → one `某`, whitespace collapsed (and dropped between two CJK characters), invisible characters
  removed, at most `MAX_CHARS` characters kept. Binary or wrongly decoded text raises a `TextError`.
- `tokens(text)`: jieba words (with the city's own names as a user dictionary) for Chinese, lower-cased words
  and numbers for Latin text; punctuation and spaces dropped.
- `check(text)`, `decode(data)`: the strict entry points for input from outside (empty, huge, binary and wrongly
  encoded input refused with a message in Chinese and English).
- `city_dictionary(unit_names, addresses)`: unit, area and community names, and road names seen in addresses,
  added to jieba so that "朝阳街道" or "建国路" stay one token (`routing.places.load_city_dictionary(session)`
  reads them from the database: this module needs no database).

Everything runs offline: jieba's dictionary ships in its wheel, OpenCC's tables in its own.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from chengzhi.i18n import N_, Text, gettext

MAX_CHARS = 20_000
MASK = "某"


class TextError(ValueError):
    """Text that cannot be used. `code` is stable; `message(lang)` gives the text for people (`msgid`)."""

    code = "text_invalid"
    msgid: ClassVar[Text] = N_("The text cannot be processed.")

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(self.message("en") + (f" ({detail})" if detail else ""))

    def message(self, lang: str = "zh") -> str:
        return gettext(lang, self.msgid, max=MAX_CHARS)


class EmptyText(TextError):
    code = "text_empty"
    msgid: ClassVar[Text] = N_("The text is empty; describe the request.")


class TextTooLong(TextError):
    code = "text_too_long"
    msgid: ClassVar[Text] = N_("The text is longer than %(max)s characters; shorten it.")


class BinaryText(TextError):
    code = "text_binary"
    msgid: ClassVar[Text] = N_("The content looks like binary data, not text.")


class BadEncoding(TextError):
    code = "text_encoding"
    msgid: ClassVar[Text] = N_(
        "The text's encoding is not recognised (use UTF-8 or GB18030), or the text is garbled."
    )


# --- decoding and checks ---------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_C1 = re.compile(r"[\x80-\x9f]")
_LATIN1_HIGH = re.compile(r"[\xa1-\xd6\xd8-\xf6\xf8-\xff]{2,}")  # not × ÷ (masks, sums)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def decode(data: bytes) -> str:
    """Bytes from a file or a form → text: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030.

    Raises `BinaryText` for binary content and `BadEncoding` for bytes that are none of these."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _screen(data.decode("utf-16"))
        except UnicodeDecodeError as error:
            raise BadEncoding("utf-16") from error
    if b"\x00" in data[:8192]:
        raise BinaryText("NUL bytes")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return _screen(text)
    raise BadEncoding("neither UTF-8 nor GB18030")


def _screen(text: str) -> str:
    """Refuses text that is binary or was decoded with the wrong codec; returns it unchanged otherwise."""
    if not text:
        return text
    sample = text[: MAX_CHARS * 2]
    controls = len(_CONTROL.findall(sample))
    if "\x00" in sample or controls > max(2, len(sample) // 100):
        raise BinaryText(f"{controls} control characters")
    if _SURROGATE.search(sample):
        raise BadEncoding("undecodable bytes")
    if sample.count("\ufffd") > max(1, len(sample) // 50):
        raise BadEncoding("replacement characters")
    if _C1.search(sample):
        # C1 controls never occur in real text; they are UTF-8 bytes read as Latin-1.
        raise BadEncoding("C1 control characters")
    letters = sum(1 for ch in sample if not ch.isspace())
    high = sum(len(run) for run in _LATIN1_HIGH.findall(sample))
    if high >= 4 and high > 0.3 * letters:
        # "ÄãºÃ": GBK or UTF-8 bytes read as Latin-1.
        raise BadEncoding("Latin-1 mojibake")
    return text


def check(text: str | bytes | None, *, truncate: bool = False) -> str:
    """Strict check of text from outside, then `normalise`.

    Empty (after normalisation) → `EmptyText`; longer than `MAX_CHARS` → `TextTooLong`, or cut to `MAX_CHARS`
    with `truncate=True`; binary → `BinaryText`; wrongly encoded → `BadEncoding`."""
    if text is None:
        raise EmptyText()
    if isinstance(text, bytes):
        text = decode(text)
    if not truncate and len(text) > MAX_CHARS:
        raise TextTooLong(f"{len(text)} characters")
    result = normalise(text)
    if not result.strip() or result.strip() == MASK:
        raise EmptyText()
    return result


# --- normalisation ---------------------------------------------------------------------------------------------

_converter_lock = threading.Lock()
_converter: Any = None


def _t2s() -> Any:
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


_INVISIBLE = re.compile(r"[\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
# Masks: runs of * × ✕ ○ ● ■ □ (two or more), and XX/xx runs not part of a Latin word.
_MASK_RUN = re.compile(r"(?:[*×✕○●■□]\s*){2,}|(?<![A-Za-z])[Xx]{2,}(?![A-Za-z])")
_SPACE_RUN = re.compile(r"\s+")
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")
_MASKS = re.compile(MASK + "{2,}")


def normalise(text: str, max_chars: int = MAX_CHARS) -> str:
    """Text ready for matching: see the module's docstring. Never raises for ordinary text (empty → "")."""
    if not text:
        return ""
    if not isinstance(text, str):
        raise TypeError("normalise() takes str; use decode() for bytes")
    _screen(text)
    text = text[: max_chars * 2]  # NFKC and mask merging only shorten or barely lengthen text
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _t2s().convert(text)
    text = _MASK_RUN.sub(MASK, text)
    text = _MASKS.sub(MASK, text)
    text = _SPACE_RUN.sub(" ", text).strip()
    text = _CJK_SPACE.sub("", text)
    return text[:max_chars]


# --- tokens ----------------------------------------------------------------------------------------------------

_jieba_lock = threading.RLock()
_jieba: Any = None
_user_words: set[str] = set()

_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f]")
_LATIN_SPLIT = re.compile(r"[^0-9a-z\u00c0-\u024f]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _tokenizer() -> Any:
    """jieba's default tokenizer, imported and initialised once, quietly and offline."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                with warnings.catch_warnings():
                    # jieba 0.42 has invalid escapes (SyntaxWarning) and may import pkg_resources.
                    warnings.simplefilter("ignore")
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    logging.getLogger("jieba").setLevel(logging.WARNING)
                    jieba.initialize()
                _jieba = jieba
    return _jieba


def tokens(text: str, *, normalised: bool = False) -> list[str]:
    """Words of `text` after `normalise`: jieba for Chinese, lower-case words and numbers for Latin text.
    `normalised=True`: the text is already the output of `normalise` (saves doing it twice)."""
    if not normalised:
        text = normalise(text)
    if not text:
        return []
    jieba = _tokenizer()
    result: list[str] = []
    for piece in jieba.lcut(text, HMM=True):
        if _HAN.search(piece):
            result.append(piece)
        elif _WORD.search(piece):
            result.extend(w for w in _LATIN_SPLIT.split(piece.lower()) if w)
    return result


def sub_words(word: str) -> list[str]:
    """The two- and three-character words inside a longer Chinese word that jieba's dictionary knows (what its
    search mode adds): "公交线路" -> 公交, 线路, 公交线. For search indexes, so that a query's 线路 finds it."""
    if len(word) <= 2 or not _HAN.search(word):
        return []
    jieba = _tokenizer()
    found = []
    for size in (2, 3):
        if len(word) <= size:
            continue
        for start in range(len(word) - size + 1):
            piece = word[start : start + size]
            if jieba.dt.FREQ.get(piece):
                found.append(piece)
    return found


def add_words(words: Iterable[str], *, tag: str = "ns") -> int:
    """Adds words to the tokenizer's user dictionary (idempotent); returns how many were new."""
    jieba = _tokenizer()
    added = 0
    with _jieba_lock:
        for word in words:
            word = normalise(word).replace(" ", "")
            if len(word) < 2 or word in _user_words:
                continue
            jieba.add_word(word, freq=None, tag=tag)
            # Make sure the whole name wins over its parts.
            jieba.suggest_freq(word, tune=True)
            _user_words.add(word)
            added += 1
    return added


def user_words() -> list[str]:
    """The words `add_words` added, sorted (stored with a trained model, added again when it is loaded)."""
    with _jieba_lock:
        return sorted(_user_words)


def reset_words() -> None:
    """Removes every word `add_words` added (the dictionary of another city, in tests)."""
    if _jieba is None:
        return
    with _jieba_lock:
        for word in _user_words:
            _jieba.del_word(word)
        _user_words.clear()


# --- the city's dictionary -------------------------------------------------------------------------------------

# Generic suffixes of unit names: "朝阳街道" is also written "朝阳", "和平社区居委会" as "和平社区".
_UNIT_SUFFIXES = (
    "社区居民委员会",
    "居民委员会",
    "村民委员会",
    "居委会",
    "村委会",
    "街道办事处",
    "办事处",
    "街道",
    "人民政府",
)
_ROAD = re.compile(r"([\u3400-\u9fff]{1,12}?(?:大道|大街|路|街|巷|胡同|弄))(?=[0-9]|号|与|和|交|口|$)")
_ROAD_CHARS = re.compile(r"^[\u3400-\u9fff]{1,10}(?:大道|大街|路|街|巷|胡同|弄)$")


@dataclass
class CityDictionary:
    """Names the city's text uses: unit names (with their variants) and road names from addresses."""

    units: dict[str, list[int]] = field(default_factory=dict)  # name or variant -> unit ids
    roads: set[str] = field(default_factory=set)

    def words(self) -> set[str]:
        return set(self.units) | self.roads


def name_variants(name: str) -> set[str]:
    """The name and its short forms without a generic suffix: "朝阳街道" → {"朝阳街道", "朝阳"}."""
    name = normalise(name).replace(" ", "")
    variants = {name} if name else set()
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            variants.add(name[: -len(suffix)])
            break
    return variants


def road_names(address: str) -> set[str]:
    """Road and street names in an address: "海淀区中关村大街27号" → {"中关村大街"}."""
    found: set[str] = set()
    text = normalise(address).replace(" ", "")
    for match in _ROAD.finditer(text):
        name = match.group(1)
        # Drop administrative prefixes ("海淀区中关村大街" → "中关村大街").
        name = re.split(r"[省市区县镇乡与和及至、]", name)[-1]
        if _ROAD_CHARS.match(name) and len(name) >= 3:
            found.add(name)
    return found


def city_dictionary(
    unit_names: Iterable[tuple[int, str]], addresses: Iterable[str | None], *, install: bool = True
) -> CityDictionary:
    """Builds the city's dictionary from its units' (id, name) and request addresses; with `install`, adds its
    words to jieba (after removing an earlier city's words). `routing.places.load_city_dictionary` reads both
    from the database."""
    dictionary = CityDictionary()
    for unit_id, name in unit_names:
        for variant in name_variants(name):
            dictionary.units.setdefault(variant, []).append(unit_id)
    for address in addresses:
        if address:
            dictionary.roads |= road_names(address)
    if install:
        reset_words()
        add_words(dictionary.words())
    return dictionary
