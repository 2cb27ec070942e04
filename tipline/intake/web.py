"""What both Flask apps set up the same way: language, CSRF, security headers, errors.

Each app factory calls ``init_web``; nothing here knows which site it serves.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import Babel, format_date, get_locale, gettext, lazy_gettext
from flask_wtf.csrf import CSRFError, CSRFProtect
from redis import RedisError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.wrappers import Response as BaseResponse
from wtforms import Field, SelectField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from tipline.intake import reference
from tipline.intake.config import Config
from tipline.intake.headers import harden_cookies
from tipline.intake.jsonbody import (
    MAX_JSON_BYTES,
    UNSTORABLE,
    UNSTORABLE_MESSAGE,
    BadBody,
    loads,
)
from tipline.intake.submit import Upload, megabytes, parse_amount

LOCALES = ("zh", "en")
LANGUAGE_COOKIE = "lang"

babel = Babel()
csrf = CSRFProtect()

# The largest text field of any form is a report (20,000 characters, up to 3 bytes each in
# UTF-8, tripled again by URL encoding): every non-file part of a form is refused past this,
# before it is decoded or any validator runs.
MAX_FORM_MEMORY_BYTES = 256 * 1024
MAX_FORM_PARTS = 200
MAX_FILENAME = 255
MAX_CONTENT_TYPE = 127
# Whole numbers in query strings: ASCII digits only (str.isdigit admits "²" and "٣"), and
# far below what a PostgreSQL bigint holds, so OFFSET and LIMIT can never overflow.
MAX_QUERY_INT = 1_000_000_000
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")

# Content-Security-Policy: nothing inline, nothing from anyone else, no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

ERROR_MESSAGES = {
    400: lazy_gettext("The request could not be understood. Please go back and try again."),
    401: lazy_gettext("Please sign in first."),
    403: lazy_gettext("You are not allowed to see this page."),
    404: lazy_gettext("There is nothing at this address."),
    405: lazy_gettext("The request could not be understood. Please go back and try again."),
    413: lazy_gettext(
        "What you sent is larger than this site accepts. Remove or shrink an attachment and "
        "try again."
    ),
    429: lazy_gettext("Too many attempts. Please wait a while and try again."),
    500: lazy_gettext("Something went wrong on our side. Nothing you sent has been kept."),
    # A store the page needs (Redis) does not answer: nothing was lost, and it passes.
    503: lazy_gettext(
        "This service is temporarily unavailable. Your report is safe. Please try again "
        "later."
    ),
}


class UnstorableInput(BadRequest):
    """NUL or a lone surrogate in a query, a form field, a file name or a JSON string."""

    description = UNSTORABLE_MESSAGE


class BadJsonBody(BadRequest):
    """A JSON body that is too deep, not JSON, or holds characters that cannot be stored."""

    def __init__(self, bad: BadBody) -> None:
        super().__init__(bad.problem.message)
        self.problem = bad.problem


def query_int(name: str, default: int, *, low: int = 0, high: int = MAX_QUERY_INT) -> int:
    """A whole number from the query string, or 400: ASCII digits only, within [low, high]."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw, low=low, high=high)
    if value is None:
        abort(400)
    return value


def whole_number(raw: str, *, low: int, high: int = MAX_QUERY_INT) -> int | None:
    """``raw`` as a whole number in [low, high], or None (never a ValueError, never a 2**63)."""
    if not _ASCII_DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if low <= value <= min(high, MAX_QUERY_INT) else None


def _unstorable(text: str | None) -> bool:
    return text is not None and UNSTORABLE.search(text) is not None


