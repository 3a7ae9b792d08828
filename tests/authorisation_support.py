"""What the authorisation matrix needs to call every operation as every role: credentials made directly (bearer
tokens for the API, server-side sessions in a signed cookie for pages, no argon2), a city with one user of each role
in one street, targets in and out of that street's scope, a minimal valid body for each operation, and the check of
the answers against the written policy (`chengzhi.security.policy.POLICY`). The matrix runs in two halves, the API's
operations and the pages' (tests/test_authorisation_matrix_api.py, tests/test_authorisation_matrix_pages.py); each
half makes every target it calls on, so that neither depends on what the other did first."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import Mount

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.org import sessions
from chengzhi.org.models import Role, User
from chengzhi.org.service import issue_token
from chengzhi.participate import topics
from chengzhi.security.policy import POLICY, SIGN_IN, Rule

from . import steps
from .factories import City, make_user
from .test_photos import image_bytes

STREET = "D1S1"  # every matrix user holds their role here (residents: at the city)
ROLES = [None, *(role.value for role in Role)]  # None: anonymous


def matrix_user(role: str) -> str:
    return f"m-{role}"


def add_matrix_users(session: Session, city: City) -> None:
    """One user of each role; all at the highest identity level (real name verified), so that the matrix sees the
    role checks and not the identity levels' (org.levels, tested on their own)."""
    verified = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for role in Role:
        user = make_user(
            session, city, matrix_user(role.value), role, "city" if role == Role.resident else STREET
        )
        user.phone_verified_at = user.real_name_verified_at = verified
    session.flush()


@dataclass
class Targets:
    """Path parameter values: `inside` names things within the matrix users' scope; each entry of `outside` names
    them in another street, another district and another department (or another resident's)."""

    inside: dict[str, str] = field(default_factory=dict)
    outside: list[dict[str, str]] = field(default_factory=list)


