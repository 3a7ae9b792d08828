"""The platform's one masking of personal data: contact fields, and phone numbers, ID-card numbers, e-mail
addresses and the names written next to them inside free text (titles, descriptions, replies, notes).

`mask_text(text)` is for viewers without a right to the resident's contact (staff without contact rights, Open311
keys); `mask_text(text, public=True)` is for everyone (the public pages, Open311 reads): phone and ID-card numbers are
hidden whole, and so is any other run of five or more digits (house-door codes, card and account numbers). Numbers that only look like an ID-card number
(17 digits and a wrong check character) are masked as long digit runs where `public`, and kept otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stdnum.cn import ric

MASK = "*"

# An 18-character resident identity card number (17 digits and a check character), or the old 15-digit form,
# not part of a longer run of digits.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{16}[0-9Xx]|[1-9]\d{14})(?![0-9A-Za-z])")
# Mobile numbers (optionally +86 / 86, with spaces or hyphens between groups) and landlines with an area code.
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[ -]?\d{7,8}(?:-\d{1,5})?(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# A name introduced as one ("联系人：张三", "我叫李小明", "姓名 王五"): the given name is masked, the surname kept.
_NAME_AFTER = re.compile(
    r"(联系人|姓名|名字|我叫|本人|居民|业主|户主)([:：\s]{0,2})([\u4e00-\u9fff]{2,4}?)(?=[\s,，。;；:：(（]|电话|手机|\d|$)"
)
# A name right before the phone number or e-mail address it goes with, after a verb of reaching someone
# ("请联系王小明，电话138…", "致电李四 010-…", "找张三 zhang@…").
_NAME_BEFORE_CONTACT = re.compile(
    r"(联系|联络|致电|找|问)([\u4e00-\u9fff]{2,3}?)"
    r"(?=[，,:：\s]*(?:电话|手机|邮箱|[Tt]el)?[：:\s]*(?:\+?86[ -]?)?(?:1[3-9]\d|0\d{2,3}|[A-Za-z0-9._%+\-]+@))"
)
# A Latin-script name right before an e-mail address: "Jane Smith <jane@example.com>" or "Jane Smith (jane@…)".
_NAME_BEFORE_EMAIL = re.compile(r"\b([A-Z][a-z]+(?: [A-Z][a-z]+){0,3})(\s*[<(]\s*)(?=[A-Za-z0-9._%+\-]+@)")
_DIGIT_RUN = re.compile(r"\d{5,}")


def mask_phone(phone: str | None) -> str | None:
    """A phone number with its middle hidden: 138****8000 (the first three digits stay for mobile numbers)."""
    if not phone:
        return phone
    if len(phone) <= 4:
        return MASK * len(phone)
    keep = 3 if len(phone) >= 11 else 0
    return phone[:keep] + MASK * (len(phone) - keep - 4) + phone[-4:]


def mask_name(name: str | None) -> str | None:
    """A name with only its first character (the surname) shown: 张**."""
    if not name:
        return name
    return name[0] + MASK * max(1, len(name) - 1)


def mask_email(email: str | None) -> str | None:
    """An e-mail address with only the first letter of its local part shown: z***@example.com."""
    if not email or "@" not in email:
        return email and "***"
    local, _, domain = email.partition("@")
    return local[:1] + "***@" + domain


def mask_id_card(number: str) -> str:
    """An ID-card number with only its last four characters shown."""
    return MASK * (len(number) - 4) + number[-4:]


def is_id_card(number: str) -> bool:
    """Whether `number` is a valid resident identity card number (check character included)."""
    return ric.is_valid(number)


def _phone(match: re.Match[str], public: bool) -> str:
    raw = match.group()
    if public:
        return re.sub(r"\d", MASK, raw)  # published: not even a part of the number
    digits = re.sub(r"\D", "", raw)
    if len(digits) > 11 and digits[-11] == "1":
        digits = digits[-11:]  # the country code (+86, 0086) says nothing: keep the mobile number's shape
    return mask_phone(digits) or ""


def _id_card(match: re.Match[str], public: bool) -> str:
    number = match.group(1)
    if is_id_card(number.upper()):
        return MASK * len(number) if public else mask_id_card(number)
    return MASK * len(number) if public else number


def mask_text(text: str | None, *, public: bool = False, names: Iterable[str | None] = ()) -> str | None:
    """`text` with the personal data it contains masked (see the module's docstring). `names`: names known to
    belong to the people concerned (the resident's contact name): masked wherever they appear."""
    if not text:
        return text
    for name in names:
        if name and len(name.strip()) >= 2:
            text = text.replace(name.strip(), mask_name(name.strip()) or "")
    text = _NAME_BEFORE_CONTACT.sub(lambda m: m.group(1) + (mask_name(m.group(2)) or ""), text)
    text = _NAME_BEFORE_EMAIL.sub(lambda m: (mask_name(m.group(1)) or "") + m.group(2), text)
    text = _EMAIL.sub(lambda m: mask_email(m.group()) or "", text)
    text = _ID_CARD.sub(lambda m: _id_card(m, public), text)
    text = _MOBILE.sub(lambda m: _phone(m, public), text)
    text = _LANDLINE.sub(lambda m: _phone(m, public), text)
    text = _NAME_AFTER.sub(lambda m: m.group(1) + m.group(2) + (mask_name(m.group(3)) or ""), text)
    if public:
        text = _DIGIT_RUN.sub(lambda m: MASK * len(m.group()), text)
    return text


def contains_personal_data(text: str | None) -> bool:
    """Whether `text` holds something `mask_text` would hide (for tests and audits)."""
    return bool(text) and mask_text(text) != text