def refuse_unstorable_input() -> None:
    """Refuse, before any view or form sees it, what PostgreSQL or the templates cannot take.

    NUL breaks PostgreSQL text columns and queries (SQLite takes it, so only PostgreSQL shows
    the 500); a lone surrogate cannot be encoded at all. One hook for both sites: the path
    (404: no page has such an address), the query, every form field and file name, and every
    string of a JSON body (400, saying why). JSON bodies are also bounded here, in bytes and
    in nesting, before they are decoded; the decoded body waits in ``g.json_body``.
    """
    if _unstorable(request.path):
        raise NotFound()
    args = request.args
    if any(_unstorable(key) or _unstorable(value) for key, value in args.items(multi=True)):
        raise UnstorableInput()
    if request.path.startswith("/api/") or request.is_json:
        if request.method in ("POST", "PUT", "PATCH"):
            request.max_content_length = MAX_JSON_BYTES  # 413 before anything is read past it
            data = request.get_data(cache=True)
            try:
                g.json_body = loads(data) if data.strip() else None
            except BadBody as bad:
                raise BadJsonBody(bad) from bad
        return
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = request.form
        if any(_unstorable(key) or _unstorable(value) for key, value in form.items(multi=True)):
            raise UnstorableInput()
        if any(_unstorable(upload.filename) for upload in request.files.values()):
            raise UnstorableInput()


def request_ceiling(max_upload_bytes: int) -> int:
    """The largest request body read at all: twice the files' total plus room for the text.

    Up to the files' total, files are kept in memory; past it, a file is read and dropped
    (``BudgetedFile``) so that the text of the form still arrives and the reporter gets the
    form back with everything typed and a message naming the file (issue 8). Past this
    ceiling nothing is read: the answer is the 413 page (nginx's is sized the same way,
    deploy/render.py)."""
    return 2 * max_upload_bytes + 1024 * 1024


class BudgetedFile(io.BytesIO):
    """One uploaded file, kept in memory while the request's files fit in their budget.

    A file that would take the request's files over the budget is dropped whole: its bytes
    are counted as they stream past and thrown away, and it is reported by name."""

    def __init__(self, budget: list[int], filename: str | None) -> None:
        super().__init__()
        self.budget = budget  # [bytes still free]
        self.filename = filename or ""
        self.seen = 0
        self.dropped = False

    def write(self, data: Any) -> int:
        size = len(data)
        self.seen += size
        if self.dropped:
            return size
        if size > self.budget[0]:
            self.dropped = True
            self.budget[0] += self.tell()  # what it held is free again for later files
            self.seek(0)
            self.truncate()
            return size
        self.budget[0] -= size
        return super().write(data)


class InMemoryRequest(Request):
    """Uploaded files stay in memory, bounded by the files' total (``BudgetedFile``).

    Werkzeug spools large uploads to temporary files; evidence must never touch the disk
    in plaintext (DESIGN.md, "Encryption at rest").
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        budget = self.__dict__.get("_tipline_file_budget")
        if budget is None:
            budget = [current_app.config.get("TIPLINE_FILE_BUDGET", 0)]
            self.__dict__["_tipline_file_budget"] = budget
        return BudgetedFile(budget, filename)


def uploads_of(files: list[FileStorage] | None) -> list[Upload]:
    """The files of a multipart form as uploads for the submission pipeline; a file dropped
    for the request's budget comes with its size, for the pipeline to name it."""
    # Only the ends that are kept: the stored name is cut to 255 characters after cleaning
    # anyway, and its extension (which decides the type) is at the end.
    found = []
    for upload in files or []:
        if not (upload and upload.filename):
            continue
        stream = upload.stream
        dropped = stream.seen if isinstance(stream, BudgetedFile) and stream.dropped else None
        found.append(
            Upload(
                filename=(upload.filename or "")[-MAX_FILENAME:],
                content_type=(upload.mimetype or "application/octet-stream")[:MAX_CONTENT_TYPE],
                stream=stream,
                dropped_bytes=dropped,
            )
        )
    return found


def files_chosen(files: list[FileStorage] | None) -> bool:
    """Whether the reporter chose any file: a form without one still sends an empty part."""
    return any(upload and upload.filename for upload in files or [])


def valid_amount(_form: object, field: Field) -> None:
    """A form validator for an amount in yuan as people type it (12,000 or ¥12000.50)."""
    try:
        amount = parse_amount(field.data)
    except InvalidOperation as exc:
        raise ValidationError(
            lazy_gettext("Give the amount in yuan as a number, e.g. 12000.")
        ) from exc
    if amount is not None and amount < 0:
        raise ValidationError(lazy_gettext("Give the amount in yuan as a positive number."))


