"""The authorisation matrix, API half: every operation of the API (read from the application's routes) called as
every role and anonymously, on targets inside the caller's street and outside it (another street, another
district, another department, another resident's), checked against the written policy
(`chengzhi.security.policy.POLICY`):

- where the policy allows the role, the call gets past authorisation (no 401, no 403, no redirect to sign-in;
  on a target in scope, no 404 either);
- where it does not, the call is refused (401, 403, 404 or the sign-in page), whatever the body;
- on a target out of scope, every role is refused (404: the request, unit or user does not exist for them).

An operation the policy does not list fails the test, and so does a policy line no route answers. The pages' half
is tests/test_authorisation_matrix_pages.py; the checks themselves are in tests/authorisation_support.py.
"""

from __future__ import annotations

import os

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.security.policy import POLICY

from .authorisation_support import check_matrix, operations
from .factories import City


def test_every_operation_has_a_rule_and_every_rule_an_operation(client: TestClient) -> None:
    ops = {(op.method, op.path) for op in operations(client)}
    assert len(ops) > 250, "the routes were not found"
    assert sorted(ops - POLICY.keys()) == [], "operations without a rule in chengzhi.security.policy"
    assert sorted(POLICY.keys() - ops) == [], "rules for operations that no longer exist"


def test_every_role_gets_what_the_policy_says_of_the_api_in_and_out_of_scope(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    checked, wrong = check_matrix(client, session, settings, city, api=True)
    assert checked > (5000 if not os.environ.get("MATRIX_ONLY") else 0)
    assert wrong == [], "\n".join(wrong)
