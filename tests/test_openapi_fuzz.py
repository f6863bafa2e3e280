"""schemathesis over the served OpenAPI document, against the live server on 127.0.0.1.

Every operation is fed generated requests, valid and invalid (positive and negative
generation), with the bearer token. It must never answer 5xx, every answer must match the
schema declared for its status, every status must be declared, and a request without the
token must be refused. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web_support import VERSION, Server, config_with, running_server
from web.openapi import OPERATIONS, openapi_document

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[Server]:
    # A generous rate limit, so that bodies reach validation instead of meeting 429.
    with running_server(
        config_with(mutations_per_minute=100_000, orders_per_minute=100_000)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: Server) -> BaseSchema:
    url = fuzzed_server.url.removesuffix("/api/v1")
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    schema.config.update(base_url=url)
    return schema


# One test per documented operation (the served document is the one fuzzed; this list only
# names the tests, and a test fails if the served document lacks its operation).
OPERATION_NAMES = [(op.method.upper(), op.path) for op in OPERATIONS] + [
    ("GET", "/api/v1/openapi.json")
]


@pytest.mark.parametrize(
    ("method", "path"), OPERATION_NAMES, ids=[f"{m} {p}" for m, p in OPERATION_NAMES]
)
def test_the_api_honours_its_openapi_document(
    api_schema: BaseSchema, fuzzed_server: Server, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case[Any]) -> None:
        case.call_and_validate(
            headers=fuzzed_server.auth,
            timeout=10,
            checks=[
                not_a_server_error,
                response_schema_conformance,
                status_code_conformance,
                content_type_conformance,
                ignored_auth,
            ],
        )

    fuzz()


def test_the_document_is_generated_and_declares_auth_and_errors(fuzzed_server: Server) -> None:
    served = requests.get(f"{fuzzed_server.url}/openapi.json", timeout=10).json()
    assert served == openapi_document(VERSION)  # no token needed, and nothing hand-edited
    assert served["openapi"].startswith("3.1")
    assert served["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": served["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, methods in served["paths"].items():
        for method, operation in methods.items():
            public = operation.get("security") == []
            assert public == (path in {"/api/v1/health", "/api/v1/openapi.json"}), path
            if not public:
                assert operation["responses"]["401"]["content"]["application/json"]["schema"] == (
                    envelope
                ), f"{method} {path}"
            if method == "post":
                assert {"400", "429", "503"} <= set(operation["responses"]), path
