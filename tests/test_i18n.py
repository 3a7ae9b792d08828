"""Messages in the client's language: Chinese by default, English on request (query, cookie or Accept-Language).

The catalogues are checked as data: every message marked in the code (pages, API errors, domain labels) is
translated in every catalogue, every error code the source raises has a message, and no Chinese-and-English pair
is left in the code. Then the negotiation as a function, and the API's error bodies end to end on both databases.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from starlette.requests import Request

import chengzhi
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import (
    LANGUAGES,
    LOCALES,
    MESSAGES,
    N_,
    Language,
    Text,
    message,
    negotiate_language,
    po_path,
    translate,
)
from chengzhi.imports import messages as import_messages
from chengzhi.requests.workflow import ACTION_NAMES, STATUS_NAMES, TRANSITIONS, Action, IllegalTransition
from chengzhi.routing import text as textpipe
from chengzhi.web.messages import Key, extract

from .factories import City
from .test_api_errors import CJK, SUBMIT, assert_error, created_number, submit, token_headers

SOURCE = Path(chengzhi.__file__).parent


# ---------------------------------------------------------------- the catalogue


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_exists_in_both_languages(code: str) -> None:
    msgid = MESSAGES[code]
    assert isinstance(msgid, Text) and msgid.strip()
    zh, en = translate("zh", msgid), translate("en", msgid)
    assert zh.strip() and en.strip()
    assert CJK.search(zh), f"{code}: the Chinese message has no Chinese in it"
    assert not CJK.search(en), f"{code}: the English message has Chinese in it"
    # Both languages take the same parameters.
    names = {lang: set(re.findall(r"%\((\w+)\)s", text)) for lang, text in (("zh", zh), ("en", en))}
    assert names["zh"] == names["en"] == set(re.findall(r"%\((\w+)\)s", msgid)), names


def _error_classes() -> dict[str, str]:
    """Every ChengzhiError subclass by name, with its default code."""
    found: dict[str, str] = {}
    pending: list[type[ChengzhiError]] = [ChengzhiError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls.code
        pending.extend(cls.__subclasses__())
    return found


def _codes_raised_in_source() -> dict[str, list[str]]:
    """Message codes the source can put in an error: first arguments of ChengzhiError subclasses, `code=` of
    IllegalTransition, codes given to `error_response`, and the default code of each error class."""
    classes = _error_classes()
    codes: dict[str, list[str]] = {code: [f"class {name}"] for name, code in classes.items()}
    codes.setdefault(IllegalTransition(None, Action.sign).code, []).append("IllegalTransition")

    def note(code: object, where: str) -> None:
        if isinstance(code, str):
            codes.setdefault(code, []).append(where)

    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                where = f"{path.relative_to(SOURCE)}:{node.lineno}"
                first = node.args[0] if node.args else None
                if name in classes and isinstance(first, ast.Constant):
                    note(first.value, where)
                if name == "IllegalTransition":
                    for keyword in node.keywords:
                        if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                            note(keyword.value.value, where)
                if (
                    name == "error_response"
                    and len(node.args) >= 3
                    and isinstance(node.args[2], ast.Constant)
                ):
                    note(node.args[2].value, where)
            # The status -> code table of the HTTP error handler.
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Dict)
                and any(getattr(t, "id", None) == "codes" for t in node.targets)
            ):
                for value in node.value.values:
                    if isinstance(value, ast.Constant):
                        note(value.value, f"{path.relative_to(SOURCE)}:{node.lineno}")
    return codes


def test_every_code_the_source_raises_has_a_message() -> None:
    codes = _codes_raised_in_source()
    # The scan must see the source: a broken walker finding nothing would pass vacuously.
    assert {
        "request_not_found",
        "csrf_failed",
        "illegal_transition",
        "attribute_required",
        "rate_limited",
    } <= set(codes)
    assert len(codes) >= 30
    missing = {code: where for code, where in codes.items() if code not in MESSAGES}
    assert not missing, f"codes without a message in i18n.MESSAGES: {missing}"


def test_message_fills_parameters_and_never_shows_a_placeholder() -> None:
    assert (
        message("request_not_found", "en", {"ref": "123"}) == "Request 123 was not found; check the number."
    )
    assert "{" not in message("validation_failed", "zh") and "%" not in message("validation_failed", "zh")
    assert "%" not in message("illegal_transition", "en", {"status": "closed"})
    # Parameter values are data, not templates.
    assert "{ref}" in message("request_not_found", "zh", {"ref": "{ref}"})
    assert "%(ref)s" in message("request_not_found", "zh", {"ref": "%(ref)s"})
    # A marked parameter is translated too; a plain one is shown as given.
    assert message("forbidden_role", "zh", {"roles": N_("Sign in")}) == "此操作需要以下角色之一：登录。"
    assert message("forbidden_role", "zh", {"roles": "Sign in"}) == "此操作需要以下角色之一：Sign in。"
    # An unknown code still gives a message, in the language asked for.
    assert CJK.search(message("no-such-code", "zh"))
    assert not CJK.search(message("no-such-code", "en"))


# ---------------------------------------------------------------- the catalogues: one mechanism for everything


def _catalogue(lang: Language) -> dict[Key, Message]:
    with po_path(lang).open("rb") as po:
        catalog = read_po(po, locale=LOCALES[lang])
    return {(m.id, m.context): m for m in catalog if m.id and isinstance(m.id, str)}


def test_extraction_sees_pages_api_errors_and_domain_labels() -> None:
    used = extract()
    text_errors: list[type[textpipe.TextError]] = [textpipe.TextError, *textpipe.TextError.__subclasses__()]
    assert len(used) > 500, "extraction found almost nothing: is babel.cfg right?"
    marked: list[Text] = [
        *MESSAGES.values(),
        *STATUS_NAMES.values(),
        *ACTION_NAMES.values(),
        *(t.hint for t in TRANSITIONS.values()),
        *import_messages.MESSAGES.values(),
        *(cls.msgid for cls in text_errors),
    ]
    missed = sorted((m, m.context) for m in marked if (m, m.context) not in used)
    assert not missed, f"marked in code but not extracted (is it marked with N_/NC_ and a literal?): {missed}"
    # The pages' own messages (templates and Python) are there too.
    assert ("Sign in", None) in used and ("received", "request status") in used


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_catalogue_translates_every_message(lang: Language) -> None:
    used = extract()
    present = _catalogue(lang)
    hint = "run `make i18n` and translate the new entries"
    missing = sorted(set(used) - set(present), key=str)
    assert not missing, f"{lang}: not in the catalogue ({hint}): {missing}"
    empty = sorted((k for k in used if not present[k].string), key=str)
    assert not empty, f"{lang}: untranslated: {empty}"
    fuzzy = sorted((k for k in used if present[k].fuzzy), key=str)
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy}"
    unused = sorted(set(present) - set(used), key=str)
    assert not unused, f"{lang}: no longer used ({hint}): {unused}"


def test_chinese_catalogue_is_chinese_and_keeps_placeholders() -> None:
    placeholder = re.compile(r"%\((\w+)\)s")
    for (msgid, context), entry in _catalogue("zh").items():
        assert isinstance(entry.string, str)
        # Chinese, or only punctuation around parameters (a list separator ", " is "、", quotation marks '…' are
        # “…”, "the %(kind)s '%(name)s'" is "%(kind)s“%(name)s”"), never the English left as it was.
        punctuation = entry.string != msgid and not LATIN_WORD.search(placeholder.sub("", entry.string))
        assert CJK.search(entry.string) or punctuation or msgid == "English", (msgid, context)
        assert set(placeholder.findall(msgid)) == set(placeholder.findall(entry.string)), (msgid, context)
    for (msgid, context), entry in _catalogue("en").items():
        assert bool(CJK.search(str(entry.string))) == bool(CJK.search(msgid)), (msgid, context)


# Where a pair of Chinese and English strings may still appear in code, and why:
# - data, not interface text: category and unit names and groups are columns in both languages (name_zh...);
#   the demo generator (demo/) writes such data; urgency's negation words are per-language matching rules;
# - the catalogues' own language tables (i18n.LOCALES, web.i18n.DATE_LOCALES) hold no Chinese.
DATA_NAMES = {
    "name_zh",
    "name_en",
    "group_zh",
    "group_en",
    "category_name_zh",
    "category_name_en",
    "names_en",
}
DATA_NAMES |= {"negation_zh", "negation_en"}
DATA_PACKAGES = {"demo", "migrations"}
PAIRED_NAME = re.compile(r"_(zh|en)$")
LATIN_WORD = re.compile(r"[A-Za-z]{2}")


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _one_chinese_one_english(first: ast.AST, second: ast.AST) -> bool:
    a, b = " ".join(_strings(first)), " ".join(_strings(second))
    return bool(CJK.search(a)) != bool(CJK.search(b)) and bool(LATIN_WORD.search(a) or LATIN_WORD.search(b))


def _is_string_pair(node: ast.Tuple) -> bool:
    return len(node.elts) == 2 and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    )


def _picks_by_language(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function that compares something with "en" or "zh" and holds Chinese text (beyond its docstring)."""
    docstring = ast.get_docstring(function, clean=False)
    compares = any(
        isinstance(n, ast.Compare)
        and any(isinstance(c, ast.Constant) and c.value in ("en", "zh") for c in (n.left, *n.comparators))
        for n in ast.walk(function)
    )
    return compares and any(CJK.search(s) for s in _strings(function) if s != docstring)


