"""A request's words as a resident (or the operator taking the call) writes them: the problem in one of many
phrasings, sometimes filed under a neighbouring category, sometimes vague, mixed with a second problem, asked as a
question, short or rambling, with slips of the keyboard and of the ear (data in `texts_voice`, `texts`).

Everything is drawn from the request's own random stream, so the same seed gives the same words.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from chengzhi.demo import texts
from chengzhi.demo import texts_voice as tv

NEIGHBOUR_SHARE = 0.09  # the words are about a neighbouring category's problem (how an operator filed it)
VAGUE_SHARE = 0.05  # the message says little about what is wrong
MIXED_SHARE = 0.14  # a second problem in the same message
QUESTION_SHARE = 0.07  # a complaint asked as a question
SHORT_SHARE = 0.12  # a few words only
LONG_SHARE = 0.15  # a long story around the problem (online)
SLIP_SHARE = 0.3  # one or two typing slips (online); a third of that by phone (operators type with care)
PUNCTUATION_SHARE = 0.3  # punctuation as typed on a phone (online)


@dataclass(frozen=True)
class Choice:
    """Which words a request's problem is told in: a category's template (its code and index), or a vague text."""

    code: str
    index: int
    vague: bool = False

    @property
    def raw(self) -> str:
        return tv.VAGUE[self.index] if self.vague else templates(self.code)[self.index]


def templates(code: str) -> tuple[str, ...]:
    return texts.PROBLEMS[code] + tv.EXTRA_PROBLEMS.get(code, ())


def choose(rng: random.Random, code: str, consultation: bool) -> Choice:
    """The problem's words: usually the category's own, sometimes a neighbouring category's, sometimes vague."""
    draw = rng.random()
    if not consultation and draw < VAGUE_SHARE:
        return Choice(code, rng.randrange(len(tv.VAGUE)), vague=True)
    if draw < VAGUE_SHARE + NEIGHBOUR_SHARE and code in tv.NEIGHBOURS:
        # Another category's words, without the answers to its own questions (this request has not got them).
        other = rng.choice(tv.NEIGHBOURS[code])
        usable = [i for i, t in enumerate(templates(other)) if "{attr_" not in t]
        if usable:
            return Choice(other, rng.choice(usable))
    return Choice(code, rng.randrange(len(templates(code))))


def first_clause(text: str) -> str:
    for mark in "，。！？,":
        text = text.split(mark, 1)[0]
    return text.strip()


def _second_problem(rng: random.Random, code: str, slots: Mapping[str, str]) -> str:
    """The first words of another problem (one whose words need no answers to its category's questions)."""
    usable = [
        t
        for other in texts.PROBLEMS
        if other != code and other not in texts.ANSWERS
        for t in templates(other)
        if "{attr_" not in t
    ]
    return first_clause(texts.fill(rng.choice(usable), slots))


def compose(
    rng: random.Random,
    problem: str,
    slots: Mapping[str, str],
    *,
    code: str,
    by_phone: bool,
    consultation: bool,
    group: str = "",
    personal: bool = False,
    plain: bool = False,
) -> str:
    """The whole message around `problem` (filled already). `plain`: a duplicate told again, without a second
    topic or a question, so that it still reads as the same problem."""
    if consultation:
        text = _consultation(rng, problem, slots, by_phone=by_phone)
    elif not by_phone and not plain and rng.random() < SHORT_SHARE:
        text = first_clause(problem) + rng.choice(
            ("", "", "。", "！", "，请处理", "，有人管吗", "，谁来管管")
        )
    else:
        text = _complaint(
            rng, problem, slots, code=code, by_phone=by_phone, group=group, personal=personal, plain=plain
        )
    return _noisy(rng, text, by_phone=by_phone)


def _consultation(rng: random.Random, problem: str, slots: Mapping[str, str], *, by_phone: bool) -> str:
    if by_phone:
        opener = rng.choice(texts.CONSULT_PHONE_OPENERS + tv.CONSULT_PHONE_OPENERS)
    else:
        opener = rng.choice(texts.CONSULT_ONLINE_OPENERS + tv.CONSULT_ONLINE_OPENERS)
    mark = rng.choice(("？", "？", "?", "", "。"))
    closer = rng.choice(texts.CONSULT_CLOSERS + tv.CONSULT_CLOSERS)
    return texts.fill(f"{opener}{problem}{mark}{closer}", slots).strip()


