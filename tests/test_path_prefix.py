"""`db.path_prefix`, the subtree test behind every scope, gives the same answer on both databases as
`str.startswith`, including the neighbours a careless range would catch ("/1/20/" is not under "/1/2/")."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.db import path_prefix
from chengzhi.org.models import Unit

from .factories import City


def test_subtree_by_prefix(session: Session, city: City) -> None:
    paths = sorted(session.scalars(select(Unit.path)))
    assert len(paths) > 5
    # Every unit's own path, plus prefixes whose byte-wise neighbours exist: "/1/2" is a prefix of "/1/20/" but
    # "/1/2/" is not.
    alike = {p[:-1] for p in paths if len(p) > 3}
    for prefix in {*paths, *alike, "/", "/9/", paths[-1] + "0"}:
        found = sorted(session.scalars(select(Unit.path).where(path_prefix(Unit.path, prefix))))
        assert found == [p for p in paths if p.startswith(prefix)], prefix
