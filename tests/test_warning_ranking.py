"""The ranking of live hot issues (`warning.ranking`: one aggregated query, heat scored with numpy) gives the same
ranks, heat and terms as the previous computation (one statement with a term per aggregate, joined with the text
labels, then `hot.raw_terms` and `hot.score` issue by issue: `benchmarks.warning_hot.reference_hot_issues`), on a
random sample of issues, requests, labels, outside posts and a staff merge, for a city, a district and a street."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
from benchmarks.warning_hot import reference_hot_issues
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests.models import Request
from chengzhi.warning import hot, ranking, service
from chengzhi.warning.models import HotIssue, HotIssueMember, OutsidePost, TextLabel

from .factories import City


def _sample(session: Session, city: City, now: dt.datetime, seed: int) -> None:
    rng = random.Random(seed)
    places = [u for code, u in city.units.items() if code.startswith("D") and "-" not in code]
    issues = [HotIssue(name=f"issue {i}", created_at=now, updated_at=now) for i in range(40)]
    session.add_all(issues)
    session.flush()
    issues[-1].merged_into_id = issues[0].id  # a staff merge: left out of the ranking
    people = [f"u{i}" for i in range(25)]
    for n in range(500):
        issue = issues[min(int(rng.paretovariate(1.2)) - 1, len(issues) - 1)] if n % 7 else rng.choice(issues)
        received = now - dt.timedelta(days=rng.uniform(0, 100), seconds=rng.randint(0, 86399))
        place = rng.choice(places)
        request = Request(
            tracking_number=f"R{seed}{n:05d}",
            title=f"t{n}",
            text="x",
            channel="phone",
            receiving_unit_id=city.units["city"].id,
            received_at=received,
        )
        session.add(request)
        session.flush()
        labelled = rng.random() < 0.7 and issue.id % 5 != 0  # some issues have no label at all
        negativity = round(rng.random(), 4) if labelled else None
        if negativity is not None:
            session.add(
                TextLabel(
                    request_id=request.id,
                    negativity=negativity,
                    sentiment="negative" if negativity >= 0.5 else "neutral",
                    message_type="complaint",
                    model_version="test",
                    labelled_at=now,
                )
            )
        session.add(
            HotIssueMember(
                request_id=request.id,
                issue_id=issue.id,
                received_at=received,
                person=rng.choice(people),
                supports=rng.choice([0, 0, 0, 1, 2, 5, 30]),
                unit_path=place.path,
                area_unit_id=place.id if rng.random() < 0.8 else None,
                title=request.title,
                negativity=negativity,
            )
        )
    for n in range(60):
        issue = rng.choice(issues[:10])
        session.add(
            OutsidePost(
                source="board",
                external_id=f"p{n}",
                digest=f"d{n}",
                title="post",
                person=f"o{rng.randint(0, 15)}",
                likes=rng.randint(0, 9),
                dislikes=rng.randint(0, 4),
                received_at=now - dt.timedelta(days=rng.uniform(0, 95)),
                unit_path=rng.choice([city.units["city"].path, city.units["D1"].path]),
                issue_id=issue.id,
            )
        )
    session.commit()


def test_the_ranking_equals_the_previous_computation(
    session: Session, settings: Settings, city: City
) -> None:
    now = utcnow()
    _sample(session, city, now, seed=3)
    for code in ("city", "D1", "D2S1"):
        unit = city.units[code]
        before = reference_hot_issues(session, settings, unit, now, limit=1000)
        after = service.hot_issues(session, settings, unit, now, limit=1000)
        assert len(before) >= 5, code  # the sample gives each scope several issues
        assert [issue_id for issue_id, _h, _c in before] == [v.id for v in after], code
        assert [v.rank for v in after] == list(range(1, len(after) + 1))
        for (_id, heat, contributions), view in zip(before, after, strict=True):
            assert view.heat == heat, (code, view.id)
            for name in hot.HEAT_TERMS:
                # The mean negativity is a floating sum in the database, whose order follows the plan (the previous
                # statement joined the labels): it may differ in its last bit. Every other term is the same float.
                assert abs(view.contributions[name] - contributions[name]) < 1e-12, (code, view.id, name)
                if name != "negativity":
                    assert view.contributions[name] == contributions[name], (code, view.id, name)
        # The first ten as the API and the page ask for them: the same as the first ten of the whole ranking.
        assert [v.id for v in service.hot_issues(session, settings, unit, now, limit=10)] == [
            v.id for v in after[:10]
        ]


def test_the_arrays_give_the_offline_terms_issue_by_issue(
    session: Session, settings: Settings, city: City
) -> None:
    """Each issue's tally, read back from the arrays, scores as `hot.raw_terms` says; an issue of the merged kind and
    one below `min_people` are absent."""
    now = utcnow()
    _sample(session, city, now, seed=11)
    since = now - dt.timedelta(days=90)
    found = ranking.tallies(
        session, lambda column: service._in_scope(city.units["city"], column), since, now, 2
    )
    terms = ranking.raw_terms(found, now)
    merged = {i.id for i in session.query(HotIssue).filter(HotIssue.merged_into_id.is_not(None))}
    assert len(found) > 5 and not merged & set(found.ids.tolist())
    assert (found.people >= 2).all()
    for k in range(len(found)):
        expected = hot.raw_terms(found.tally(k), now)
        assert {name: float(terms[name][k]) for name in hot.HEAT_TERMS} == expected
    scores = ranking.score(terms, hot.HeatWeights())
    offline = hot.score([hot.raw_terms(found.tally(k), now) for k in range(len(found))], hot.HeatWeights())
    assert scores.heat.tolist() == [heat for _s, _c, heat in offline]
    assert np.isnan(found.negativity).any()  # issues without any label: negativity unknown, term 0
