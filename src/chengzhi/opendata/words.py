"""The words of a search (`q` of `package_search` and of `datastore_search`) and of what it searches: Chinese cut
into words by jieba (routing's text pipeline: the city's own names stay one word), Latin text into lower-cased
words and numbers.

A dataset's searched text is stored already cut (`index_text`: the words in order, then the shorter words jieba
knows inside its longer ones, so that 线路 finds 公交线路), which is what the full-text indexes read: PostgreSQL's
`tsvector` (the `simple` configuration only splits at the spaces and lower-cases) and SQLite's FTS5 table (its
`unicode61` tokenizer, likewise). A query's words (`query_words`) must all occur, each as a word or the start of
one (a prefix query: 公交 finds 公交线路 too).
"""

from __future__ import annotations

import re

from chengzhi.routing.service import TextError, sub_words, tokens

_HAN = re.compile(r"[\u3400-\u9fff]")
# What may go into a full-text query as a word: letters (any script), digits. Everything else is a separator.
_SAFE = re.compile(r"[^\w]|_")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _split(word: str) -> list[str]:
    return [w for w in _SAFE.split(word) if w]


def query_words(text: str, *, indexed: bool = False) -> list[str]:
    """The words every result must contain, lower-cased, without repeats. Single characters cut from a longer
    Chinese word (的, 和) are dropped when it has longer ones. Latin words stay whole (a substring search), or
    `indexed`: cut at anything but letters and digits, as `index_text` cuts them."""
    out: list[str] = []
    for word in text.split():
        if not _HAN.search(word):
            out.extend(_split(word.lower()) if indexed else [word.lower()])
            continue
        pieces = [w for p in tokens(word) for w in _split(p)]
        longer = [p for p in pieces if len(p) > 1]
        out.extend(longer or pieces)
    return list(dict.fromkeys(out))


def _words(text: str) -> list[str]:
    text = _CONTROL.sub(" ", text)
    try:
        return [w for p in tokens(text) for w in _split(p)]
    except TextError:  # what routing refuses as binary or mis-decoded text is still a publisher's text here
        return _split(text.lower())


def index_text(*parts: str) -> str:
    """The words of these texts for the search index, space-separated: in order, then the known shorter words
    inside the longer Chinese ones (routing's pipeline reads at most its MAX_CHARS of each text)."""
    words = [w for part in parts if part for w in _words(part)]
    inner = [s for w in dict.fromkeys(words) for s in sub_words(w)]
    return " ".join([*words, *inner])