def _translation_pairs(tree: ast.AST) -> list[tuple[int, str]]:
    """Chinese and English versions of one text written side by side in code, in any of the forms they took
    before the catalogues held them all: `hint_zh=`/`reason_en` names, `{"zh": ..., "en": ...}` dicts,
    `("已受理", "received")` tuples, `"..." if lang == "en" else "..."`, and `if lang == "en": return "..."`
    followed by Chinese."""
    found: list[tuple[int, str]] = []
    named: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        name = None
        if isinstance(node, ast.keyword):
            name = node.arg
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.arg):
            name = node.arg
        if name and PAIRED_NAME.search(name) and name not in DATA_NAMES:
            named.append((line, name))
        if isinstance(node, ast.Dict):
            keyed = {
                k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)
            }
            if {"zh", "en"} <= set(keyed) and CJK.search(" ".join(_strings(keyed["zh"]))):
                found.append((line, 'a {"zh": ..., "en": ...} dict'))
        if isinstance(node, ast.Tuple) and _is_string_pair(node) and _one_chinese_one_english(*node.elts):
            found.append((line, "a (Chinese, English) tuple"))
        if isinstance(node, ast.IfExp) and _one_chinese_one_english(node.body, node.orelse):
            found.append((line, "an English-or-Chinese conditional"))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _picks_by_language(node):
            found.append((line, f"function {node.name}"))
    # A name is half of a pair when its other half is there too (`reason_zh` with `reason_en`; a lone
    # `active_unit_names_en` reads data).
    names = {name for _line, name in named}
    partner = {"zh": "en", "en": "zh"}
    found += [(line, f"name {name}") for line, name in named if f"{name[:-2]}{partner[name[-2:]]}" in names]
    return found


