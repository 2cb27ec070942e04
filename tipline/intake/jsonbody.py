"""JSON request bodies read within bounds and checked against the site's OpenAPI document.

Both APIs read their bodies here, so a body is refused for its size, its nesting or its
types before any of it is used, and the document that describes the API is the same object
the code checks against: the two cannot drift apart. Nothing here knows Flask.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tipline.intake.reference import N_

# A report is the largest body: 20,000 characters, each up to 12 bytes when a client escapes
# it as a surrogate pair (\ud83d\ude00), plus the other fields.
MAX_JSON_BYTES = 512 * 1024
# The deepest body either document describes is two levels (a report and its identity).
MAX_JSON_DEPTH = 16

# PostgreSQL text cannot hold NUL; a lone surrogate cannot be encoded as UTF-8 at all.
TOO_DEEP = N_("The body is nested too deeply.")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = N_(
    "What you sent contains a character that cannot be stored (such as NUL). Remove it and "
    "try again."
)



@dataclass(frozen=True)
class BodyProblem:
    field: str
    code: str
    message: str  # an English message id; the interface translates it
    count: int | None = None  # for messages that name a number


class BadBody(Exception):
    def __init__(self, problem: BodyProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def nesting_depth(value: Any) -> int:
    """How deep a decoded JSON value nests, walked with a stack (no recursion), in one pass
    over what was decoded. An earlier version scanned the raw text with a regular expression
    that went quadratic on an unterminated string (issue 7 item 6, again): the text is left
    to the decoder, which is linear and stops a deep nesting with RecursionError itself."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in item)
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def has_unstorable(value: Any) -> bool:
    """Whether any string (key or value) in a decoded body holds NUL or a lone surrogate.
    Walked with a queue, not recursion."""
    pending: deque[Any] = deque([value])
    while pending:
        item = pending.popleft()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def loads(data: bytes) -> Any:
    """Decode a JSON body, refusing deep nesting before the decoder recurses into it.

    Numbers with a fraction become ``Decimal`` (an amount stays as written, and 1e400 is not
    infinity); NaN and Infinity are not JSON and are refused.
    """
    if len(data) > MAX_JSON_BYTES:
        raise BadBody(BodyProblem("", "too_large", N_("The body is too large.")))
    too_deep = BadBody(BodyProblem("", "json", TOO_DEEP))
    try:
        value = json.loads(data, parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError as exc:
        raise too_deep from exc
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise BadBody(BodyProblem("", "json", N_("The body is not valid JSON."))) from exc
    if nesting_depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    if has_unstorable(value):
        raise BadBody(BodyProblem("", "invalid_character", UNSTORABLE_MESSAGE))
    return value


# From a failed schema keyword to the problem the caller sees.
_TYPE_MESSAGES = {
    "string": N_("This field must be a string."),
    "boolean": N_("This field must be true or false."),
    "number": N_("This field must be a number."),
    "integer": N_("This field must be a whole number."),
    "object": N_("This field must be a JSON object."),
    "array": N_("This field must be a list."),
}
_KEYWORD_PROBLEMS = {
    "enum": ("invalid", N_("Choose a value from the list.")),
    "const": ("invalid", N_("Choose a value from the list.")),
    "pattern": ("invalid", N_("This value does not have the expected form.")),
    "format": ("invalid", N_("Give a date as YYYY-MM-DD.")),
    "minimum": ("invalid", N_("This number is out of range.")),
    "maximum": ("invalid", N_("This number is out of range.")),
    "exclusiveMinimum": ("invalid", N_("This number is out of range.")),
    "exclusiveMaximum": ("invalid", N_("This number is out of range.")),
}


def _field(path: Any) -> str:
    return ".".join(str(part) for part in path)


def _problems(error: ValidationError) -> Iterator[BodyProblem]:
    # jsonschema types these as possibly unset; a raised error always has them.
    schema: Any = error.schema
    instance: Any = error.instance
    expected: Any = error.validator_value
    field = _field(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required":
        present = instance if isinstance(instance, dict) else {}
        for name in expected:
            if name not in present:
                yield BodyProblem(_field([*error.absolute_path, name]), "missing",
                                  N_("This field is required."))  # fmt: skip
    elif keyword == "additionalProperties":
        known = schema.get("properties", {})
        for name in sorted(set(instance) - set(known)):
            yield BodyProblem(_field([*error.absolute_path, name]), "unknown",
                              N_("Unknown field."))  # fmt: skip
    elif keyword == "type":
        first = expected if isinstance(expected, str) else next(
            (kind for kind in expected if kind != "null"), "object"
        )  # fmt: skip
        if not field and first == "object":
            yield BodyProblem("", "type", N_("Send one JSON object."))
        else:
            yield BodyProblem(field, "type", _TYPE_MESSAGES.get(first, N_("Unknown field.")))
    elif keyword == "maxLength":
        yield BodyProblem(field, "too_long", N_("At most %(count)s characters."),
                          count=int(expected))  # fmt: skip
    elif keyword == "minLength" and instance == "":
        yield BodyProblem(field, "missing", N_("This field is required."))
    elif keyword == "minLength":
        yield BodyProblem(field, "too_short", N_("At least %(count)s characters."),
                          count=int(expected))  # fmt: skip
    elif keyword == "pattern" and expected == r"\S":
        yield BodyProblem(field, "missing", N_("This field is required."))
    elif keyword in _KEYWORD_PROBLEMS:
        code, message = _KEYWORD_PROBLEMS[keyword]
        yield BodyProblem(field, code, message)
    else:
        yield BodyProblem(field, "invalid", N_("This value does not have the expected form."))


class RequestSchemas:
    """The request-body schemas of one OpenAPI 3.1 document, by operation id."""

    def __init__(self, document: dict[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self._properties: dict[str, tuple[str, ...]] = {}
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or "requestBody" not in operation:
                    continue
                pointer = "/".join(
                    part.replace("~", "~0").replace("/", "~1")
                    for part in ("paths", path, method, "requestBody", "content",
                                 "application/json", "schema")
                )  # fmt: skip
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                self._properties[operation["operationId"]] = tuple(schema.get("properties", {}))
                self._validators[operation["operationId"]] = Draft202012Validator(
                    {"$ref": f"urn:openapi#/{pointer}"},
                    registry=registry,
                    format_checker=FormatChecker(["date"]),
                )

    def properties(self, operation_id: str) -> tuple[str, ...]:
        """The fields an operation's body may have (of an inline schema)."""
        return self._properties[operation_id]

    def check(self, operation_id: str, value: Any) -> Any:
        """``value`` (a body decoded by ``loads``; None for no body) if it is what the
        document describes for ``operation_id``; else ``BadBodies`` with every problem."""
        if value is None:
            value = {}  # no body: every required field is reported missing
        found = [
            problem
            for error in self._validators[operation_id].iter_errors(value)
            for problem in _problems(error)
        ]
        if found:
            raise BadBodies(sorted(set(found), key=lambda p: (p.field, p.code)))
        return value


class BadBodies(Exception):
    def __init__(self, problems: list[BodyProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.code}" for p in problems))
        self.problems = problems