def build_targets(client: TestClient, session: Session, settings: Settings, city: City) -> Targets:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    made = {}
    for key, where, category, by, lead in (
        ("in", "D1S1C1", "litter", matrix_user("resident"), "D1S1C1"),
        ("in2", "D1S1C2", "litter", matrix_user("resident"), "D1S1C2"),
        ("street", "D1S2C1", "litter", "resident2", "D1S2C1"),
        ("district", "D2S1C1", "litter", "resident2", "D2S1C1"),
        ("department", "D2S1C1", "bus", "resident2", "city-transport"),
    ):
        request = steps.submit(session, settings, now, by=by, category=category, where=where)
        steps.dispatch(session, settings, request, lead, now)
        made[key] = request
    # A candidate focus topic for next month, that residents may vote for.
    topic = topics.propose(
        session,
        steps.actor(session, matrix_user("leader")),
        month=topics.next_month(now.date()),
        title="背街小巷整治",
        now=now,
    )
    session.commit()
    photos = {}
    for key, request in made.items():
        if key == "in2":
            continue
        headers = token_headers(settings, "resident2" if key != "in" else matrix_user("resident"))
        response = client.post(
            f"/api/v1/requests/{request.tracking_number}/photos",
            files={"photo": ("p.jpg", image_bytes("JPEG"), "image/jpeg")},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        photos[key] = str(response.json()["id"])

    def values(key: str, unit: str, user: str) -> dict[str, str]:
        request = made[key]
        return {
            "ref": request.tracking_number,
            "number": request.tracking_number,
            "request_id": str(request.id),
            "service_request_id": request.tracking_number,
            "photo_id": photos[key],
            "unit_id": str(city.unit(unit).id),
            "user_id": str(city.users[user].id),
            "other_number": made["in2"].tracking_number,
            "topic_id": str(topic.id),
        }

    return Targets(
        inside=values("in", "D1S1C1", "d1s1c1-handler"),
        outside=[
            values("street", "D1S2", "d1s2-handler"),
            values("district", "D2", "d2-supervisor"),
            values("department", "city-transport", "d1-water-handler"),
        ],
    )


def token_headers(settings: Settings, username: str) -> dict[str, str]:
    with get_sessionmaker(settings.database_url)() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        token, _record = issue_token(session, user, days=1)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def page_cookie(settings: Settings, username: str) -> tuple[str, str]:
    """A signed-in browser's session cookie (as Starlette's SessionMiddleware signs it) and its CSRF token."""
    with get_sessionmaker(settings.database_url)() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        token, _record = sessions.start_session(
            session, user, settings, how=sessions.HowSignedIn(second_factor="code")
        )
        session.commit()
    csrf = f"csrf-{username}"
    data = b64encode(json.dumps({sessions.COOKIE_KEY: token, "csrf": csrf}).encode())
    return TimestampSigner(str(settings.secret_key)).sign(data).decode(), csrf


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    api: bool  # in the OpenAPI document (JSON bodies, bearer tokens) or a page (forms, the session cookie)
    body: Any = None
    files: tuple[str, ...] = ()  # multipart file fields


def operations(client: TestClient) -> list[Operation]:
    """Every (method, path) the application answers, from its routes (static files left out)."""
    spec = client.get("/openapi.json").json()
    found = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            for method in sorted(getattr(context, "methods", None) or ()):
                if method == "HEAD":
                    continue
                documented = spec["paths"].get(context.path, {}).get(method.lower())
                body, files = body_for(spec, documented) if documented else (None, ())
                found.append(Operation(method, context.path, documented is not None, body, files))
    return found


def body_for(spec: dict[str, Any], operation: dict[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """A JSON body, or the form fields and file fields of a multipart body."""
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        schema = resolve(spec, content["multipart/form-data"]["schema"])
        binary = tuple(
            name
            for name, prop in schema.get("properties", {}).items()
            if prop.get("contentMediaType") or prop.get("format") == "binary"
        )
        fields = example(spec, schema)
        return {k: v for k, v in fields.items() if k not in binary}, binary
    schema = content.get("application/json", {}).get("schema")
    return (None if schema is None else example(spec, schema)), ()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        found: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return found
    return schema


# Values for fields whose schema alone does not say what is valid (patterns, ids of real rows): "{unit_id}" and
# "{other_number}" are filled with the targets in scope when the call is made.
HINTS: dict[str, Any] = {
    "unit_id": "{unit_id}",
    "lead_unit_id": "{unit_id}",
    "parent_id": "{unit_id}",
    "into": "{other_number}",
    "month": "2027-01",
    "current_password": "demo-password-1",
    "new_password": "demo-password-1",
    "name": "m-dataset",
    "kind": "community",
    "uscc": "91350100M000100Y43",
    "dataset": "m-dataset",
}
# Page forms (besides the CSRF token), for pages that read their input before deciding who may act.
FORMS: dict[str, dict[str, str]] = {
    "/data/new": {"name": "m-dataset", "title": "数据集", "unit_id": "{unit_id}"},
    "/staff/knowledge/new": {"questions": "怎么办", "answer": "这样办", "unit_id": "{unit_id}"},
    "/staff/topics": {"month": "2027-01", "title": "街道停车"},
    "/staff/topics/{topic_id}/choose": {
        "goal": "减少投诉",
        "deadline": "2027-01-31",
        "lead_unit": "{unit_id}",
    },
    "/staff/topics/{topic_id}/progress": {"text": "已完成一半"},
    "/staff/topics/{topic_id}/decide": {"accept": "1"},
    "/staff/publications/notices": {"unit": "{unit_id}", "title": "停水通知", "body": "明日停水"},
    "/staff/publications/replies": {"number": "{other_number}", "consent": "1"},
    "/staff/webhooks": {"name": "m-hook", "url": "http://127.0.0.1:9/hook", "events": "request.created"},
}


def example(spec: dict[str, Any], schema: dict[str, Any], name: str = "") -> Any:
    """The smallest value the schema accepts (required properties only), for calls that must get past validation
    into the operation's own checks."""
    hint = HINTS.get(name)
    if "$ref" in schema:
        return example(spec, resolve(spec, schema), name)
    if "enum" in schema:
        return hint if hint in schema["enum"] else schema["enum"][0]
    if hint is not None and (schema.get("type") != "integer" or hint == "{unit_id}"):
        return hint
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example(spec, options[0], name)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        wanted = [key for key in props if key in schema.get("required", []) or key in HINTS]
        return {key: example(spec, props[key], key) for key in wanted}
    if kind == "array":
        return [example(spec, schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-12-01T00:00:00Z"
        if schema.get("format") == "date":
            return "2026-12-01"
        if "pattern" in schema:
            return "m-abc"
        return "测试文本abc".ljust(schema.get("minLength", 0), "x")[: schema.get("maxLength", 100)]
    return None


PLACEHOLDERS = {
    "uscc": "91350100M000100Y43",
    "fmt": "json",
    "extension": "jsonld",
    "service_code": "litter",
    "code": "litter",
}


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(
        r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), PLACEHOLDERS.get(m.group(1), "1")), path
    )


def fill_body(body: Any, values: dict[str, str]) -> Any:
    """The body with the hints' "{unit_id}" and "{other_number}" replaced by the targets in scope."""
    if isinstance(body, dict):
        return {k: fill_body(v, values) for k, v in body.items()}
    if isinstance(body, list):
        return [fill_body(v, values) for v in body]
    if body == "{unit_id}":
        return int(values.get("unit_id", "1"))
    if body == "{other_number}":
        return values.get("other_number", "26120600000001")
    return body


def call(
    client: TestClient, op: Operation, values: dict[str, str], credentials: dict[str, Any] | None
) -> tuple[int, str]:
    """The status and redirect target of one call as one caller (`credentials`: None for anonymous)."""
    url = fill(op.path, values)
    headers: dict[str, str] = {"accept": "application/json" if op.api else "text/html"}
    client.cookies.clear()
    data = None
    if credentials is not None:
        if op.api:
            headers.update(credentials["bearer"])
        else:
            client.cookies.set("chengzhi_session", credentials["cookie"])
            data = {"csrf_token": credentials["csrf"]}
    body = fill_body(op.body, values)
    if op.method in ("GET", "DELETE"):
        response = client.request(op.method, url, headers=headers, follow_redirects=False)
    elif op.files:
        files = {name: ("p.jpg", image_bytes("JPEG"), "image/jpeg") for name in op.files}
        response = client.request(
            op.method, url, headers=headers, data=body, files=files, follow_redirects=False
        )
    elif op.api:
        json_body = body if body is not None else {}
        response = client.request(op.method, url, headers=headers, json=json_body, follow_redirects=False)
    else:
        form = {**fill_body(FORMS.get(op.path, {}), values), **(data or {})}
        response = client.request(op.method, url, headers=headers, data=form, follow_redirects=False)
    client.cookies.clear()
    if os.environ.get("MATRIX_DEBUG") and response.status_code == 422:
        text = response.text
        at = max(text.find('role="alert"'), text.find("error"), 0)
        print("DEBUG", op.method, url, body, text[:300] if op.api else text[at : at + 400])
    return response.status_code, response.headers.get("location", "")


# ---------------------------------------------------------------- the check

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


def check_matrix(
    client: TestClient, session: Session, settings: Settings, city: City, *, api: bool
) -> tuple[int, list[str]]:
    """Every operation of one half (the API's, or the pages') as every role, in and out of scope: how many calls
    were checked, and what is wrong. `MATRIX_ONLY` (a pattern) narrows it to some operations while changing them."""
    add_matrix_users(session, city)
    session.commit()
    targets = build_targets(client, session, settings, city)
    only = os.environ.get("MATRIX_ONLY", "")
    ops = [op for op in operations(client) if op.api == api and re.search(only, f"{op.method} {op.path}")]
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
    return checked, wrong
