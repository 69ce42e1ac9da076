"""Schemathesis against the served OpenAPI spec: no 5xx, and every response as documented.

Every operation of ``/openapi.json`` is driven with generated requests, valid ones and
schema-violating ones (``GenerationMode.NEGATIVE``), and each response must pass schemathesis's
checks: no server error, a documented status code, content type, headers and body, and a 4xx
for every request that breaks the schema (``negative_data_rejection``). Requests go in-process
through a TestClient: no network, no server to start.

Keys: admin routes run as ``admin``; users' routes with a ``user`` token for that user's own
id (a fresh token for each erasure, since erasing revokes it); the rest as ``client``. Two more
passes prove the auth responses are what the spec says: 401 without a key, 403 with a user
token on anything but its own data.

The schema is loaded at collection, because schemathesis makes one test per operation: it is
what an app serves before its lifespan opens any store. ``test_served_spec_is_the_one_tested``
checks that the running app serves the same document. The running app is this module's own
platform, so erasures, pool deletes and activations here touch no other module's fixture.
Generation is derandomized and bounded, so a failure is the same on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ecorec.service import create_app
from ecorec.service.auth import KeyStore
from ecorec.service.schemas import ErrorResponse, EventProblem, EventsRejected, FieldError
from tests.service.conftest import Service, cheap_config, make_platform, running_service

#: every response is checked for these; negative_data_rejection only judges negative cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
BASE_URL = "http://testserver"
#: bounded and derandomized: the same cases every run, the whole module in well under a minute
FUZZ = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
AUTH_PASS = settings(FUZZ, max_examples=5)


def served_spec() -> dict[str, Any]:
    """``GET /openapi.json`` of an app whose lifespan never runs, so no store is opened."""
    app = create_app(cheap_config("sqlite:///never-opened.db"))
    spec: dict[str, Any] = TestClient(app).get("/openapi.json").json()
    return spec


def load_schema(modes: list[GenerationMode], path_regex: str = "") -> BaseSchema:
    schema = schemathesis.openapi.from_dict(served_spec())
    schema.config.generation.update(modes=modes)
    return schema.include(path_regex=path_regex) if path_regex else schema


FULL = load_schema([GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
#: valid requests to the keyed routes, for the 401 and 403 passes
KEYED = load_schema([GenerationMode.POSITIVE], path_regex="^/v1/")


class Api:
    """This module's running app, its keys, and a key store to make more."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.keys = KeyStore(service.config.storage.database_url)
        #: the user whose token reads and sets consent; another one is erased
        self.reader, self.erased = service.user_ids[0], service.user_ids[1]
        #: a token for a third user, refused on everyone else's data
        self.stranger = self.keys.create_key("user", user_id=service.user_ids[2])

    def send(self, case: Case[Any], key: str | None) -> Any:
        """Send ``case`` with ``key`` (None: no key) and return the response."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        kwargs.pop("cookies", None)  # the spec has no cookie parameters
        if isinstance(kwargs.get("data"), bytes | str):  # requests' raw body is httpx's content
            kwargs["content"] = kwargs.pop("data")
        return self.service.client.request(**kwargs)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    config = make_platform(tmp_path_factory.mktemp("schemathesis"))
    with running_service(config) as service:
        monitor = service.state.health
        if monitor is not None and monitor.snapshot is None:
            # the first background refresh may still run on a busy machine; its 503 ("no health
            # report yet") is a documented answer, but not what the admin route is tested for
            monitor.refresh()
        api = Api(service)
        yield api
        api.keys.close()


def key_for(api: Api, case: Case[Any]) -> str:
    """The key whose role the operation admits, pointing user routes at the token's own user."""
    tags = case.operation.tags or []
    if "admin" in tags:
        return api.service.keys["admin"]
    if "users" not in tags:
        return api.service.keys["client"]
    meta = case.meta
    if meta is not None and meta.is_negative_at(ParameterLocation.PATH):
        # a malformed user id must meet validation, not the "not your data" 403: admin acts
        # for anyone
        return api.service.keys["admin"]
    if case.method.upper() == "DELETE":
        case.path_parameters["user_id"] = api.erased
        # erasure revokes the user's tokens, so every erasure needs a new one
        return api.keys.create_key("user", user_id=api.erased)
    case.path_parameters["user_id"] = api.reader
    return api.service.keys["user"]


