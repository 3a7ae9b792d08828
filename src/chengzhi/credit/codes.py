"""Unified Social Credit Codes (统一社会信用代码, GB 32100-2015), checked with python-stdnum.

stdnum checks the length, the alphabet and the check digit (weights 3^i mod 31). The embedded organisation code
(characters 9-17, GB 11714) carries its own mod-11 check digit, which stdnum does not check: `org_code_ok` does.
"""

from __future__ import annotations

from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc as stdnum_uscc

from chengzhi.i18n import N_, Text

ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}

CODE_PROBLEMS: dict[str, Text] = {
    "length": N_("the code '%(code)s' has %(length)s characters; a credit code has 18"),
    "format": N_(
        "the code '%(code)s' has characters a credit code cannot hold (letters I, O, S, V, Z; letters in the "
        "first 8 places)"
    ),
    "checksum": N_("the check digit of the code '%(code)s' is wrong: it should end in %(expected)s"),
    "org_checksum": N_(
        "the organisation code inside '%(code)s' (characters 9 to 17) has a wrong check digit: expected %(expected)s"
    ),
}


def compact(code: str) -> str:
    return str(stdnum_uscc.compact(code))


def org_check_digit(org8: str) -> str:
    """The GB 11714 check character of the first 8 characters of an organisation code."""
    total = sum(_ORG_VALUES[c] * w for c, w in zip(org8, ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def check_digit(first17: str) -> str:
    return str(stdnum_uscc.calc_check_digit(first17))


def problem(code: str) -> tuple[str, dict[str, object]] | None:
    """None for a valid code, else (problem key, parameters) for `CODE_PROBLEMS`."""
    number = compact(code)
    try:
        stdnum_uscc.validate(number)
    except stdnum_errors.InvalidLength:
        return "length", {"code": code, "length": len(number)}
    except stdnum_errors.InvalidChecksum:
        return "checksum", {"code": code, "expected": check_digit(number[:17])}
    except stdnum_errors.ValidationError:
        return "format", {"code": code}
    org = number[8:17]
    expected = org_check_digit(org[:8])
    if org[8] != expected:
        return "org_checksum", {"code": code, "expected": expected}
    return None


def make_code(prefix: str, org8: str) -> str:
    """A valid code from its first 8 characters (authority, type, area) and the organisation code's first 8."""
    body = prefix + org8 + org_check_digit(org8)
    return body + check_digit(body)