def region_choices(regions: list[reference.Region], blank: Any) -> list[SelectChoice]:
    return [SelectChoice("", blank)] + [SelectChoice(r.code, r.name) for r in regions]


class RegionFields:
    """Where it happened, chosen with three lists (province, city, county): the picker of
    both the public form and the officers' entry form, so a place is never a typed code.

    It works without JavaScript: a "refine" button beside a list sends the form back to be
    shown again with the next list filled in, nothing checked or stored (the views look
    for ``refine`` in the request)."""

    province = SelectField(validators=[Length(max=6)], label=lazy_gettext("Province"),
                           validate_choice=False)  # fmt: skip
    city = SelectField(validators=[Length(max=6)], label=lazy_gettext("City"),
                       validate_choice=False)  # fmt: skip
    county = SelectField(
        validators=[Length(max=6)], label=lazy_gettext("County or district"),
        validate_choice=False,
    )  # fmt: skip

    def region_code(self) -> str | None:
        return self.county.data or self.city.data or self.province.data or None

    def fill_regions(self, default: str | None = None) -> None:
        """Province → city → county: each list offers the children of the choice above it.
        ``default``, a region code, is chosen when nothing is (an office's own region)."""
        province_field, city_field, county_field = self.province, self.city, self.county
        if default in reference.regions() and not (province_field.data or city_field.data):
            assert default is not None
            province_field.data = default[:2] + "0000"
            if default != province_field.data:
                # A city, or a county hung straight under its province (北京市东城区), is in
                # the second list; any other county is in the third, under its city.
                if default in {r.code for r in reference.children(province_field.data)}:
                    city_field.data = default
                else:
                    city_field.data, county_field.data = default[:4] + "00", default
        province_field.choices = region_choices(
            reference.provinces(), lazy_gettext("Choose a province")
        )
        province = province_field.data or ""
        cities = reference.children(province) if province in reference.regions() else []
        city_field.choices = region_choices(cities, lazy_gettext("Choose a city"))
        if city_field.data not in {r.code for r in cities}:
            city_field.data = ""
        city = city_field.data or ""
        counties = reference.children(city) if city else []
        county_field.choices = region_choices(counties, lazy_gettext("Choose a county or district"))
        if county_field.data not in {r.code for r in counties}:
            county_field.data = ""


def select_locale() -> str:
    """An explicit choice remembered in a cookie, then the browser's languages, then Chinese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or LOCALES[0]


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    if request.endpoint != "static":
        # Pages may carry report contents: never kept by a browser or a proxy.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    harden_cookies(headers, secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def render_error(
    code: int, message: object = None, problem_code: str | None = None
) -> tuple[str | Response, int]:
    message = message or ERROR_MESSAGES.get(code, ERROR_MESSAGES[500])
    if request.path.startswith("/api/"):
        # API callers get the same machine-readable problem list as for bad input.
        problem = {"field": "", "code": problem_code or f"http_{code}", "message": str(message)}
        return jsonify({"problems": [problem]}), code
    return render_template("error.html", code=code, message=message), code


def _handle_http_error(error: HTTPException) -> tuple[str | Response, int] | BaseResponse:
    code = error.code or 500
    if code in (301, 302, 303, 307, 308):
        return error.get_response()
    if isinstance(error, UnstorableInput):
        return render_error(400, gettext(UNSTORABLE_MESSAGE), "invalid_character")
    if isinstance(error, BadJsonBody):
        return render_error(400, gettext(error.problem.message), error.problem.code)
    return render_error(code)


def _handle_csrf(_error: CSRFError) -> tuple[str, int]:
    message = lazy_gettext(
        "This form has expired or was not sent from this site. Please reload the page and "
        "send it again."
    )
    return render_template("error.html", code=400, message=message), 400


def _handle_redis_down(error: RedisError) -> tuple[str | Response, int]:
    """Redis failed where no code expected it: 503 with the page saying nothing was lost,
    never a 500. The log names the error's type only (its text can carry a key)."""
    current_app.logger.warning("Redis unavailable (%s): answered 503", type(error).__name__)
    return render_error(503)


