"""The authorisation matrix, pages' half: every page operation (forms, the session cookie) called as every role and
anonymously, in and out of the caller's scope, checked against the written policy as the API's half is
(tests/test_authorisation_matrix_api.py says what is checked; tests/authorisation_support.py how)."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings

from .authorisation_support import check_matrix
from .factories import City


def test_every_role_gets_what_the_policy_says_of_the_pages_in_and_out_of_scope(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    checked, wrong = check_matrix(client, session, settings, city, api=False)
    assert checked > (3000 if not os.environ.get("MATRIX_ONLY") else 0)
    assert wrong == [], "\n".join(wrong)
