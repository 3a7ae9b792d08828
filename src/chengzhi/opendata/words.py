"""The words of a search (`q` of `package_search` and of `datastore_search`): Chinese cut into words by jieba
(routing's text pipeline: the city's own names stay one word), other words kept whole and lower-cased. Each word
must then occur in the searched text, so "公交线路数据" finds a dataset about 公交 whose text says 线路 and 数据
apart, which a plain substring search would not."""

from __future__ import annotations

import re

from chengzhi.routing.service import tokens

_HAN = re.compile(r"[\u3400-\u9fff]")


def query_words(text: str) -> list[str]:
    """The words every result must contain, lower-cased, without repeats. Single characters cut from a longer
    Chinese word (的, 和) are dropped when it has longer ones."""
    out: list[str] = []
    for word in text.split():
        if not _HAN.search(word):
            out.append(word.lower())
            continue
        pieces = tokens(word)
        longer = [p for p in pieces if len(p) > 1]
        out.extend(longer or pieces)
    return list(dict.fromkeys(out))
