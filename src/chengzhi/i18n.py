"""Language negotiation and the one translation mechanism: Babel catalogues, for pages, API errors and domain labels.

Chinese (zh) is the default; English (en) on request through `?lang=en`, the `lang` cookie or Accept-Language.

Messages are written in English (the msgid). `locale/zh_Hans` translates them into Simplified Chinese and
`locale/en` repeats them, so that both catalogues are complete and checked alike (tests/test_i18n.py). The
catalogues are read from their `.po` files at start, so there is no compile step. Code marks a message with
`N_("...")` (or `NC_(context, "...")` when one English word needs two translations): a no-op that returns the
message as a `Text`, a `str` that remembers it is to be translated. Whoever shows it (the API's error envelope,
a page, the CLI) translates it in the reader's language with `translate(lang, text)` or `gettext(lang, ...)`.
See docs/i18n.md.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeAlias

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import HTTPConnection

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

LOCALE_DIR = Path(__file__).parent / "locale"
BABEL_CFG = Path(__file__).parent / "babel.cfg"
# Language -> the catalogue's locale.
LOCALES: dict[Language, str] = {"zh": "zh_Hans", "en": "en"}


class Text(str):
    """A message marked for translation (its English msgid, and a context when it has one)."""

    context: str | None = None


def N_(message: str) -> Text:
    """Mark `message` for extraction; whoever shows it translates it with `translate(lang, message)`."""
    return Text(message)


def NC_(context: str, message: str) -> Text:
    """Mark `message` with a context, for an English word that needs different translations (a status named
    "received" and the action "received")."""
    text = Text(message)
    text.context = context
    return text


def po_path(lang: Language) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=4)
def translations(lang: Language) -> Translations:
    with po_path(lang).open("rb") as po:
        catalog = read_po(po, locale=LOCALES[lang])
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


def translate(lang: str, text: str) -> str:
    """`text` in `lang` (Chinese for any language but English): a marked message from the catalogue, or the
    text itself when the catalogue lacks it."""
    catalogue = translations("en" if lang == "en" else "zh")
    context = getattr(text, "context", None)
    if context is not None:
        return str(catalogue.pgettext(context, text))
    return catalogue.gettext(text)


def gettext(lang: str, message: str, **params: object) -> str:
    text = translate(lang, message)
    return text % params if params else text


# code -> the message (English msgid, `%(name)s` parameters), translated by the catalogues when rendered.
MESSAGES: dict[str, Text] = {
    "not_found": N_("The requested resource was not found."),
    "request_not_found": N_("Request %(ref)s was not found; check the number."),
    "unit_not_found": N_("Unit %(ref)s was not found."),
    "category_not_found": N_("Category %(ref)s was not found; pick one from the category list."),
    "user_not_found": N_("User %(ref)s was not found."),
    "knowledge_article_not_found": N_("Knowledge article %(ref)s was not found."),
    "hot_issue_not_found": N_("Hot issue %(ref)s was not found in your unit's scope."),
    "hot_issue_name_empty": N_("Give the hot issue a name."),
    "hot_issue_merge_itself": N_("A hot issue cannot be merged into itself; choose another issue."),
    "alert_not_found": N_("Alert %(ref)s was not found in your unit's scope."),
    "sensitive_word_length": N_("A sensitive word has 2 to 50 characters."),
    "sensitive_word_exists": N_("That word is already on the list."),
    "sensitive_word_not_found": N_("Sensitive word %(ref)s was not found."),
    "hot_issue_split_invalid": N_(
        "Choose some, but not all, of the issue's requests (those in your scope) to split them off."
    ),
    "hot_merge_nothing": N_(
        "Choose the primary request and tick at least one other request to merge into it."
    ),
    "hot_merge_too_many": N_("Merge at most %(limit)s requests at a time."),
    "hot_merge_primary_not_member": N_(
        "Request %(ref)s is not in this hot issue (in your scope): choose the primary among the issue's requests."
    ),
    "hot_merge_not_members": N_("These requests are not in this hot issue (in your scope): %(refs)s."),
    "hot_merge_closed": N_("Closed requests cannot be merged: %(refs)s. Untick them."),
    "hot_merge_out_of_scope": N_(
        "These requests are outside your scope as a dispatcher, so you cannot merge them: %(refs)s."
    ),
    "feed_unreadable": N_("The feed could not be read as RSS or Atom: %(detail)s"),
    "feed_url_invalid": N_("Give the feed's http or https address (at most 500 characters)."),
    "feed_exists": N_("A feed with this name or address exists already."),
    "posts_file_unreadable": N_("The file could not be read as messages: %(detail)s"),
    "posts_file_too_big": N_("A file holds at most %(limit)s posts; split it."),
    "posts_upload_too_large": N_("The file is too large: at most %(limit)s."),
    "posts_source_empty": N_("Name the source of the posts (the message board or site)."),
    "posts_unit_not_yours": N_("Unit %(ref)s is outside your scope."),
    "knowledge_questions_required": N_("Give between 1 and %(max)s questions that the article answers."),
    "knowledge_answer_required": N_("Give the answer (at most %(max)s characters)."),
    "knowledge_validity_order": N_("The article cannot be valid until a day before it is valid from."),
    "knowledge_illegal_status": N_("The article is %(status)s; it cannot become %(target)s."),
    "opendata_dataset_not_found": N_("Dataset %(ref)s was not found."),
    "opendata_resource_not_found": N_("Resource %(ref)s was not found."),
    "opendata_application_not_found": N_("Application %(ref)s was not found."),
    "opendata_name_invalid": N_(
        "The dataset's name is its address: 2 to 100 lower-case letters, digits, - or _, starting with a letter or digit."
    ),
    "opendata_name_taken": N_("A dataset named %(name)s exists already."),
    "opendata_title_required": N_("Give the dataset a title (at most 300 characters)."),
    "opendata_unknown_term": N_("%(value)s is not a known value of %(field)s."),
    "opendata_temporal_order": N_("The coverage cannot end before it starts."),
    "opendata_tags_invalid": N_("Give at most %(max)s tags of at most 100 characters each."),
    "opendata_personal_data": N_(
        "Personal data was found in %(resources)s: mask it before publishing the dataset without conditions."
    ),
    "opendata_illegal_status": N_("The dataset is %(status)s; it cannot become %(target)s."),
    "opendata_format_unsupported": N_("Upload one of these formats: %(formats)s."),
    "opendata_table_shape": N_("The table needs a header row and at most %(max)s columns."),
    "opendata_unreadable_table": N_(
        "The XLSX file cannot be read (%(details)s): save it again as XLSX, or upload it as CSV."
    ),
    "opendata_fields_mismatch": N_("Give a type for each of the table's columns, in their order."),
    "opendata_not_a_table": N_("This resource is not a table."),
    "opendata_url_invalid": N_("Give an http or https address."),
    "opendata_datastore_field": N_("The table has no column %(field)s."),
    "opendata_datastore_filter": N_("%(value)s is not a value of the column %(field)s's type."),
    "opendata_datastore_param": N_("The parameter %(name)s could not be read."),
    "opendata_not_conditional": N_("Only datasets open on conditions take applications."),
    "opendata_purpose_required": N_("State the purpose of use (10 to 2000 characters)."),
    "opendata_agreement_required": N_("Accept the data-use agreement to apply."),
    "opendata_application_pending": N_("You have an application for this dataset waiting for a decision."),
    "opendata_application_decided": N_("The application was %(status)s already."),
    "opendata_reason_required": N_("Give the reason for rejecting the application."),
    "opendata_days_range": N_("Approve for 1 to %(max)s days."),
    "opendata_application_required": N_(
        "This dataset is open on conditions: apply for it, and read it once your application is approved."
    ),
    "opendata_date_invalid": N_("%(value)s is not a date and time (ISO 8601)."),
    "method_not_allowed": N_("This method is not allowed here."),
    "not_authenticated": N_("Sign in first: send a valid token in the Authorization header."),
    "bad_credentials": N_(
        "Wrong username or password. After repeated failures an account refuses sign-in for a while: wait and "
        "try again, or reset your password."
    ),
    "name_verified_by_provider": N_(
        "Your name was verified by an identity provider: it can only be changed there, then by signing in again."
    ),
    "account_locked": N_(
        "Too many failed attempts: this account refuses sign-in for %(minutes)s more minutes."
    ),
    "second_factor_required": N_(
        "This account needs its second factor: send the code from your authenticator app as one_time_code."
    ),
    "second_factor_enrolment_required": N_(
        "Staff accounts need a second factor: sign in on the web page once to set up your authenticator app."
    ),
    "second_factor_invalid": N_("That code is not right (or was already used); try the next one."),
    "passkey_refused": N_("The passkey was not accepted (%(reason)s); try again or use a code."),
    "passkey_none": N_("There is no such passkey on this account."),
    "passkey_limit": N_("An account holds at most %(limit)s passkeys; remove one first."),
    "second_factor_enrolled": N_("A second factor is already set up for this account."),
    "second_factor_not_started": N_("Start setting up the second factor first."),
    "oidc_refused": N_("The identity provider's sign-in was refused."),
    "oidc_provider_unavailable": N_(
        "The identity provider cannot be reached (%(details)s); try again later."
    ),
    "oidc_provider_error": N_("The identity provider did not sign you in (%(details)s)."),
    "oidc_state_invalid": N_(
        "This sign-in link was already used or was started in another browser; start signing in again."
    ),
    "oidc_code_refused": N_("The identity provider refused the sign-in code (%(details)s); start again."),
    "oidc_no_id_token": N_("The identity provider sent no ID token; nobody was signed in."),
    "oidc_malformed_token": N_("The identity provider's ID token is malformed; nobody was signed in."),
    "oidc_alg_refused": N_("The ID token is signed with an algorithm that is not accepted (%(alg)s)."),
    "oidc_unknown_key": N_("The ID token is signed with a key the identity provider does not publish."),
    "oidc_bad_signature": N_("The ID token's signature is not valid; nobody was signed in."),
    "oidc_wrong_issuer": N_("The ID token was issued by another identity provider than expected."),
    "oidc_wrong_audience": N_("The ID token was issued for another application."),
    "oidc_token_expired": N_("The ID token has expired; start signing in again."),
    "oidc_nonce_mismatch": N_("The ID token does not belong to this sign-in (nonce); nobody was signed in."),
    "oidc_claim_invalid": N_("The ID token's claim %(claim)s is missing or not valid."),
    "oidc_identity_taken": N_("This identity is already linked to another account."),
    "oidc_account_inactive": N_("The account linked to this identity is deactivated."),
    "oidc_unknown_person": N_("This identity is not linked to any account here; ask an administrator."),
    "identity_level_required": N_(
        "This needs identity level %(level)s (%(action)s): verify your phone number or real name first."
    ),
    "verification_target_invalid": N_(
        "Give a valid mobile phone number (digits, optionally starting with +) or e-mail address."
    ),
    "verification_code_expired": N_("That code has expired or was tried too often; ask for a new one."),
    "verification_code_invalid": N_("That code is not right; check the message and try again."),
    "phone_signin_staff": N_(
        "This number belongs to a staff account: sign in with your username, password and second factor."
    ),
    "password_too_short": N_("The password must have at least %(min)s characters."),
    "token_invalid": N_("The token is invalid or has expired; sign in again for a new one."),
    "csrf_failed": N_("The page has expired (CSRF check failed); reload it and try again."),
    "forbidden": N_("You are not allowed to do this."),
    "forbidden_role": N_("This action needs one of these roles: %(roles)s."),
    "out_of_scope": N_("This request is outside your unit's responsibility."),
    "illegal_transition": N_("The request is %(status)s; it cannot be %(action)s. %(hint)s"),
    "extension_pending": N_("An extension request is already waiting for a supervisor's decision."),
    "no_extension_pending": N_("There is no extension request to decide on."),
    "not_lead_unit": N_("Only handlers of the lead unit %(unit)s can do this."),
    "return_window_closed": N_(
        "The time to return this request has passed (until %(until)s); handle it or ask a dispatcher to re-route."
    ),
    "reason_required": N_("Give a reason."),
    "category_required": N_("Set the request's category before dispatching it."),
    "lead_in_co_units": N_("The lead unit cannot also be a co-unit."),
    "unit_inactive": N_("Unit %(unit)s is no longer active."),
    "dispatch_target_invalid": N_(
        "Cannot dispatch to %(unit)s: choose a district, street, community or department."
    ),
    "merge_into_self": N_("A request cannot be merged into itself."),
    "location_outside_city": N_(
        "This location is outside the city; pick another point on the map or give an address."
    ),
    "location_required": N_("Give a location: a map point or an address."),
    "contact_required": N_("Leave a phone number or an e-mail address so the handling unit can reach you."),
    "tracking_mismatch": N_("The number and the last four digits of the phone do not match; check them."),
    "validation_failed": N_("The submitted data is not valid: %(details)s"),
    "bad_request": N_("The request is malformed: %(details)s"),
    "json_invalid": N_("The body is not valid JSON (near character %(position)s: %(details)s)."),
    "json_expected": N_("Send the body as JSON, with Content-Type: application/json."),
    "value_rejected": N_(
        "The submitted data holds a value that cannot be stored (a number out of range, or a NUL or invalid character in text); check it and try again."
    ),
    "payload_too_large": N_("The file is too large: each photo may be at most %(limit)s."),
    "body_too_large": N_("The request body is too large: at most %(limit)s."),
    "unsupported_media_type": N_("Only JPEG, PNG or WebP photos are accepted."),
    "too_many_photos": N_("A request may have at most %(limit)s photos."),
    "photo_too_many_pixels": N_(
        "The photo has too many pixels: at most %(limit)s million. Send a smaller version of it."
    ),
    "photo_hidden_content": N_(
        "The photo carries another file hidden inside it and was refused. Send the photo as the camera took it."
    ),
    "priority_staff_only": N_(
        "Only staff set the emergency priority. Describe the danger in your text: emergencies are recognised "
        "from it and handled first."
    ),
    "photo_staff_only": N_("A photo attached by staff is a working document and cannot be published."),
    "rate_limited": N_("Too many submissions; try again in %(seconds)s seconds."),
    "support_closed": N_(
        'This request is closed and takes no more "me too"; if the problem is back, report it again.'
    ),
    "idempotency_conflict": N_(
        "This Idempotency-Key was already used for a different request; use a new key."
    ),
    "idempotency_in_progress": N_(
        "A request with the same Idempotency-Key is being processed; retry shortly."
    ),
    "conflict": N_("The action conflicts with current data: %(details)s"),
    "username_taken": N_("The username %(username)s is taken."),
    "code_taken": N_("The code %(code)s already exists."),
    "invalid_area": N_("The area is not a valid GeoJSON polygon: %(details)s"),
    "invalid_parent": N_("A %(kind)s cannot sit under a %(parent_kind)s."),
    "invalid_time_limit": N_(
        "Time limit '%(value)s' is not valid: use a form such as 2h, 30m, 3d or 7wd (working days)."
    ),
    "attribute_invalid": N_("The answer to question '%(code)s' is not valid: %(details)s"),
    "attribute_required": N_("Answer the required question '%(code)s'."),
    # credit
    "credit_code_length": N_("the code '%(code)s' has %(length)s characters; a credit code has 18"),
    "credit_code_format": N_(
        "the code '%(code)s' has characters a credit code cannot hold (letters I, O, S, V, Z; letters in the "
        "first 8 places)"
    ),
    "credit_code_checksum": N_(
        "the check digit of the code '%(code)s' is wrong: it should end in %(expected)s"
    ),
    "credit_code_org_checksum": N_(
        "the organisation code inside '%(code)s' (characters 9 to 17) has a wrong check digit: expected %(expected)s"
    ),
    "credit_entity_not_found": N_("No entity has the credit code %(ref)s."),
    "credit_entity_exists": N_("An entity with the credit code %(code)s already exists."),
    "credit_record_not_found": N_("Credit record %(ref)s was not found."),
    "credit_invalid_value": N_("%(field)s: '%(value)s' is not one of %(allowed)s."),
    "credit_severity_required": N_("A penalty needs its severity: minor, general or serious."),
    "credit_basis_required": N_("Give the record its title and its legal basis."),
    "credit_not_repairable": N_(
        "This record cannot be repaired on %(on)s: repair is open from %(start)s until publication ends on %(end)s."
    ),
    "credit_request_not_found": N_("Request id %(ref)s does not exist on the platform."),
    "credit_objection_open": N_("Record %(ref)s already has an objection under review."),
    "credit_objection_not_found": N_("Objection %(ref)s was not found."),
    "credit_application_not_found": N_("Repair application %(ref)s was not found."),
    "credit_application_pending": N_("Record %(ref)s already has a repair application under review."),
    "credit_already_decided": N_("This was already decided on %(on)s."),
    "credit_record_withdrawn": N_("Record %(ref)s was withdrawn on %(on)s."),
    "credit_request_linked": N_("Request %(ref)s is already linked to an entity."),
    "credit_link_not_found": N_("Complaint link %(ref)s was not found."),
    "credit_plan_not_found": N_("Inspection plan %(ref)s was not found."),
    "credit_task_not_found": N_("Inspection task %(ref)s was not found."),
    "credit_not_your_task": N_("Only the inspectors drawn for this task may enter its result."),
    "credit_draw_failed": N_("The draw failed: %(reason)s"),
    "internal_error": N_(
        "Internal error, logged. Try again later; if it persists, contact the administrator (ref %(ref)s)."
    ),
}


class _Params(dict[str, object]):
    """Message parameters; one the caller did not give renders empty rather than as "{name}"."""

    def __missing__(self, key: str) -> str:
        return ""


def message(code: str, lang: Language, params: dict[str, object] | None = None) -> str:
    """The message of an error `code` in `lang`, with its parameters (a marked parameter is translated too)."""
    template = translate(lang, MESSAGES.get(code) or MESSAGES["bad_request"])
    values = _Params(
        {
            name: translate(lang, value) if isinstance(value, Text) else value
            for name, value in (params or {}).items()
        }
    )
    try:
        return (template % values).strip()
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return template


def negotiate_language(conn: HTTPConnection, default: Language = "zh") -> Language:
    """`?lang=`, then the `lang` cookie, then Accept-Language, then the default."""
    for candidate in (conn.query_params.get("lang"), conn.cookies.get("lang")):
        if candidate:
            lang = candidate.lower()[:2]
            if lang in LANGUAGES:
                return lang
    header = conn.headers.get("accept-language", "")
    best: tuple[float, Language] | None = None
    for part in header.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, q_part = piece.partition(";")
        try:
            quality = float(q_part.strip()[2:]) if q_part.strip().startswith("q=") else 1.0
        except ValueError:
            quality = 0.0
        lang = tag.strip().lower()[:2]
        if lang in LANGUAGES and (best is None or quality > best[0]):
            best = (quality, lang)
    return best[1] if best else default


# ---------------------------------------------------------------- composed messages
#
# A text composed of parts (why this unit: a sentence about the place, one about the category, the city's own
# names, lists of what the text says) is kept as a `Phrase`: a marked msgid and its parameters, translated when it
# is shown, never as finished strings in each language. A parameter is a plain value (a number, a name that is the
# same in every language), a marked `Text`, a nested `Phrase`, a name that is data in two languages (`Named`), a
# list joined by a translated separator (`Listed`), or sentences joined by the language's rule (`Sentences`).
# `to_json()` / `phrase_from_json()` store one language-neutrally (in an event's payload).

# Between two sentences: Chinese sets them side by side, English with a space (a language's typographic rule, not a
# translation: an empty translation would mean "untranslated" to the catalogues).
SENTENCE_SPACES: dict[Language, str] = {"zh": "", "en": " "}

Json: TypeAlias = str | int | float | bool | dict[str, "Json"] | list["Json"] | None


@dataclass(frozen=True)
class Named:
    """A name that is data in both languages (a category's `name_zh` / `name_en`), shown in the reader's."""

    zh: str
    en: str

    def render(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def to_json(self) -> Json:
        return {"named": {"zh": self.zh, "en": self.en}}


@dataclass(frozen=True, init=False)
class Phrase:
    """A marked message with its parameters, rendered in a language when shown: `Phrase(N_("Location in
    %(where)s."), where=...)`."""

    msgid: Text
    params: tuple[tuple[str, Part], ...]

    def __init__(self, msgid: Text, /, **params: Param) -> None:
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "params", tuple((name, _part(value)) for name, value in params.items()))

    def render(self, lang: str) -> str:
        template = translate(lang, self.msgid)
        if not self.params:
            return template
        values = _Params({name: render(value, lang) for name, value in self.params})
        try:
            return template % values
        except (KeyError, IndexError, ValueError, TypeError):
            return template

    def to_json(self) -> Json:
        found: dict[str, Json] = {"msgid": str(self.msgid)}
        if self.msgid.context is not None:
            found["context"] = self.msgid.context
        if self.params:
            found["params"] = {name: to_json(value) for name, value in self.params}
        return found


@dataclass(frozen=True, init=False)
class Listed:
    """Items joined by a translated separator (", " is "、" in Chinese); `path` joins a place's units."""

    items: tuple[Part, ...]
    separator: Text

    def __init__(self, items: Iterable[Param], separator: Text | None = None) -> None:
        object.__setattr__(self, "items", tuple(_part(item) for item in items))
        object.__setattr__(self, "separator", separator if separator is not None else LIST_SEPARATOR)

    def render(self, lang: str) -> str:
        return translate(lang, self.separator).join(render(item, lang) for item in self.items)

    def to_json(self) -> Json:
        return {"list": [to_json(item) for item in self.items], "separator": Phrase(self.separator).to_json()}


@dataclass(frozen=True, init=False)
class Sentences:
    """Sentences shown one after the other (side by side in Chinese, with a space in English)."""

    parts: tuple[Part, ...]

    def __init__(self, *parts: Param) -> None:
        flat: list[Part] = []
        for part in parts:  # nested sentences are one run of sentences
            flat.extend(part.parts if isinstance(part, Sentences) else (_part(part),))
        object.__setattr__(self, "parts", tuple(flat))

    def render(self, lang: str) -> str:
        space = SENTENCE_SPACES["en" if lang == "en" else "zh"]
        return space.join(text for text in (render(part, lang) for part in self.parts) if text)

    def to_json(self) -> Json:
        return {"sentences": [to_json(part) for part in self.parts]}


Part = str | int | float | Phrase | Named | Listed | Sentences
Param = Part | Text

LIST_SEPARATOR = NC_("list separator", ", ")
PATH_SEPARATOR = NC_("place path separator", " / ")


def quoted(text: str) -> Phrase:
    """Words someone wrote or a name, in the language's quotation marks ('…' in English, “…” in Chinese)."""
    return Phrase(NC_("quotation", "'%(text)s'"), text=text)


def _part(value: Param) -> Part:
    return Phrase(value) if isinstance(value, Text) else value


def render(value: Param, lang: str) -> str:
    """A parameter, a phrase or a list in `lang`."""
    if isinstance(value, Text):
        return translate(lang, value)
    if isinstance(value, Phrase | Named | Listed | Sentences):
        return value.render(lang)
    return str(value)


def to_json(value: Param) -> Json:
    part = _part(value)
    return part.to_json() if isinstance(part, Phrase | Named | Listed | Sentences) else part


def phrase_from_json(data: Json) -> Part:
    """What `to_json` stored (a phrase, a list, sentences, a name in two languages or a plain value). Raises
    ValueError for anything else."""
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("msgid"), str):
            context = data.get("context")
            msgid = NC_(context, str(data["msgid"])) if isinstance(context, str) else N_(str(data["msgid"]))
            params = data.get("params") or {}
            if not isinstance(params, dict):
                raise ValueError(f"phrase parameters must be an object: {params!r}")
            return Phrase(msgid, **{str(name): phrase_from_json(value) for name, value in params.items()})
        named = data.get("named")
        if isinstance(named, dict) and isinstance(named.get("zh"), str) and isinstance(named.get("en"), str):
            return Named(str(named["zh"]), str(named["en"]))
        items, separator = data.get("list"), data.get("separator")
        if isinstance(items, list):
            joined = phrase_from_json(separator) if separator is not None else None
            if joined is not None and not isinstance(joined, Phrase):
                raise ValueError(f"a list's separator must be a message: {separator!r}")
            return Listed((phrase_from_json(item) for item in items), joined.msgid if joined else None)
        parts = data.get("sentences")
        if isinstance(parts, list):
            return Sentences(*(phrase_from_json(part) for part in parts))
    raise ValueError(f"not a stored phrase: {data!r}")