def test_the_finder_sees_every_form_of_pair() -> None:
    code = """
raise IllegalTransition(status, action, hint_zh="只能签收", hint_en="Only sign")
NAMES = {"received": ("已受理", "received")}
MESSAGES = {"zh": "文本为空", "en": "The text is empty"}
text = "formats: json" if lang == "en" else "支持的格式"
reason_zh = f"位置在{where}"
reason_en = f"Location in {where}"
def reason(lang):
    if lang == "en":
        return "Emergency"
    return "紧急"
"""
    assert len(_translation_pairs(ast.parse(code))) == 8
    clean = """
LOCALES = {"zh": "zh_Hans", "en": "en"}
name = unit.name_en if lang == "en" else unit.name_zh
names_en = org_queries.active_unit_names_en(session)
def title(lang):
    \"\"\"标题\"\"\"
    return gettext(lang, N_("Title")) if lang == "en" else gettext(lang, N_("Chinese title"))
"""
    assert _translation_pairs(ast.parse(clean)) == []


def test_no_chinese_and_english_pairs_in_code() -> None:
    """Text for people is written once, in English, marked N_() and translated by the catalogues."""
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE)
        if relative.parts[0] in DATA_PACKAGES:
            continue
        pairs = _translation_pairs(ast.parse(path.read_text(encoding="utf-8")))
        if pairs:
            found[str(relative)] = sorted(set(pairs))
    assert not found, (
        f"mark the English text with N_() and translate it in the catalogues (docs/i18n.md): {found}"
    )


# ---------------------------------------------------------------- negotiation


def _request(query: str = "", headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request(
        {"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": raw}
    )


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ("", {}, "zh"),
        ("lang=en", {}, "en"),
        ("lang=EN-us", {}, "en"),
        ("lang=zh", {"Accept-Language": "en"}, "zh"),
        ("lang=fr", {"Accept-Language": "en"}, "en"),
        ("", {"Cookie": "lang=en"}, "en"),
        ("", {"Cookie": "lang=zh", "Accept-Language": "en"}, "zh"),
        ("lang=zh", {"Cookie": "lang=en"}, "zh"),
        ("", {"Accept-Language": "en-US,en;q=0.9"}, "en"),
        ("", {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "zh"),
        ("", {"Accept-Language": "zh;q=0.4, en;q=0.8"}, "en"),
        ("", {"Accept-Language": "fr-FR, de;q=0.9"}, "zh"),
        ("", {"Accept-Language": "en;q=nonsense, zh;q=0.1"}, "zh"),
        ("", {"Accept-Language": ",,;;q="}, "zh"),
    ],
)
def test_language_negotiation(query: str, headers: dict[str, str], expected: str) -> None:
    assert negotiate_language(_request(query, headers)) == expected


