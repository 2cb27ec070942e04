"""Schemathesis against both OpenAPI documents, through the WSGI apps on PostgreSQL: no 5xx,
answers that match the documents, what the schema allows is accepted and what it forbids is
refused (issue 7, item 12).

Each operation runs schemathesis' three phases, in positive and negative mode:

- *examples*: the documents' own ``examples`` (a known region code), so that a valid body
  is valid all through and one bad field is the only fault;
- *coverage*: deterministic boundary values from each constraint: the empty string,
  ``minLength``, ``maxLength``, ``maxLength + 1``, each type swapped, each required field
  dropped, an unknown field added. This is where "empty strings the schema allows but the
  API refuses" and "over-long text it accepts" are found;
- *fuzzing*: ``TIPLINE_SCHEMATHESIS_EXAMPLES`` random examples per operation (default 25),
  with the campaign's hostile values drawn into every string and integer (``HOSTILE``):
  blanks, NUL, 2^63, digits that pass ``str.isdigit`` but are not ASCII.

Raise the budget to search longer, e.g.
``TIPLINE_SCHEMATHESIS_EXAMPLES=500 pytest tests/test_schemathesis.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import select

from tests.conftest import _empty
from tipline.intake.config import Config
from tipline.intake.db import make_engine, transaction
from tipline.intake.jobs import process_new_tips
from tipline.intake.models import Officer, Tip
from tipline.intake.queue import InlineQueue
from tipline.intake.reading import open_tip
from tipline.intake.submit import Report
from tipline.triage import api
from tipline.triage.accounts import add_officer
from tipline.triage.cases import services as case_services
from tipline.triage.tips import decisions

EXAMPLES = int(os.environ.get("TIPLINE_SCHEMATHESIS_EXAMPLES", "25"))

# What the campaign sent: each is drawn into string and integer values, in positive mode only
# where the schema allows it and in negative mode only where it does not.
HOSTILE_STRINGS = [
    "", " ", "\t\n", "\u3000", "\x00", "a\x00b", "²", "١٢", "9223372036854775808", "-1",
    "<b></b>", "\ufeff", "A" * 201,
]  # fmt: skip
HOSTILE_INTEGERS = [0, -1, 2**31, 2**63 - 1, 2**63, 2**64]
CONFIG = {
    "seed": 20240607,  # the same examples on every run: CI is repeatable
    "dictionaries": {
        "hostile-strings": {"values": HOSTILE_STRINGS},
        "hostile-integers": {"values": HOSTILE_INTEGERS},
    },
    "generation": {
        "mode": "all",
        "max-examples": EXAMPLES,
        "allow-x00": True,
        "dictionaries": {
            "string": {"dictionary": "hostile-strings", "probability": 0.3},
            "integer": {"dictionary": "hostile-integers", "probability": 0.3},
        },
    },
    # Query strings carry text: "²" and "2^63" reach an integer parameter as strings.
    "parameters": {
        "query.limit": {"dictionary": "hostile-strings", "probability": 0.5},
        "query.offset": {"dictionary": "hostile-strings", "probability": 0.5},
    },
    "phases": {"stateful": {"enabled": False}},
}
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)

# Refusals the schema cannot express (an unknown region code, an identity card's check digit,
# a date in the future, a tip already decided; NUL and lone surrogates, which the documents
# forbid in words because jsonschema-rs cannot even hold a lone surrogate) use these codes.
# Anything else for a request the schema allows (missing, type, too_long, unknown...) is a
# mismatch between document and code.
SEMANTIC = {"invalid", "invalid_character", "conflict", "receipt_typo", "unknown_receipt",
            "malformed_receipt"}  # fmt: skip


def _load(package: str) -> Any:
    with as_file(files(package) / "openapi.json") as path:
        return schemathesis.openapi.from_path(
            str(Path(path)), config=SchemathesisConfig.from_dict(CONFIG)
        )


portal_schema = _load("tipline.portal")
triage_schema = _load("tipline.triage")


@pytest.fixture
def database_url(pg_database: str) -> str:
    """PostgreSQL only: NUL and overflowing integers break only there."""
    engine = make_engine(pg_database)
    _empty(engine)
    engine.dispose()
    return pg_database


@schemathesis.check
def schema_allows_what_the_code_accepts(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the schema allows is refused only for a rule the schema cannot state
    (schemathesis' own positive_data_acceptance, less the refusals in SEMANTIC)."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return None
    if response.status_code != 400:
        return None
    try:
        codes = {item["code"] for item in response.json()["problems"]}
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"a 400 without the documented problems: {response.text}") from None
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


def _unlimited(make_config: Callable[..., Config], **overrides: Any) -> Config:
    """Budgets out of the way: a 429 would hide what the API does with the body."""
    return make_config(receipt_limit="1000000 per minute", submit_limit="1000000 per minute",
                       **overrides)  # fmt: skip


# The portal: a report to read back with its receipt.


@pytest.fixture
def api_portal(make_config: Callable[..., Config], public_keys_dir: Path) -> Iterator[Flask]:
    from tipline.portal import create_app

    app = create_app(_unlimited(make_config, keys_dir=public_keys_dir, key_passphrase=None))
    app.config["RATELIMIT_ENABLED"] = False
    yield app
    app.extensions["portal"].engine.dispose()


@pytest.fixture
def receipt(api_portal: Flask) -> str:
    report = Report(category="drug_resale", region="441502", text="有人回收医保药品。")
    stored = api_portal.extensions["portal"].submitter.submit(report)
    assert stored.receipt is not None
    return stored.receipt.display


@portal_schema.parametrize()
@SETTINGS
def test_portal_api_matches_its_document(case: Any, api_portal: Flask, receipt: str) -> None:
    case.call_and_validate(app=api_portal, headers={"Authorization": f"Receipt {receipt}"},
                           checks=_checks())  # fmt: skip


# Triage: an officer with a token, and tips in their scope.

TIP_ID = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def api_triage(make_config: Callable[..., Config]) -> Iterator[Flask]:
    from tipline.triage import create_app

    app = create_app(make_config())
    yield app
    app.extensions["triage"].engine.dispose()


@pytest.fixture
def bearer(api_triage: Flask) -> str:
    services = api_triage.extensions["triage"]
    with transaction(services.sessions) as session:
        add_officer(session, "desk", "a long test password", role="supervisor",
                    bureau="hrss_fund_supervision", region="441500",
                    requested_by="test", approved_by="test")  # fmt: skip
        return api.issue_token(session, "desk", actor="test")


@pytest.fixture
def new_tip(api_triage: Flask) -> Callable[[], str]:
    """A fresh tip in the officer's scope: each decision meets a tip it can decide, so a
    body is judged on what it holds, not refused as a conflict or a 404."""
    submitter = api_triage.extensions["triage"].submitter

    def make() -> str:
        report = Report(category="fake_docs", region="441502", text="举报", channel="letter")
        return str(submitter.submit(report, with_receipt=False).tip_id)

    return make


@pytest.fixture
def open_case(api_triage: Flask, bearer: str) -> str:
    """A case in the officer's scope (the intake desk sees the cases of its city), opened by
    the agency from a tip it accepted: reading it answers the whole CaseDetail, and each
    step is judged on its body and then refused for the desk's place (409)."""
    services = api_triage.extensions["triage"]
    report = Report(category="benefit_impostor", fund="pension", region="441502",
                    text="有人冒领养老金。", channel="letter")  # fmt: skip
    tip_id = str(services.submitter.submit(report, with_receipt=False).tip_id)
    InlineQueue(services.engine, services.keyring).enqueue(process_new_tips)
    with transaction(services.sessions) as session:
        agency = add_officer(session, "agency", "a long test password", role="bureau_officer",
                             bureau="si_agency", region="441502", requested_by="test",
                             approved_by="test").officer  # fmt: skip
        desk = session.scalar(select(Officer).where(Officer.username == "desk"))
        tip = session.get(Tip, tip_id)
        assert desk is not None and tip is not None
        opened = open_tip(tip, services.keyring)
        decisions.confirm_routing(session, opened, desk, "si_agency", "")
        decisions.accept(session, opened, agency)
        subject = case_services.Subject(kind="unit", name="某某公司")
        made = case_services.open_case(session, services.keyring.public_keyring(), agency,
                                       [tip], subject, "核查。")  # fmt: skip
        return made.id


