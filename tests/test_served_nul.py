"""A NUL byte answers 400 or 404 with the site's own error page, through gunicorn, on
PostgreSQL (issue 7, item 12).

PostgreSQL text cannot hold NUL: a %00 that reached a query answered 500. Here it is sent as
a browser or a script would, percent-encoded in a path, a query string, a form field, the
triage login name and a JSON body, to the portal and to triage served by gunicorn. Each
answer must be the application's page (the site's template and headers, in the caller's
language), not gunicorn's and not a 500.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.served import (
    DEFAULT_FIELDS,
    PortalClient,
    ServedPortal,
    ServedTriage,
    csrf_token,
    fresh_database,
    pg_unavailable,
)

# The message for NUL, in each language (tipline/intake/jsonbody.py, UNSTORABLE_MESSAGE).
NUL_MESSAGE = {"zh": "无法保存的字符", "en": "a character that cannot be stored"}
NOT_FOUND = {"zh": "此页面不存在", "en": "There is nothing at this address"}
START_PAGE = {"zh": "返回首页", "en": "Back to the start page"}


def assert_site_page(response: requests.Response, status: int, words: dict[str, str],
                     language: str) -> None:  # fmt: skip
    """The application's own error page: its template, its headers, the caller's language."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers  # set by the app, not by gunicorn
    page = response.text
    assert f"<h1>{status}</h1>" in page and START_PAGE[language] in page
    assert words[language] in page, page[:800]


def assert_api_problem(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json")
    assert {item["code"] for item in response.json()["problems"]} == {code}


@pytest.mark.slow
def test_nul_anywhere_gets_the_sites_own_400_or_404(tmp_path: Path) -> None:
    problem = pg_unavailable()
    if problem is not None:
        pytest.skip(problem)
    with (
        fresh_database("tipline_served") as database,
        ServedPortal.start(tmp_path / "instance", database, workers=1,
                           receipt_scrypt_n=2**10) as portal,
        ServedTriage.beside(portal, workers=1) as internal,
    ):  # fmt: skip
        for language in ("zh", "en"):
            headers = {"Accept-Language": language}
            with PortalClient(portal.url) as citizen:
                get = citizen.session.get
                # In a path: no page has such an address.
                for path in ("/regions/44%00", "/my-report%00", "/%00"):
                    assert_site_page(get(portal.url + path, headers=headers), 404, NOT_FOUND,
                                     language)  # fmt: skip
                # In a query string.
                for path in ("/check?x=%00", "/regions/44?q=a%00b", "/language/en?next=/%00"):
                    assert_site_page(get(portal.url + path, headers=headers), 400, NUL_MESSAGE,
                                     language)  # fmt: skip
                # In a form field of the report form, with a valid token.
                fields = {**DEFAULT_FIELDS, "text": "举报\x00内容", "csrf_token": citizen.token()}
                answer = citizen.session.post(portal.url + "/report", data=fields,
                                              headers=headers)  # fmt: skip
                assert_site_page(answer, 400, NUL_MESSAGE, language)
                # In a JSON body of the public API: the API's own problem list.
                report = {"category": "drug_resale", "region": "441502", "text": "a\x00b"}
                answer = requests.post(portal.url + "/api/v1/reports", json=report,
                                       headers=headers, timeout=60)  # fmt: skip
                assert_api_problem(answer, 400, "invalid_character")
            with requests.Session() as officer:
                login = officer.get(internal.url + "/login", headers=headers, timeout=60)
                # In the triage login name.
                answer = officer.post(internal.url + "/login", headers=headers, timeout=60, data={
                    "csrf_token": csrf_token(login.text), "username": "desk\x00",
                    "password": "a long test password", "code": "123456",
                })  # fmt: skip
                assert_site_page(answer, 400, NUL_MESSAGE, language)
                for path in ("/tips/%00", "/tips/00%0012345678901"):
                    answer = officer.get(internal.url + path, headers=headers, timeout=60)
                    assert_site_page(answer, 404, NOT_FOUND, language)
                answer = officer.get(internal.url + "/login?next=%00", headers=headers,
                                     timeout=60)  # fmt: skip
                assert_site_page(answer, 400, NUL_MESSAGE, language)
                answer = officer.get(internal.url + "/api/v1/tips/00%0012345678901",
                                     headers={**headers, "Authorization": "Bearer x"},
                                     timeout=60)  # fmt: skip
                assert answer.status_code == 404
        assert "Traceback" not in portal.server.log_tail(400)
        assert "Traceback" not in internal.server.log_tail(400)
