"""Retention: what routing keeps of a request's text, removed when the request is anonymised
(`chengzhi.requests.retention`, through `chengzhi.reactions`).

- the duplicates index (MinHash bands and signature: derived from the words) is deleted;
- the triage facts keep their places and terms, with the words quoted from the request masked as on public pages;
- the stored text vectors of the request's words (keyed by the SHA-256 of the embedded text, for every length a
  registered model embeds) are deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.embeddings import text_key
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_features import ClassifierConfig
from chengzhi.routing.classifier_models import ClassifierModel, TextVector
from chengzhi.routing.triage import words_of
from chengzhi.routing.triage_models import DuplicateBand, DuplicateSignature, RequestTriage
from chengzhi.security.masking import mask_text

CHUNK = 500


def _masked_matches(matches: list[dict[str, Any]] | None, names: list[str | None]) -> list[dict[str, Any]]:
    return [
        {**m, "text": mask_text(m["text"], public=True, names=names)} if isinstance(m.get("text"), str) else m
        for m in matches or []
    ]


def _vector_keys(session: Session, words: list[str]) -> set[str]:
    lengths = {0, ClassifierConfig().dense_chars}
    for config in session.scalars(select(ClassifierModel.config)):
        lengths.add(int((config or {}).get("dense_chars") or 0))
    keys = set()
    for text in words:
        try:
            normalised = textpipe.normalise(text)
        except textpipe.TextError:
            continue
        keys |= {text_key(normalised[:n] if n else normalised) for n in lengths}
    return keys


def forget_requests(session: Session, texts: Mapping[int, tuple[str, str, str | None]]) -> int:
    """`texts`: request id -> (title, text, contact name) as they were before anonymisation. Returns how many
    stored vectors went."""
    ids = list(texts)
    if not ids:
        return 0
    session.execute(delete(DuplicateBand).where(DuplicateBand.request_id.in_(ids)))
    session.execute(delete(DuplicateSignature).where(DuplicateSignature.request_id.in_(ids)))
    for row in session.scalars(select(RequestTriage).where(RequestTriage.request_id.in_(ids))):
        names = [texts[row.request_id][2]]
        row.place_matches = _masked_matches(row.place_matches, names)
        row.urgency_matches = _masked_matches(row.urgency_matches, names)
    keys = sorted(_vector_keys(session, [words_of(title, text) for title, text, _name in texts.values()]))
    gone = 0
    for start in range(0, len(keys), CHUNK):
        done = session.execute(
            delete(TextVector).where(TextVector.text_hash.in_(keys[start : start + CHUNK]))
        )
        gone += int(done.rowcount or 0)  # type: ignore[attr-defined]
    return gone