@triage_schema.parametrize()
@SETTINGS
def test_triage_api_matches_its_document(
    case: Any, api_triage: Flask, bearer: str, new_tip: Callable[[], str], open_case: str
) -> None:
    tip_id = case.path_parameters.get("tip_id") if case.path_parameters else None
    if isinstance(tip_id, str) and TIP_ID.fullmatch(tip_id):
        # A well-formed id names a real tip; a malformed one is sent as generated.
        case.path_parameters["tip_id"] = new_tip()
    case_id = case.path_parameters.get("case_id") if case.path_parameters else None
    if isinstance(case_id, str) and TIP_ID.fullmatch(case_id):
        case.path_parameters["case_id"] = open_case
    case.call_and_validate(app=api_triage, headers={"Authorization": f"Bearer {bearer}"},
                           checks=_checks())  # fmt: skip


# Targeted: the campaign's values, each one in each field of a valid request, deterministic.
# Fuzzing draws them too, but only by chance; here every (field, value) pair is sent, and the
# document decides what the answer must be: allowed, so not refused for its form; forbidden,
# so refused (4xx); never a 5xx, and always an answer the document describes.

HOSTILE_WIRE = [*HOSTILE_STRINGS, *(str(number) for number in HOSTILE_INTEGERS)]
IDENTITY = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"}
VALID_BODIES: dict[str, dict[str, Any]] = {
    "createReport": {
        "category": "drug_resale",
        "region": "441502",
        "text": "有人回收医保药品。",
        "suspect_name": "某药店",
        "identity": IDENTITY,
    },  # fmt: skip
    "sendMessage": {"text": "补充一点情况。"},
    "routeTip": {"bureau": "hrss_fund_supervision", "reason": "辖区内"},
    "acceptTip": {},
    "refuseTip": {"reason": "out_of_scope", "text": "不属于受理范围。"},
    "transferTip": {"bureau": "court", "region": "441502", "text": "移送法院。"},
    "linkDuplicate": {"other": "0000000000000000"},
    "addNote": {"text": "已核实。"},
    "requestIdentity": {"reason": "需要联系举报人核实。"},
    "decideIdentityRequest": {"approve": False},
    "openCase": {"tips": ["0000000000000000"], "subject": {"kind": "unit", "name": "某某公司"},
                 "findings": "核查。"},
    "joinCase": {"tip": "0000000000000000"},
    "takeStep": {"findings": "立案。"},
}
ASCII_INTEGER = re.compile(r"-?[0-9]+")