def test_served_spec_is_the_one_tested(api: Api) -> None:
    assert api.service.client.get("/openapi.json").json() == served_spec()


@FULL.parametrize()
@FUZZ
def test_operation_conforms(case: Case[Any], api: Api) -> None:
    response = api.send(case, key_for(api, case))
    case.validate_response(response, checks=CHECKS)


@KEYED.parametrize()
@AUTH_PASS
def test_without_a_key_is_401(case: Case[Any], api: Api) -> None:
    response = api.send(case, None)
    case.validate_response(response, checks=CHECKS)
    # the key is checked before the body is looked at; only the size limit comes first
    assert response.status_code in (401, 413), response.text
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


@KEYED.parametrize()
@AUTH_PASS
def test_a_user_token_elsewhere_is_403(case: Case[Any], api: Api) -> None:
    if "user_id" in case.path_parameters:
        case.path_parameters["user_id"] = api.reader  # someone else's data
    response = api.send(case, api.stranger)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code in (403, 413), response.text


# Known answers for what the fuzzing found, so each fix stays proven on its own.


def test_a_body_that_is_not_json_is_a_documented_400(api: Api) -> None:
    response = api.service.client.post(
        "/v1/recommend",
        content=b"\xc3(",  # not UTF-8 at all (malformed JSON text is a 422)
        headers={**api.service.auth("client"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    ErrorResponse.model_validate(response.json())


@pytest.mark.parametrize(
    ("method", "path", "body", "role", "wrong"),
    [
        ("POST", "/v1/recommend", {"user_id": "u1", "n": "5"}, "client", "n"),  # "5" is no n
        ("POST", "/v1/recommend", {"user_id": 7}, "client", "user_id"),  # nor 7 an id
        ("PUT", "/v1/users/{user}/consent", {"training": 0}, "admin", "training"),  # nor 0 false
    ],
)
def test_values_of_the_wrong_type_are_refused_not_converted(
    api: Api, method: str, path: str, body: dict[str, Any], role: str, wrong: str
) -> None:
    url = path.format(user=api.reader)
    response = api.service.client.request(method, url, json=body, headers=api.service.auth(role))
    assert response.status_code == 422, response.text
    errors = [FieldError.model_validate(e) for e in response.json()["detail"]]
    assert [e.loc for e in errors] == [["body", wrong]]


def test_an_integer_is_still_a_valid_float(api: Api) -> None:
    event = {"event_id": "st-int-ts", "ts": 1_800_000_000, "user_id": api.reader, "type": "click"}
    event["item_id"] = "i1"
    response = api.service.client.post(
        "/v1/events", json={"events": [event]}, headers=api.service.auth("client")
    )
    assert response.status_code == 200, response.text
    assert response.json()["received"] == 1


def test_both_kinds_of_events_422_fit_the_events_rejected_model(api: Api) -> None:
    headers = api.service.auth("client")
    shape = api.service.client.post("/v1/events", json={"events": [{}]}, headers=headers)
    bad = {"event_id": "st-bad", "ts": 1.0, "user_id": api.reader, "type": "teleport"}
    rules = api.service.client.post("/v1/events", json={"events": [bad]}, headers=headers)
    assert (shape.status_code, rules.status_code) == (422, 422)
    assert all(
        isinstance(e, FieldError) for e in EventsRejected.model_validate(shape.json()).detail
    )
    problems = EventsRejected.model_validate(rules.json()).detail
    assert all(isinstance(p, EventProblem) for p in problems)
    assert [p.event_id for p in problems if isinstance(p, EventProblem)] == ["st-bad"]
