"""No input yields a 500, anywhere in the API: a Hypothesis fuzz driven by the app's own OpenAPI document.

For every operation, bodies and parameters are drawn from the operation's JSON schema (so that many calls get past
validation into the service layer), with any JSON at all mixed in; path parameters name real rows as often as
made-up ones. Every answer must be below 500 and, when it is an error, in the error envelope. Sign-in and sign-out
are left out: they have their own tests, and argon2 would make each call slow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chengzhi.app import create_app
from chengzhi.config import Settings

from .factories import City
from .open311_helpers import assert_open311_error
from .test_api_errors import (
    SUBMIT,
    assert_no_server_error,
    created_number,
    json_values,
    submit,
    token_headers,
)

SKIPPED = {("post", "/api/v1/auth/token"), ("post", "/api/v1/auth/session"), ("delete", "/api/v1/auth/token")}
SKIPPED |= {("delete", "/api/v1/auth/session")}
USERS = [None, "admin", "dispatcher", "operator", "d1s1c1-handler", "supervisor", "resident"]


class SchemaStrategies:
    """Hypothesis strategies for the subset of JSON Schema that FastAPI writes into the OpenAPI document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.components: dict[str, Any] = spec.get("components", {}).get("schemas", {})

    def for_schema(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        if "$ref" in schema:
            return self.for_schema(self.components[schema["$ref"].rsplit("/", 1)[-1]], depth)
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "const" in schema:
            return st.just(schema["const"])
        if "anyOf" in schema or "oneOf" in schema:
            return st.one_of(
                [self.for_schema(s, depth) for s in schema.get("anyOf", schema.get("oneOf", []))]
            )
        kind = schema.get("type")
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            return st.integers(
                min_value=int(low) if low is not None else None,
                max_value=int(high) if high is not None else None,
            )
        if kind == "number":
            return st.floats(
                min_value=schema.get("minimum"),
                max_value=schema.get("maximum"),
                allow_nan=False,
                allow_infinity=False,
            )
        if kind == "string":
            if "pattern" in schema:
                return st.from_regex(schema["pattern"], fullmatch=True).filter(
                    lambda s: len(s) <= schema.get("maxLength", 10**6)
                )
            return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40))
        if kind == "array":
            items = self.for_schema(schema.get("items", {}), depth + 1) if depth < 4 else st.nothing()
            return st.lists(
                items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3)
            )
        if kind == "object" or "properties" in schema:
            if depth >= 4:
                return st.just({})
            properties = schema.get("properties", {})
            required = set(schema.get("required", []))
            extra = schema.get("additionalProperties")
            objects = st.fixed_dictionaries(
                {k: self.for_schema(v, depth + 1) for k, v in properties.items() if k in required},
                optional={
                    k: self.for_schema(v, depth + 1) for k, v in properties.items() if k not in required
                },
            )
            if isinstance(extra, dict) and not properties:
                objects = st.dictionaries(st.text(max_size=10), self.for_schema(extra, depth + 1), max_size=3)
            return objects
        return json_values


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: list[dict[str, Any]]
    body: dict[str, Any] | None
    multipart: bool


def operations(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if (method, path) in SKIPPED:
                continue
            content = op.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            found.append(
                Operation(method, path, op.get("parameters", []), body, "multipart/form-data" in content)
            )
    return found


@dataclass
class World:
    client: TestClient
    headers: dict[str | None, dict[str, str]]
    real: dict[str, list[Any]]


@pytest.fixture
def world(settings: Settings, city: City) -> Iterator[World]:
    roomy = settings.model_copy(update={"anonymous_submit_rate": "100000/minute"})
    with TestClient(create_app(roomy), raise_server_exceptions=False) as client:
        headers: dict[str | None, dict[str, str]] = {u: token_headers(client, u) for u in USERS if u}
        headers[None] = {}
        numbers = [created_number(submit(client, headers["operator"], category="litter")) for _ in range(2)]
        client.post(
            f"{SUBMIT}/{numbers[1]}/dispatch",
            json={"lead_unit_id": city.unit("D1S1C1").id},
            headers=headers["dispatcher"],
        )
        real: dict[str, list[Any]] = {
            "ref": numbers,
            "unit_id": [u.id for u in city.units.values()],
            "code": list(city.categories),
            "user_id": [u.id for u in city.users.values()],
            "photo_id": [1],
        }
        yield World(client, headers, real)


SPEC = create_app(Settings(scheduler_enabled=False, _env_file=None)).openapi()
STRATEGIES = SchemaStrategies(SPEC)
OPERATIONS = operations(SPEC)


def _parameter_value(draw: Callable[..., Any], world: World, parameter: dict[str, Any]) -> Any:
    name = parameter["name"]
    real = world.real.get(name)
    if real and draw(st.booleans()):
        return draw(st.sampled_from(real))
    if draw(st.sampled_from(range(5))) == 0:
        return draw(st.text(max_size=20) | st.integers())
    return draw(STRATEGIES.for_schema(parameter.get("schema", {})))


def _as_text(value: Any) -> str:
    return (
        json.dumps(value)
        if isinstance(value, dict | list)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


def test_no_call_to_any_operation_yields_a_500(world: World) -> None:
    # The world (app, city, signed-in users) is built once for all examples, by the fixture, and the examples are
    # drawn inside the test: Hypothesis then has no function-scoped fixture to warn about.
    @hypothesis_settings(max_examples=250, deadline=None)
    @given(data=st.data(), operation=st.sampled_from(OPERATIONS), user=st.sampled_from(USERS))
    def call(data: st.DataObject, operation: Operation, user: str | None) -> None:
        path = operation.path
        query: dict[str, str] = {}
        headers = dict(world.headers[user])
        for parameter in operation.parameters:
            if parameter["in"] != "path" and not parameter.get("required") and data.draw(st.booleans()):
                continue
            value = _parameter_value(data.draw, world, parameter)
            if value is None:
                continue
            text = _as_text(value)
            if parameter["in"] == "path":
                # Keep the value one path segment; "%" and "?" would change what is being asked.
                segment = re.sub(r"[/?#%\x00-\x1f\x7f]", "_", text) or "_"
                path = path.replace("{" + parameter["name"] + "}", segment)
            elif parameter["in"] == "query":
                query[parameter["name"]] = text
            elif parameter["in"] == "header" and text.isascii() and text.isprintable() and text.strip():
                headers[parameter["name"]] = text
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        if operation.body is not None:
            body = data.draw(STRATEGIES.for_schema(operation.body) | json_values, label="body")
            kwargs["content"] = json.dumps(body, allow_nan=True).encode()
            headers["content-type"] = "application/json"
        elif operation.multipart:
            kwargs["files"] = {"photo": ("p.jpg", data.draw(st.binary(max_size=64)), "image/jpeg")}
        response = world.client.request(operation.method.upper(), path, **kwargs)
        event(f"{response.status_code}")
        if operation.path.startswith("/open311/"):
            # Open311 answers errors as its specification says (docs/open311.md), not in the platform's envelope.
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert_open311_error(response)
            return
        if operation.path.startswith(("/api/3/action/", "/api/action/")):
            # The CKAN Action API answers in CKAN's envelope (docs/opendata.md), errors included.
            assert response.status_code < 500, response.text
            body = response.json()
            assert body["success"] is (response.status_code < 400), response.text
            if response.status_code >= 400:
                assert body["error"]["__type"] and body["error"]["message"], response.text
            return
        assert_no_server_error(response)

    call()