def _change_language(code: str) -> BaseResponse:
    target = request.args.get("next", "/")
    # Only local paths: the switch must not become an open redirect. Browsers drop tabs and
    # newlines and read "\\" as "/", so "/\t/evil" or "/\\evil" would leave the site.
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or any(ord(c) < 0x21 or c == "\\" for c in target)
        or target.startswith("//")
        or parts.scheme
        or parts.netloc
    ):
        target = "/"
    response = redirect(target)
    if code in LOCALES:
        # Every cookie is Secure, HttpOnly and SameSite=Strict (DESIGN.md, "Anonymity").
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Strict", httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )  # fmt: skip
    return response


def init_web(app: Flask, config: Config) -> None:
    app.request_class = InMemoryRequest
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=request_ceiling(config.max_upload_bytes),
        TIPLINE_FILE_BUDGET=config.max_upload_bytes,
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # Flask-Login's remember-me cookie, should it ever be set, follows the same rules.
        REMEMBER_COOKIE_SECURE=config.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,  # no Referer is sent (Referrer-Policy no-referrer)
        BABEL_DEFAULT_LOCALE=LOCALES[0],
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parents[1] / "translations"),
        MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY_BYTES,
        MAX_FORM_PARTS=MAX_FORM_PARTS,
    )
    babel.init_app(app, locale_selector=select_locale)
    # Before CSRF and every view: nothing reads a field this hook has not seen.
    app.before_request(refuse_unstorable_input)
    csrf.init_app(app)
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(RedisError, _handle_redis_down)
    app.add_url_rule("/language/<code>", "language", _change_language)
    app.jinja_env.globals.update(
        reference=reference,
        locales=LOCALES,
        url_for_language=url_for_language,
        get_locale=get_locale,
    )
    app.jinja_env.filters["region_name"] = reference.region_name
    # Amounts are shown with separators on both sites (issue 8): ¥150,000.
    app.jinja_env.filters["yuan"] = yuan
    app.jinja_env.globals["megabytes"] = megabytes


def yuan(amount: object) -> str:
    """An amount in yuan as people read it: ``¥150,000``, ``¥1,500.5``; what is not a
    number is shown as it is (an amount written before parsing was forgiving)."""
    if amount is None or amount == "":
        return ""
    try:
        value = amount if isinstance(amount, Decimal) else parse_amount(str(amount))
    except InvalidOperation:
        return str(amount)
    if value is None:
        return ""
    if value == value.to_integral_value():
        return f"¥{int(value):,}"
    return f"¥{value:,.2f}"


def url_for_language(code: str) -> str:
    return url_for("language", code=code, next=request.full_path.rstrip("?"))


def _day(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def when_words(details: dict[str, Any], *, not_said: str) -> str:
    """When the conduct happened and whether it goes on, as the reporter gave it, in plain
    words; ``not_said`` when they gave neither (the reporter's page and the officer's word
    it differently)."""
    start, end = _day(details.get("happened_start")), _day(details.get("happened_end"))
    ongoing = bool(details.get("ongoing"))
    long_start = format_date(start, "long") if start else ""
    long_end = format_date(end, "long") if end else ""
    if start and end:
        words = (
            gettext("On %(day)s", day=long_start)
            if start == end
            else gettext("From %(start)s to %(end)s", start=long_start, end=long_end)
        )
    elif start:
        words = (
            gettext("Since %(start)s", start=long_start)
            if ongoing
            else gettext("From %(start)s", start=long_start)
        )
    elif end:
        words = gettext("Until %(end)s", end=long_end)
    elif ongoing:
        return gettext("It is still going on.")
    else:
        return not_said
    if ongoing:
        return gettext("%(when)s, and it is still going on.", when=words)
    return gettext("%(when)s.", when=words)
