"""The authorisation matrix: every operation of the application (API and pages, read from its routes) called as
every role and anonymously, on targets inside the caller's street and outside it (another street, another
district, another department, another resident's), checked against the written policy
(`chengzhi.security.policy.POLICY`):

- where the policy allows the role, the call gets past authorisation (no 401, no 403, no redirect to sign-in;
  on a target in scope, no 404 either);
- where it does not, the call is refused (401, 403, 404 or the sign-in page), whatever the body;
- on a target out of scope, every role is refused (404: the request, unit or user does not exist for them).

An operation the policy does not list fails the test, and so does a policy line no route answers.
"""

from __future__ import annotations

import os
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.security.policy import POLICY, SIGN_IN, Rule

from .authorisation_support import (
    ROLES,
    Operation,
    add_matrix_users,
    build_targets,
    call,
    matrix_user,
    operations,
    page_cookie,
    token_headers,
)
from .factories import City

REFUSED = {401, 403, 404}
# Operations after which the caller's own credentials may be gone (signing out, ending sessions, a new password).
ENDS_SESSIONS = ("session", "logout", "password", "/token", "/me/delete", "/me/sessions")


def credentials(settings: Settings) -> dict[str, dict[str, Any]]:
    found = {}
    for role in ROLES[1:]:
        assert role is not None
        cookie, csrf = page_cookie(settings, matrix_user(role))
        found[role] = {"bearer": token_headers(settings, matrix_user(role)), "cookie": cookie, "csrf": csrf}
    return found


def refused(answer: tuple[int, str], *, not_found_refuses: bool = True) -> bool:
    status, location = answer
    if status in (302, 303, 307) and location.split("?")[0].endswith("/login"):
        return True
    return status in REFUSED if not_found_refuses else status in (401, 403)


def check(
    op: Operation, rule: Rule, role: str | None, inside: tuple[int, str], outside: list[tuple[int, str]]
) -> str:
    """What is wrong with these answers, or ''."""
    if inside[0] >= 500 or any(a[0] >= 500 for a in outside):
        return f"server error {inside} {outside}"
    if rule.who == SIGN_IN:
        return ""
    if rule.allows(role):
        if refused(inside, not_found_refuses=rule.scope is not None and not rule.other_ids):
            return f"refused {inside}, the policy allows it"
    elif not refused(inside):
        return f"answered {inside}, the policy refuses it"
    if rule.scope is not None:
        leaks = [a for a in outside if not refused(a)]
        if leaks:
            return f"answered out of scope {leaks}"
    return ""


def test_every_operation_has_a_rule_and_every_rule_an_operation(client: TestClient) -> None:
    ops = {(op.method, op.path) for op in operations(client)}
    assert len(ops) > 250, "the routes were not found"
    assert sorted(ops - POLICY.keys()) == [], "operations without a rule in chengzhi.security.policy"
    assert sorted(POLICY.keys() - ops) == [], "rules for operations that no longer exist"


def test_every_role_gets_what_the_policy_says_in_and_out_of_scope(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    add_matrix_users(session, city)
    session.commit()
    targets = build_targets(client, session, settings, city)
    only = os.environ.get("MATRIX_ONLY", "")  # a pattern, to look at some operations while changing them
    ops = [op for op in operations(client) if re.search(only, f"{op.method} {op.path}")]
    ops.sort(key=lambda op: any(word in op.path for word in ENDS_SESSIONS))
    creds = credentials(settings)
    wrong = []
    checked = 0
    for op in ops:
        rule = POLICY[(op.method, op.path)]
        scoped = "{" in op.path
        for role in ROLES:
            given = creds[role] if role is not None else None
            inside = call(client, op, targets.inside, given)
            outside = [call(client, op, values, given) for values in targets.outside] if scoped else []
            checked += 1 + len(outside)
            problem = check(op, rule, role, inside, outside)
            if problem:
                wrong.append(f"{op.method} {op.path} as {role}: {problem}")
        if any(word in op.path for word in ENDS_SESSIONS) and op.method != "GET":
            creds = credentials(settings)
    assert checked > (5000 if not only else 0)
    assert wrong == [], "\n".join(wrong)
