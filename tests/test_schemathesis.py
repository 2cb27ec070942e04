"""Schemathesis against both OpenAPI documents, through the WSGI apps on PostgreSQL: no 5xx,
answers that match the documents, what the schema allows is accepted and what it forbids is
refused (issue 7, item 12).

The budget is fixed so ``make test`` stays quick: ``TIPLINE_SCHEMATHESIS_EXAMPLES`` examples
per operation (default 25). Raise it to search longer, e.g.
``TIPLINE_SCHEMATHESIS_EXAMPLES=500 pytest tests/test_schemathesis.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from tests.conftest import _empty
from tipline.intake.db import make_engine, transaction
from tipline.intake.submit import Report
from tipline.triage import api
from tipline.triage.accounts import add_officer

EXAMPLES = int(os.environ.get("TIPLINE_SCHEMATHESIS_EXAMPLES", "25"))
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is repeatable
    suppress_health_check=list(HealthCheck),
    database=None,
)
# Refusals the schema cannot express (an unknown region code, an identity card's check digit,
# a date in the future, a tip already decided) use these codes; anything else for a request
# the schema allows (missing, type, too_long, unknown...) is a mismatch between document and
# code.
SEMANTIC = {"invalid", "conflict", "receipt_typo", "unknown_receipt", "malformed_receipt"}


@pytest.fixture
def database_url(pg_database: str) -> str:
    """PostgreSQL only: NUL and overflowing integers break only there."""
    engine = make_engine(pg_database)
    _empty(engine)
    engine.dispose()
    return pg_database


@schemathesis.check
def schema_allows_what_the_code_accepts(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the schema allows is refused only for a rule the schema cannot state."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return None
    if response.status_code != 400:
        return None
    codes = {item["code"] for item in response.json()["problems"]}
    assert codes <= SEMANTIC, f"schema-valid request refused with {codes}: {response.text}"
    return True


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
        schema_allows_what_the_code_accepts,
    ]


# The portal: a report to read back with its receipt.


@pytest.fixture
def portal_api(portal_app: Flask) -> Iterator[Any]:
    portal_app.config["RATELIMIT_ENABLED"] = False
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", portal_app)


@pytest.fixture
def receipt(portal_app: Flask) -> str:
    report = Report(category="drug_resale", region="441502", text="有人回收医保药品。")
    stored = portal_app.extensions["portal"].submitter.submit(report)
    assert stored.receipt is not None
    return stored.receipt.display


def run_every_operation(schema: Any, headers: dict[str, str]) -> None:
    """Each operation, in positive and negative mode, within the budget."""
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @BUDGET
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=_checks())

            call()


def test_portal_api_matches_its_document(portal_api: Any, receipt: str) -> None:
    run_every_operation(portal_api, {"Authorization": f"Receipt {receipt}"})


# Triage: an officer with a token, and a tip in their scope.


@pytest.fixture
def triage_api(triage_app: Flask, bearer: str) -> Iterator[Any]:
    headers = {"Authorization": f"Bearer {bearer}"}
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", triage_app, headers=headers)


@pytest.fixture
def bearer(triage_app: Flask) -> str:
    services = triage_app.extensions["triage"]
    with transaction(services.sessions) as session:
        add_officer(session, "desk", "a long test password", role="supervisor",
                    bureau="hrss_fund_supervision", region="441500", requested_by="test",
                    approved_by="test")  # fmt: skip
        token = api.issue_token(session, "desk", actor="test")
    report = Report(category="fake_docs", region="441502", text="举报", channel="letter")
    services.submitter.submit(report, with_receipt=False)
    return token


def test_triage_api_matches_its_document(triage_api: Any, bearer: str) -> None:
    run_every_operation(triage_api, {"Authorization": f"Bearer {bearer}"})
