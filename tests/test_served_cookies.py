"""Every cookie either site sets is Secure, HttpOnly and SameSite=Strict (DESIGN.md,
"Anonymity"; issue 7 item 14c), tested as a class: a citizen and officers walk the routes
they use on the served sites, and every Set-Cookie header of every answer, redirects
included, is checked. Headers built from what a user sent (Location) stay plain ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest

from tests.conftest import legacy_doc
from tests.served import (
    PortalClient,
    ServedPortal,
    ServedTriage,
    TriageClient,
    add_officer,
    csrf_token,
    fresh_database,
    pg_unavailable,
)

# Served as in production, where cookies are Secure (tests/served.py turns that off).
SECURE = {"TIPLINE_INSECURE_COOKIES": "0"}


class Recorder:
    """Collects every Set-Cookie and Location header the watched sessions receive."""

    def __init__(self) -> None:
        self.cookies: list[tuple[str, str]] = []
        self.locations: list[str] = []

    def watch(self, session: requests.Session) -> None:
        session.mount("http://", BrowserAdapter(self))


class BrowserAdapter(HTTPAdapter):
    """A browser behind the TLS terminator: it sends Secure cookies back, although these
    servers speak plain http on 127.0.0.1 (requests' own jar would hold them back). Sits
    under every request, redirects included."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.jar: dict[str, str] = {}

    def add_headers(self, request: PreparedRequest, **kwargs: Any) -> None:
        request.headers.pop("Cookie", None)
        if self.jar:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def build_response(self, req: PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        where = f"{req.method} {req.path_url} {response.status_code}"
        for value in resp.headers.getlist("Set-Cookie"):
            self.recorder.cookies.append((where, value))
            for name, morsel in SimpleCookie(value).items():
                gone = morsel["max-age"] == "0" or "1970" in morsel["expires"]
                if gone:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        if "Location" in resp.headers:
            self.recorder.locations.append(resp.headers["Location"])
        return response


def attributes(set_cookie: str) -> set[str]:
    _pair, *parts = (part.strip() for part in set_cookie.split(";"))
    return {part.lower().replace(" ", "") for part in parts}


def form_token(page: str, action: str) -> tuple[str, str]:
    """The CSRF field (name, value) of the form posting to ``action``."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', page, re.S)
    assert form, f"no form for {action}"
    field = re.search(r'<input[^>]*name="([^"]*csrf_token)"[^>]*value="([^"]*)"', form.group(0))
    assert field, f"no CSRF token in the form for {action}"
    return field.group(1), field.group(2)


CITIZEN_PAGES = (
    "/",
    "/report",
    "/check",
    "/regions/000000",
    "/static/style.css",
    "/no-such-page",
    "/language/en?next=/report",
    # A way back with Chinese, quotes and a semicolon: the Location header stays ASCII.
    "/language/zh?next=/%E4%B8%BE%E6%8A%A5?a=%22b%22;c",
    "/language/en?next=/%0D%0ASet-Cookie:%20planted=1",
    "/language/en?next=/%E2%80%A8%C2%85%7F",
    "/api/v1/openapi.json",
)


def citizen_walk(url: str, recorder: Recorder) -> Iterator[str]:
    """Every page and action of a citizen; yields the receipt once it has one."""
    with PortalClient(url) as citizen:
        recorder.watch(citizen.session)
        get = citizen.session.get
        for path in CITIZEN_PAGES:
            get(url + path, timeout=60).close()
        receipt = citizen.submit(
            "举报：虚构住院", ("证据.doc", legacy_doc(b"x" * 64), "application/msword")
        )
        yield receipt
        wrong = {"csrf_token": citizen.token(), "receipt": "0000 0000 0000 0000 0000 0000"}
        citizen.session.post(url + "/check", data=wrong, timeout=60).close()
        page = citizen.check(receipt)
        token = csrf_token(page)
        post = citizen.session.post
        post(url + "/my-report/messages", data={"csrf_token": token, "text": "补充说明"},
             timeout=60).close()  # fmt: skip
        post(url + "/my-report/evidence", data={"csrf_token": token},
             files={"attachments": ("补充.doc", legacy_doc(b"y" * 64), "application/msword")},
             timeout=60).close()  # fmt: skip
        post(url + "/my-report/identity", data={"csrf_token": token, "name": "张三",
             "id_number": "", "phone": ""}, timeout=60).close()  # fmt: skip
        post(url + "/sign-out", data={"csrf_token": token}, timeout=60).close()
        get(url + "/my-report", timeout=60).close()
        headers = {"Authorization": f"Receipt {receipt}"}
        get(url + "/api/v1/reports/self", headers=headers, timeout=60).close()
        post(url + "/api/v1/reports", json={"text": "x"}, timeout=60).close()


def officer_walk(url: str, recorder: Recorder, name: str, activation: str) -> None:
    with TriageClient(url) as officer:
        recorder.watch(officer.session)
        session = officer.session
        with session.get(url + "/login", timeout=60) as page:
            token = csrf_token(page.text)
        wrong = {"csrf_token": token, "username": name, "password": "wrong", "code": "000000"}
        session.post(url + "/login", data=wrong, timeout=60).close()
        officer.first_sign_in(name, activation)
        inbox = officer.get("/").text
        for path in ("/admin/users", "/admin/rules", "/admin/calendar", "/audit", "/stats",
                     "/no-such-page", "/language/en?next=/", "/api/v1/openapi.json"):  # fmt: skip
            officer.get(path).close()
        for tip_id in sorted(set(re.findall(r'href="/tips/([0-9a-f]{16})"', inbox))):
            page = officer.get(f"/tips/{tip_id}").text
            for link in re.findall(rf'href="(/tips/{tip_id}/attachments/[^"]+)"', page):
                officer.get(link).close()
            actions = {
                f"/tips/{tip_id}/notes": {"note-text": "内部备注"},
                f"/tips/{tip_id}/messages": {"message-text": "请补充"},
            }
            for action, data in actions.items():
                field, value = form_token(page, action)
                session.post(url + action, data={field: value, **data}, timeout=60).close()
        page = officer.get("/login").text  # signed in: leads to the role's start page
        field, value = form_token(page, "/logout")
        session.post(url + "/logout", data={field: value}, timeout=60).close()
        officer.get("/").close()


@pytest.mark.slow
def test_every_cookie_of_both_sites_is_secure_httponly_and_strict(tmp_path: Path) -> None:
    problem = pg_unavailable()
    if problem is not None:
        pytest.skip(problem)
    recorder = Recorder()
    with (
        fresh_database("tipline_served") as database,
        ServedPortal.start(tmp_path / "instance", database, workers=1, receipt_scrypt_n=2**10,
                           extra_env=SECURE) as portal,
        ServedTriage.beside(portal, workers=1, extra_env=SECURE) as internal,
    ):  # fmt: skip
        list(citizen_walk(portal.url, recorder))
        for name, role in (("reader", "triage_officer"), ("boss", "supervisor"),
                           ("keeper", "admin"), ("counter", "auditor")):  # fmt: skip
            officer_walk(
                internal.url, recorder, name, add_officer(portal.init_env, name, role=role)
            )
        log = portal.server.log_tail() + internal.server.log_tail()
        assert "Traceback" not in log, log
    names = {value.split("=", 1)[0] for _where, value in recorder.cookies}
    # The walk did meet the cookies: each site's session has its own name (issue 8).
    assert {"tipline_portal", "tipline_triage", "lang"} <= names, recorder.cookies
    assert len(recorder.cookies) > 20
    for where, value in recorder.cookies:
        found = attributes(value)
        assert {"secure", "httponly", "samesite=strict"} <= found, (where, value)
    assert recorder.locations
    for location in recorder.locations:
        assert location.isascii() and location.isprintable(), location
    assert not any(value.startswith("planted") for _where, value in recorder.cookies)


@pytest.mark.parametrize("secure", [True, False])
def test_a_bare_cookie_gets_the_attributes(secure: bool) -> None:
    from werkzeug.datastructures import Headers

    from tipline.intake.headers import harden_cookies

    headers = Headers()
    headers.add("Set-Cookie", "remember_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")
    headers.add("Set-Cookie", 'x="a\\073b"; SameSite=Lax; secure; Path=/')
    headers.add("Content-Type", "text/html")
    harden_cookies(headers, secure=secure)
    cookies = headers.getlist("Set-Cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        found = attributes(cookie)
        assert {"httponly", "samesite=strict"} <= found
        assert ("secure" in found) is secure
        assert "samesite=lax" not in found and "path=/" in found
    assert cookies[1].startswith('x="a\\073b";')