def _document(package: str) -> dict[str, Any]:
    import json

    return dict(json.loads((files(package) / "openapi.json").read_text(encoding="utf-8")))


def _allows(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("", resource)
    validator = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
    return bool(validator.is_valid(value))


def _wire_allows(schema: dict[str, Any], text: str) -> bool:
    """Whether a query or path value, as text on the wire, is what the schema allows: an
    integer is ASCII digits (``"²".isdigit()`` is true, and it is no number)."""
    if schema.get("type") == "integer":
        if not ASCII_INTEGER.fullmatch(text):
            return False
        number = int(text)
        return number >= schema.get("minimum", number) and number <= schema.get("maximum", number)
    return _allows({}, schema, text)


def _string_fields(document: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Paths to the string fields of a body schema, one object deep (a report's identity)."""
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop:
            target: Any = document
            for part in prop["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            for inner, inner_prop in target.get("properties", {}).items():
                if "string" in inner_prop.get("type", ()):
                    yield (name, inner)
        elif "string" in prop.get("type", ()):
            yield (name,)


def _replaced(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = {key: dict(item) if isinstance(item, dict) else item for key, item in body.items()}
    holder = copy
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    return copy


def _targeted(schema: Any, package: str) -> Iterator[tuple[Any, str, Any, bool]]:
    """(operation, where, a change to the valid request, whether the document allows it)."""
    document = _document(package)
    for found in schema.get_all_operations():
        operation = found.ok()
        definition = operation.definition.raw
        body_schema = (definition.get("requestBody", {}).get("content", {})
                       .get("application/json", {}).get("schema"))  # fmt: skip
        base = VALID_BODIES.get(definition.get("operationId", ""))
        for parameter in definition.get("parameters", []):
            for text in HOSTILE_WIRE:
                allowed = _wire_allows(parameter["schema"], text)
                where = f"{parameter['in']}.{parameter['name']}={text!r}"
                yield operation, where, (parameter["in"], parameter["name"], text, base), allowed
        if body_schema is None or base is None:
            continue
        for path in _string_fields(document, body_schema):
            for text in HOSTILE_STRINGS:
                body = _replaced(base, path, text)
                allowed = _allows(document, body_schema, body)
                where = f"body.{'.'.join(path)}={text!r}"
                yield operation, where, ("body", "", body, base), allowed


def _send_targeted(
    operation: Any,
    change: tuple[str, str, Any, Any],
    app: Flask,
    headers: dict[str, str],
    tip_id: Callable[[], str],
    case_id: str = "0000000000000000",
) -> Any:
    location, name, value, base = change
    path_parameters = {}
    if "{tip_id}" in operation.path:
        path_parameters["tip_id"] = tip_id()
    if "{request_id}" in operation.path:
        path_parameters["request_id"] = "1"
    if "{case_id}" in operation.path:
        path_parameters["case_id"] = case_id
    if "{action}" in operation.path:
        path_parameters["action"] = "file"
    if "{doc_id}" in operation.path:
        path_parameters["doc_id"] = "1"
    query: dict[str, Any] = {}
    body: Any = base
    if location == "query":
        query[name] = value
    elif location == "path":
        path_parameters[name] = value
    elif location == "body":
        body = value
    kwargs: dict[str, Any] = {"path_parameters": path_parameters, "query": query}
    if body is not None:
        kwargs.update(body=body, media_type="application/json")
    case = operation.Case(**kwargs)
    response = case.call(app=app, headers=headers)
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                             content_type_conformance,
                                             response_schema_conformance])  # fmt: skip
    return response


def _judge(where: str, allowed: bool, response: Any, failures: list[str]) -> None:
    status = response.status_code
    if not allowed and status < 400:
        failures.append(f"{where}: the document forbids it, the API answered {status}")
    if allowed and status == 400:
        codes = {item["code"] for item in response.json()["problems"]}
        if not codes <= SEMANTIC:
            failures.append(f"{where}: the document allows it, the API refused {codes}")


def test_portal_api_on_the_campaigns_values(api_portal: Flask, receipt: str) -> None:
    headers = {"Authorization": f"Receipt {receipt}"}
    failures: list[str] = []
    for operation, where, change, allowed in _targeted(portal_schema, "tipline.portal"):
        try:
            response = _send_targeted(operation, change, api_portal, headers, lambda: "")
        except Exception as exc:  # a 500 (re-raised by the WSGI transport) or a failed check
            failures.append(f"{operation.label} {where}: {str(exc).strip()[:400]}")
            continue
        _judge(f"{operation.label} {where}", allowed, response, failures)
    assert not failures, "\n".join(failures)


def test_triage_api_on_the_campaigns_values(
    api_triage: Flask, bearer: str, new_tip: Callable[[], str], open_case: str
) -> None:
    headers = {"Authorization": f"Bearer {bearer}"}
    failures: list[str] = []
    for operation, where, change, allowed in _targeted(triage_schema, "tipline.triage"):
        try:
            response = _send_targeted(operation, change, api_triage, headers, new_tip, open_case)
        except Exception as exc:  # a 500 (re-raised by the WSGI transport) or a failed check
            failures.append(f"{operation.label} {where}: {str(exc).strip()[:400]}")
            continue
        _judge(f"{operation.label} {where}", allowed, response, failures)
    assert not failures, "\n".join(failures)
