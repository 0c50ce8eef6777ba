"""schemathesis against the gateway's own OpenAPI document: no input makes it answer 5xx."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.integration


@pytest.fixture
def api_schema(stack):
    document = requests.get(f"{stack.url}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.base_url = stack.url
    token = stack.token("fuzzer")
    schema.config.headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
