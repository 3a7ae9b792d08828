"""Duplicates: the MinHash LSH index written at intake, finding and scoring, closed requests left out, issues
offered once, the API's scope and errors, merging with every resident kept informed, rebuilding the index
(both databases)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request
from chengzhi.routing import duplicates, duplicates_index
from chengzhi.routing.triage_models import DuplicateBand, DuplicateSignature

from .conftest import auth
from .factories import City
from .steps import actor, dispatch, handle

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

LEAK = "枫林小区5栋门口的自来水管爆裂了，水一直往外冒，路面全是水，请尽快派人来修理"
LEAK_2 = "枫林小区5栋门口自来水管爆裂，水一直往外冒，路面全是水，麻烦尽快派人来修"
NOISE = "金色大道上的工地每天晚上十二点还在施工，噪音很大，影响休息"


def submit(
    session: Session,
    settings: Settings,
    text: str,
    *,
    by: str = "resident",
    where: tuple[float, float] | None = (0.2, 0.2),  # (lon, lat)
    category: str | None = "water",
    now: dt.datetime = T0,
    phone: str = "13912345678",
) -> Request:
    lon, lat = where if where else (None, None)
    data = svc.Submission(
        text=text,
        channel="phone" if by == "operator" else "web",
        category_code=category,
        lat=lat,
        lon=lon,
        contact_phone=phone,
    )
    return svc.submit_request(session, actor(session, by), data, settings, now)


def bands(session: Session, request: Request) -> int:
    query = select(func.count()).select_from(DuplicateBand).where(DuplicateBand.request_id == request.id)
    return int(session.scalar(query) or 0)


# One fresh process answers both tests below (each took 20 s at load 8 when both had their own): whether
# datasketch was imported by importing the routing modules and by a first signature, and LEAK's band keys.
OTHER_PROCESS = f"""
import json, sys
from chengzhi.routing import duplicates, duplicates_index as d, triage
imported = "datasketch" in sys.modules
keys = d.band_keys(d.signature(d.shingles({LEAK!r})))
print(json.dumps({{"at_start": imported, "after_signature": "datasketch" in sys.modules, "keys": str(keys)}}))
"""


@pytest.fixture(scope="module")
def other_process() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS], capture_output=True, text=True, check=True, timeout=300
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


@pytest.mark.slow
def test_shingles_signature_and_keys_are_stable_across_processes(other_process: dict[str, object]) -> None:
    item = duplicates_index.shingles(
        "枫林小区５栋，水管爆裂！"
    )  # normalised first by the caller; punctuation dropped
    assert "枫林" in item and "5栋" not in item  # full-width digits are the caller's normalise()'s job
    keys = duplicates_index.band_keys(duplicates_index.signature(duplicates_index.shingles(LEAK)))
    assert len(keys) == duplicates_index.BANDS and len(set(keys)) == duplicates_index.BANDS
    assert other_process["keys"] == str(keys)
    assert duplicates_index.shingles("Water main burst") == {"wate", "ater", "ter ", "er m", "r ma", " mai", "main",
                                                       "ain ", "in b", "n bu", " bur", "burs", "urst"}  # fmt: skip


def test_intake_indexes_and_finds_the_same_problem(session: Session, settings: Settings, city: City) -> None:
    first = submit(session, settings, LEAK)
    other_problem = submit(session, settings, NOISE, category="litter", where=(1.7, 0.7), phone="13900000001")
    second = submit(session, settings, LEAK_2, where=(0.2005, 0.2), phone="13900000002")
    session.commit()
    # Text bands and the place named (枫林小区).
    assert bands(session, first) == duplicates_index.BANDS + 1
    found = duplicates.find_duplicates(session, actor(session, "dispatcher"), second)
    assert [c.request.id for c in found] == [first.id]
    best = found[0]
    assert best.text_similarity > 0.5 and best.category_relation == "same"
    assert best.distance_m is not None and 50 < best.distance_m < 60
    assert best.score > 0.9
    assert any(r.startswith("文字相似度") for r in best.reasons("zh"))
    assert "same place: '枫林小区'" in best.reasons("en") and "same category: Water outage" in best.reasons(
        "en"
    )
    assert other_problem.id not in [c.request.id for c in duplicates.find_duplicates(session, None, second)]


def test_same_place_and_category_in_other_words(session: Session, settings: Settings, city: City) -> None:
    """Different words, same compound and category: found through the place key, not the text bands."""
    first = submit(session, settings, "枫林小区从昨天晚上开始停水，到现在还没来水")
    second = submit(session, settings, "我家在枫林小区，家里水龙头一滴水都没有了", phone="13900000002")
    session.commit()
    found = duplicates.find_duplicates(session, None, second)
    assert [c.request.id for c in found] == [first.id]
    assert found[0].text_similarity < 0.3
    # Three months later the place key of the earlier month is not looked up any more.
    later = submit(
        session, settings, "枫林小区家里没有水了", now=T0 + dt.timedelta(days=100), phone="13900000003"
    )
    session.commit()
    assert first.id not in [c.request.id for c in duplicates.find_duplicates(session, None, later)]


def test_related_and_different_categories_score_lower(
    session: Session, settings: Settings, city: City
) -> None:
    first = submit(session, settings, LEAK, category="water")
    second = submit(session, settings, LEAK_2, category="bus", phone="13900000002")
    session.commit()
    found = duplicates.find_duplicates(session, None, second, min_score=0)
    assert found[0].request.id == first.id and found[0].category_relation == "different"
    same = submit(session, settings, LEAK_2, category="water", phone="13900000003")
    session.commit()
    again = {c.request.id: c for c in duplicates.find_duplicates(session, None, same, min_score=0)}
    assert again[first.id].score > found[0].score


def test_closed_requests_are_left_out(session: Session, settings: Settings, city: City) -> None:
    first = submit(session, settings, LEAK)
    session.commit()
    dispatch(session, settings, first, "D1-water", T0)
    handle(session, settings, first, "d1-water-handler", T0 + dt.timedelta(minutes=5))
    svc.review_request(session, actor(session, "resident"), first, True, 5, now=T0 + dt.timedelta(hours=1))
    svc.close_request(session, actor(session, "dispatcher"), first, now=T0 + dt.timedelta(hours=2))
    second = submit(session, settings, LEAK_2, phone="13900000002")
    session.commit()
    assert first.status == "closed"
    assert duplicates.find_duplicates(session, None, second, min_score=0) == []
    # The rebuild drops closed requests from the index.
    assert duplicates_index.rebuild_index(session) == (1, bands(session, second))
    session.commit()
    assert bands(session, first) == 0


def test_an_issue_is_offered_once_with_its_size(session: Session, settings: Settings, city: City) -> None:
    first = submit(session, settings, LEAK)
    second = submit(session, settings, LEAK_2, phone="13900000002")
    session.commit()
    svc.merge_request(session, actor(session, "dispatcher"), second, first, now=T0)
    third = submit(session, settings, LEAK + "。", phone="13900000003")
    session.commit()
    found = duplicates.find_duplicates(session, None, third)
    assert len(found) == 1 and found[0].request.issue_id == first.issue_id and found[0].issue_size == 2
    assert f"Part of issue #{first.issue_id} (2 requests)" in found[0].reasons("en")
    # A request already in the issue is not offered the issue's own requests, only the new one.
    assert [c.request.id for c in duplicates.find_duplicates(session, None, second)] == [third.id]


def test_rebuild_gives_the_index_intake_wrote(session: Session, settings: Settings, city: City) -> None:
    requests = [
        submit(session, settings, t, phone=f"1390000000{i}") for i, t in enumerate((LEAK, LEAK_2, NOISE))
    ]
    session.commit()
    before = sorted(session.execute(select(DuplicateBand.band_key, DuplicateBand.request_id)).all())
    signed = sorted(
        session.execute(select(DuplicateSignature.request_id, DuplicateSignature.signature)).all()
    )
    assert len(signed) == 3
    session.execute(delete(DuplicateBand))
    session.execute(delete(DuplicateSignature))
    session.commit()
    assert duplicates.find_duplicates(session, None, requests[1]) == []
    assert duplicates_index.rebuild_index(session, batch=2) == (3, len(before))
    session.commit()
    assert sorted(session.execute(select(DuplicateBand.band_key, DuplicateBand.request_id)).all()) == before
    assert (
        sorted(session.execute(select(DuplicateSignature.request_id, DuplicateSignature.signature)).all())
        == signed
    )


def test_signatures_estimate_the_text_similarity() -> None:
    pairs = [(LEAK, LEAK_2), (LEAK, NOISE), (LEAK, LEAK + "谢谢")]
    for a, b in pairs:
        one = duplicates_index.make_profile(1, "", a, T0, None, None, None, None)
        two = duplicates_index.make_profile(2, "", b, T0, None, None, None, None)
        assert two.signature is not None
        exact = duplicates.jaccard(one.shingles, two.shingles)
        estimate = duplicates.estimated_jaccard(
            one.signature, duplicates_index.signature_bytes(two.signature)
        )
        assert abs(exact - estimate) < 0.12, (a, b, exact, estimate)
    assert duplicates.estimated_jaccard(one.signature, b"\x00" * 8) == 0.0  # other parameters: not comparable


def test_batch_similarities_match_one_by_one() -> None:
    mine = duplicates_index.make_profile(1, "", LEAK, T0, None, None, None, None).signature
    others = [
        duplicates_index.make_profile(2, "", t, T0, None, None, None, None).signature for t in (LEAK_2, NOISE)
    ]
    stored = [duplicates_index.signature_bytes(o) for o in others if o is not None] + [None, b"\x00" * 8]
    batch = duplicates.text_similarities(mine, stored)
    assert list(batch) == [duplicates.estimated_jaccard(mine, s) for s in stored]
    assert batch[0] > 0.5 and batch[2] == batch[3] == 0.0
    assert list(duplicates.text_similarities(None, stored)) == [0.0] * 4


@pytest.mark.slow
def test_datasketch_is_imported_on_first_use_only(other_process: dict[str, object]) -> None:
    """`import datasketch` pulls in scipy.integrate (about 1 s): the app and the commands must not pay it at start."""
    assert other_process["at_start"] is False
    assert other_process["after_signature"] is True


def test_a_key_shared_by_very_many_requests_adds_its_newest_only(
    session: Session, settings: Settings, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each key adds its newest PER_KEY requests (PostgreSQL reads no more; SQLite reads all, keeps those)."""
    same = [submit(session, settings, LEAK, phone=f"1390000000{i}") for i in range(5)]
    session.commit()
    monkeypatch.setattr(duplicates, "PER_KEY", 2)
    found = [c.request.id for c in duplicates.find_duplicates(session, None, same[0], min_score=0)]
    assert found == [same[4].id, same[3].id]
    # Closed requests are passed over after ranking, and leave room for open ones within RANKED.
    session.execute(update(Request).where(Request.id == same[4].id).values(status="closed"))
    session.commit()
    found = [c.request.id for c in duplicates.find_duplicates(session, None, same[0], min_score=0)]
    assert found == [same[3].id]
    monkeypatch.setattr(duplicates, "PER_KEY", 4)
    monkeypatch.setattr(duplicates, "RANKED", 3)
    monkeypatch.setattr(duplicates, "CANDIDATES", 2)
    found = [c.request.id for c in duplicates.find_duplicates(session, None, same[0], min_score=0)]
    assert found == [same[3].id, same[2].id]