def test_the_default_language_is_a_setting() -> None:
    assert negotiate_language(_request(), default="en") == "en"
    assert negotiate_language(_request(headers={"Accept-Language": "zh"}), default="en") == "zh"


# ---------------------------------------------------------------- the API, end to end

Call = Callable[[TestClient, dict[str, str], str], httpx.Response]


def _errors(client: TestClient, city: City) -> dict[str, Call]:
    """One call per kind of error, each taking extra headers and a query string."""
    operator = token_headers(client, "operator")
    handler = token_headers(client, "d1s1c1-handler")
    number = created_number(submit(client, operator, category="litter"))
    dispatched = client.post(
        f"{SUBMIT}/{number}/dispatch",
        json={"lead_unit_id": city.unit("D1S1C1").id},
        headers=token_headers(client, "dispatcher"),
    )
    assert dispatched.status_code == 200, dispatched.text
    return {
        "400 json_invalid": lambda c, h, q: c.post(
            f"{SUBMIT}{q}", content=b"{", headers=h | {"content-type": "application/json"}
        ),
        "401 not_authenticated": lambda c, h, q: c.get(f"{SUBMIT}{q}", headers=h),
        "401 bad_credentials": lambda c, h, q: c.post(
            f"/api/v1/auth/token{q}", json={"username": "operator", "password": "wrong-password"}, headers=h
        ),
        "403 forbidden_role": lambda c, h, q: c.post(
            f"/api/v1/categories{q}",
            json={"code": "noise", "name_zh": "噪音", "name_en": "Noise", "handler_kind": "street"},
            headers=h | operator,
        ),
        "404 request_not_found": lambda c, h, q: c.get(f"{SUBMIT}/99999999999999{q}", headers=h | operator),
        "404 not_found": lambda c, h, q: c.get(f"/api/v1/nowhere{q}", headers=h),
        "405 method_not_allowed": lambda c, h, q: c.put(f"{SUBMIT}{q}", headers=h),
        "409 illegal_transition": lambda c, h, q: c.post(
            f"{SUBMIT}/{number}/reply{q}", json={"text": "好"}, headers=h | handler
        ),
        "422 validation_failed": lambda c, h, q: c.post(f"{SUBMIT}{q}", json={"text": ""}, headers=h),
        "422 location_outside_city": lambda c, h, q: c.post(
            f"{SUBMIT}{q}", json={"text": "漏水", "lat": 40, "lon": 116}, headers=h | operator
        ),
    }


def test_every_error_speaks_chinese_by_default_and_english_on_request(client: TestClient, city: City) -> None:
    calls = _errors(client, city)
    ways_to_ask_for_english = [
        ({}, "?lang=en"),
        ({"Accept-Language": "en-US,en;q=0.9"}, ""),
        ({"Cookie": "lang=en"}, ""),
    ]
    for name, call in calls.items():
        status, code = name.split(" ")
        zh = assert_error(call(client, {}, ""), int(status), code)
        assert CJK.search(zh["message"]), (name, zh)
        for headers, query in ways_to_ask_for_english:
            en = assert_error(call(client, headers, query), int(status), code)
            assert not CJK.search(en["message"]), (name, headers, query, en)
            assert en["message"] != zh["message"]


def test_chinese_is_kept_when_asked_for_over_an_english_browser(client: TestClient, city: City) -> None:
    response = client.get(f"{SUBMIT}?lang=zh", headers={"Accept-Language": "en"})
    assert CJK.search(assert_error(response, 401, "not_authenticated")["message"])


def test_rate_limit_message_in_english(client: TestClient, city: City) -> None:
    for _ in range(10):
        created_number(submit(client))
    response = client.post(
        f"{SUBMIT}?lang=en",
        json={"text": "漏水", "lat": 0.2, "lon": 0.2, "contact_phone": "13912345678"},
    )
    error = assert_error(response, 429, "rate_limited")
    assert not CJK.search(error["message"]) and response.headers["retry-after"] in error["message"]


def test_data_is_named_in_the_clients_language(client: TestClient, city: City) -> None:
    zh = client.get("/api/v1/categories/litter").json()
    en = client.get("/api/v1/categories/litter", headers={"Accept-Language": "en"}).json()
    assert zh["name"] == "乱扔垃圾" and en["name"] == "Litter"
    number = created_number(submit(client, token_headers(client, "operator")))
    detail = client.get(f"{SUBMIT}/{number}?lang=en", headers=token_headers(client, "operator")).json()
    assert detail["status_name"] == "received"
    assert not CJK.search(detail["events"][0]["action_name"])
