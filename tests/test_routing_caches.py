"""`chengzhi.routing.caches.reset_caches` empties every process-level cache of the routing domain (both
databases)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.routing import classifier, duplicates, duplicates_index, places, rules, urgency
from chengzhi.routing.caches import reset_caches

from .factories import City


def test_reset_caches_empties_every_routing_cache(session: Session, settings: Settings, city: City) -> None:
    dialect = session.get_bind().dialect.name
    rules.area_index(session)
    places.gazetteer(session)
    duplicates.category_groups(session)
    duplicates.candidate_query(dialect)
    duplicates_index.signature(["ab", "bc"])
    duplicates_index._bands_from_arrays()
    urgency.terms_for(None)
    classifier.active_model(session, settings)  # no active model: remembered as none for 30 s
    assert rules._indexes and places._gazetteers and duplicates._groups and urgency._cache
    assert classifier._active["checked"]
    assert duplicates.candidate_query.cache_info().currsize
    assert duplicates_index._template.cache_info().currsize
    assert duplicates_index._bands_from_arrays.cache_info().currsize

    reset_caches()

    assert not rules._indexes and not places._gazetteers and not duplicates._groups and not urgency._cache
    assert classifier._active == {"checked": 0.0, "version": None, "model": None, "url": None}
    assert duplicates.candidate_query.cache_info().currsize == 0
    assert duplicates_index._template.cache_info().currsize == 0
    assert duplicates_index._bands_from_arrays.cache_info().currsize == 0
    # Everything is built again on its next use.
    assert rules.area_index(session).units
    assert duplicates.category_groups(session)