def test_text_that_cannot_be_analysed_does_not_break_intake(
    session: Session, settings: Settings, city: City
) -> None:
    garbled = submit(session, settings, "ÄãºÃ£¬ÎÒ¼ÒÂ¥µÀÀïÓÐÃºÆøÎ¶£¬Çë¾¡¿ì´¦Àí")
    session.commit()
    assert bands(session, garbled) == 0  # no text to sign, no place named
    assert duplicates.find_duplicates(session, None, garbled) == []
    huge = submit(session, settings, LEAK + "。" + "水" * 30_000, phone="13900000002")
    session.commit()
    assert bands(session, huge) > duplicates_index.BANDS


# ---------------------------------------------------------------- the API


def _post(client: TestClient, headers: dict[str, str], text: str, phone: str) -> str:
    created = client.post(
        "/api/v1/requests",
        json={"text": text, "lat": 0.2, "lon": 0.2, "category": "water", "contact_phone": phone},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["request"]["tracking_number"])


def test_api_scope_and_errors(client: TestClient, session: Session, settings: Settings, city: City) -> None:
    resident = auth(client, "resident")
    first = _post(client, resident, LEAK, "13912345678")
    second = _post(client, auth(client, "resident2"), LEAK_2, "13912345679")
    dispatcher = auth(client, "dispatcher")
    found = client.get(f"/api/v1/requests/{second}/duplicates", headers=dispatcher)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["tracking_number"] == second and body["index"].startswith("minhash-lsh")
    assert [c["tracking_number"] for c in body["candidates"]] == [first]
    candidate = body["candidates"][0]
    assert candidate["category"] == {"code": "water", "name": "停水"} and candidate["status_name"] == "已受理"
    assert candidate["reasons"][0].startswith("文字相似度")
    english = client.get(f"/api/v1/requests/{second}/duplicates?lang=en", headers=dispatcher).json()
    assert english["candidates"][0]["reasons"][0].startswith("text similarity")
    assert english["candidates"][0]["status_name"] == "received"
    # No one signed in; a resident (even on their own request); a request one may not see; an unknown one.
    assert client.get(f"/api/v1/requests/{second}/duplicates").status_code == 401
    own = client.get(f"/api/v1/requests/{first}/duplicates", headers=resident)
    assert own.status_code == 403 and own.json()["error"]["code"] == "forbidden"
    hidden = client.get(f"/api/v1/requests/{second}/duplicates", headers=resident)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "request_not_found"
    assert client.get("/api/v1/requests/26030299999999/duplicates", headers=dispatcher).status_code == 404
    for bad in ("limit=0", "limit=51", "min_score=2", "min_score=nan", "limit=x"):
        refused = client.get(f"/api/v1/requests/{second}/duplicates?{bad}", headers=dispatcher)
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "validation_failed"
    english_error = client.get(f"/api/v1/requests/{second}/duplicates?limit=0&lang=en", headers=dispatcher)
    assert "not valid" in english_error.json()["error"]["message"]