def _complaint(
    rng: random.Random,
    problem: str,
    slots: Mapping[str, str],
    *,
    code: str,
    by_phone: bool,
    group: str,
    personal: bool,
    plain: bool,
) -> str:
    if by_phone:
        opener = rng.choice(tv.PHONE_OPENERS + texts.PHONE_OPENERS)
    else:
        opener = rng.choice(tv.COLLOQUIAL_OPENERS + texts.ONLINE_OPENERS)
    body = problem
    if not plain and rng.random() < QUESTION_SHARE:
        body = rng.choice(tv.QUESTION_FORMS).format(problem=problem)
    elif not plain and rng.random() < MIXED_SHARE:
        second = _second_problem(rng, code, slots)
        if rng.random() < 0.3:
            body = rng.choice(tv.SECOND_FIRST).format(second=second) + problem
        else:
            body = f"{problem}。{rng.choice(tv.CONNECTORS)}{second}"
    sentences = [body]
    impacts: tuple[str, ...] = texts.IMPACTS + (texts.SAFETY_IMPACTS if group in texts.SAFETY_GROUPS else ())
    if personal:
        impacts = texts.PERSONAL_IMPACTS
    if "天" in problem:  # the problem says how long already
        impacts = tuple(i for i in impacts if "{days}" not in i)
    if rng.random() < 0.6 and (impact := rng.choice(impacts)):
        sentences.append(impact)
    if rng.random() < 0.25:
        sentences.append(("来电人称" if by_phone else "") + rng.choice(tv.HISTORY))
    if not by_phone and rng.random() < LONG_SHARE:
        sentences.extend(rng.sample(tv.DETAILS, rng.randint(2, 4)))
    if not by_phone and rng.random() < 0.2:
        sentences.append(rng.choice(tv.FEELINGS))
    if rng.random() < 0.35:
        sentences.append(rng.choice(tv.ASKS))
    joined = "，".join(sentences) if rng.random() < 0.6 else "。".join(sentences)
    closer = rng.choice(texts.PHONE_CLOSERS) if by_phone else rng.choice(texts.ONLINE_CLOSERS + tv.TAILS)
    return texts.fill(f"{opener}{joined}。{closer}", slots)


def _noisy(rng: random.Random, text: str, *, by_phone: bool) -> str:
    """Slips of the keyboard and of the ear, punctuation as typed on a phone."""
    if rng.random() < SLIP_SHARE / (3 if by_phone else 1):
        for _ in range(rng.choice((1, 1, 2))):
            found = [(a, b) for a, b in tv.SLIPS if a in text]
            if not found:
                break
            wrong, slip = rng.choice(found)
            at = rng.choice([i for i in range(len(text)) if text.startswith(wrong, i)])
            text = text[:at] + slip + text[at + len(wrong) :]
    if not by_phone and rng.random() < PUNCTUATION_SHARE:
        mark, typed = rng.choice(tv.PUNCTUATION)
        text = text.replace(mark, typed)
        if rng.random() < 0.3:
            text = text.rstrip("。.！!")
    return text.replace("。。", "。").replace("，。", "。").replace("。，", "，").strip()


def title(rng: random.Random, text: str, problem: str, name: str, place: str, consultation: bool) -> str:
    """A title as the resident or the operator gives it: the problem's first words, the start of the message, a
    category-like summary, or a generic word."""
    draw = rng.random()
    if draw < 0.35:
        return first_clause(problem)[:20] or text[:15]
    if draw < 0.5:
        return text[:15].strip()
    if draw < 0.75:
        return texts.compose_title(rng, name, place, consultation)
    if consultation:
        generic: tuple[str, ...] = ("咨询", "政策咨询", "问一下")
    elif place:
        generic = ("反映{place}问题", "投诉", "求助", "{place}居民诉求", "关于{place}的反映")
    else:
        generic = ("反映问题", "投诉", "求助", "市民诉求", "诉求")
    return rng.choice(generic).format(place=place)


def address(rng: random.Random, slots: Mapping[str, str], with_compound: bool) -> str:
    """The same address written in one of several ways."""
    compound = slots["compound"] if with_compound else ""
    forms: tuple[str, ...] = (
        "{district}{road}{doorplate}" + compound,
        "{road}{doorplate}",
        "{district}{street}{road}{doorplate}",
        "{district}{street}{community}" + (compound or "{road}"),
    )
    if with_compound:
        forms += (
            "{compound}{building}",
            "{compound}{block}",
            "{street}{compound}",
            "{road}{doorplate}（{compound}）",
        )
    return texts.fill(rng.choice(forms), slots)
