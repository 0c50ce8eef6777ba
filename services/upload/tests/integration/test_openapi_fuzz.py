"""schemathesis against the gateway's own OpenAPI document: no input makes it answer 5xx, one
operation at a time and in stateful sequences (saves followed by their records) with data that
breaks the schema on purpose."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

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


def test_stateful_sequences_with_negative_data_never_answer_5xx(api_schema):
    api_schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

    class Sequences(api_schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"timeout": 30}  # a hang fails the run instead of stalling it

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=[not_a_server_error], transport_kwargs=kwargs)

    Sequences.run(
        settings=settings(
            max_examples=30, stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)
        )
    )