def test_api_candidates_are_scoped_like_the_request(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    first = submit(session, settings, LEAK)
    second = submit(session, settings, LEAK_2, phone="13900000002")
    third = submit(session, settings, LEAK + "！", phone="13900000003")
    session.commit()
    dispatch(session, settings, first, "D1-water", T0)
    dispatch(session, settings, third, "D1-water", T0)
    session.commit()
    district = auth(client, "d1-dispatcher")
    # The district's dispatcher sees the two requests held in the district, not the one only at the city hub.
    seen = client.get(f"/api/v1/requests/{third.tracking_number}/duplicates", headers=district).json()
    assert [c["tracking_number"] for c in seen["candidates"]] == [first.tracking_number]
    assert (
        client.get(f"/api/v1/requests/{second.tracking_number}/duplicates", headers=district).status_code
        == 404
    )
    city_wide = client.get(
        f"/api/v1/requests/{third.tracking_number}/duplicates", headers=auth(client, "dispatcher")
    )
    assert {c["tracking_number"] for c in city_wide.json()["candidates"]} == {
        first.tracking_number,
        second.tracking_number,
    }


def test_merge_keeps_every_resident_informed(client: TestClient, city: City) -> None:
    """A dispatcher finds the duplicate, merges it with the one action; both residents keep their own request
    and see every later step of it, up to the reply, on their own and by number and phone."""
    one, two = auth(client, "resident"), auth(client, "resident2")
    first = _post(client, one, LEAK, "13912345678")
    second = _post(client, two, LEAK_2, "13912340002")
    dispatcher = auth(client, "dispatcher")
    candidates = client.get(f"/api/v1/requests/{second}/duplicates", headers=dispatcher).json()["candidates"]
    merged = client.post(
        f"/api/v1/requests/{second}/merge",
        json={"into": candidates[0]["tracking_number"]},
        headers=dispatcher,
    )
    assert merged.status_code == 200, merged.text
    issue_id = merged.json()["issue_id"]
    assert issue_id is not None
    water = client.get("/api/v1/units?kind=department", headers=dispatcher)
    lead = next(u["id"] for u in water.json() if u["code"] == "D1-water")
    handler = auth(client, "d1-water-handler")
    for number in (first, second):
        steps = [
            (dispatcher, "dispatch", {"lead_unit_id": lead}),
            (handler, "sign", None),
            (handler, "contact", None),
            (handler, "reply", {"text": "水管已修复，供水恢复。"}),
        ]
        for headers, step, body in steps:
            done = client.post(f"/api/v1/requests/{number}/{step}", json=body, headers=headers)
            assert done.status_code == 200, (step, done.text)
    for headers, number, phone in ((one, first, "5678"), (two, second, "0002")):
        own = client.get(f"/api/v1/requests/{number}", headers=headers).json()
        assert own["issue_id"] == issue_id and own["status"] == "replied"
        assert own["reply"] == "水管已修复，供水恢复。"
        assert [e["action"] for e in own["events"]] == [
            "receive",
            "merge",
            "dispatch",
            "sign",
            "contact",
            "reply",
        ]
        tracked = client.post("/api/v1/track", json={"tracking_number": number, "phone_last4": phone})
        assert tracked.status_code == 200 and tracked.json()["reply"] == "水管已修复，供水恢复。"
    # The merged requests are out of each other's candidates now, and a new one finds the issue once.
    assert client.get(f"/api/v1/requests/{second}/duplicates", headers=dispatcher).json()["candidates"] == []
    third = _post(client, auth(client, "resident"), LEAK + "。", "13912345678")
    offered = client.get(f"/api/v1/requests/{third}/duplicates", headers=dispatcher).json()["candidates"]
    assert len(offered) == 1 and offered[0]["issue_id"] == issue_id and offered[0]["issue_size"] == 2


@pytest.mark.parametrize("field", ["title", "text"])
def test_titles_count_as_text(session: Session, settings: Settings, city: City, field: str) -> None:
    first = submit(session, settings, LEAK)
    data = svc.Submission(
        text=LEAK_2 if field == "text" else "见标题",
        title=LEAK_2 if field == "title" else "",
        lat=0.2,
        lon=0.2,
        category_code="water",
        contact_phone="13900000002",
    )
    second = svc.submit_request(session, actor(session, "resident"), data, settings, T0)
    session.commit()
    assert [c.request.id for c in duplicates.find_duplicates(session, None, second)] == [first.id]


def test_prune_job_keeps_the_index_to_open_requests(session: Session, settings: Settings, city: City) -> None:
    """`duplicates_prune`: a closed request leaves the index, a reopened one joins it again, each once."""
    from chengzhi.db import get_sessionmaker
    from chengzhi.jobs.service import run_job

    first = submit(session, settings, LEAK)
    other = submit(session, settings, NOISE, phone="13900000009")
    session.commit()
    dispatch(session, settings, first, "D1-water", T0)
    handle(session, settings, first, "d1-water-handler", T0 + dt.timedelta(minutes=5))
    svc.review_request(session, actor(session, "resident"), first, True, 5, now=T0 + dt.timedelta(hours=1))
    svc.close_request(session, actor(session, "dispatcher"), first, now=T0 + dt.timedelta(hours=2))
    session.commit()
    indexed = bands(session, first)
    assert indexed > 0 and bands(session, other) > 0

    factory = get_sessionmaker(settings.database_url)
    # Changed less than ten minutes before the round: left for the next one.
    early = run_job(factory, settings, "duplicates_prune", T0 + dt.timedelta(hours=2, minutes=5))
    assert early is not None and early["dropped"] == 0
    session.commit()  # a new snapshot: the job wrote in its own transaction
    assert bands(session, first) == indexed

    done = run_job(factory, settings, "duplicates_prune", T0 + dt.timedelta(days=1))
    assert done is not None and done["dropped"] == 1 and done["indexed"] == 0
    session.commit()  # a new snapshot: the job wrote in its own transaction
    assert bands(session, first) == 0 and bands(session, other) > 0
    assert session.get(DuplicateSignature, first.id) is None

    again = run_job(factory, settings, "duplicates_prune", T0 + dt.timedelta(days=1, minutes=1))
    assert again == {"seen": 0, "dropped": 0, "indexed": 0, "cursor": done["cursor"]}
    session.commit()

    first = session.get(Request, first.id)  # type: ignore[assignment]
    svc.reopen_request(
        session, actor(session, "dispatcher"), first, "漏水又出现了", now=T0 + dt.timedelta(days=2)
    )
    session.commit()
    back = run_job(factory, settings, "duplicates_prune", T0 + dt.timedelta(days=3))
    assert back is not None and back["indexed"] == 1 and back["dropped"] == 0
    session.commit()  # a new snapshot: the job wrote in its own transaction
    assert bands(session, first) == indexed
    newcomer = submit(session, settings, LEAK_2, phone="13900000002", now=T0 + dt.timedelta(days=3))
    session.commit()
    assert [c.request.id for c in duplicates.find_duplicates(session, None, newcomer)] == [first.id]
