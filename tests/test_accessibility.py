"""Every control has a label, every error is tied to its field, the tab order is natural."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from tests.conftest import csrf_token, post_multipart, submit_report


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.described: list[str] = []
        self.tabindex: list[tuple[str, str]] = []
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "label":
            self._in_label += 1
            if "for" in attributes:
                self.label_for.add(attributes["for"])
        if tag in ("input", "select", "textarea"):
            kind = attributes.get("type", "")
            if kind not in ("hidden", "submit", "button"):
                self.controls.append({**attributes, "_tag": tag, "_wrapped": str(self._in_label)})
        if "aria-describedby" in attributes:
            self.described += attributes["aria-describedby"].split()
        if "tabindex" in attributes:
            self.tabindex.append((attributes.get("name", tag), attributes["tabindex"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1


def check(html: str) -> None:
    page = Page()
    page.feed(html)
    assert page.controls, "no form controls found"
    for control in page.controls:
        labelled = (
            control.get("id") in page.label_for
            or control["_wrapped"] != "0"
            or control.get("aria-label")
        )
        assert labelled, f"no label for {control}"
    missing = [ref for ref in page.described if ref not in page.ids]
    assert not missing, f"aria-describedby points nowhere: {missing}"
    # Nothing jumps the natural tab order (a positive tabindex); -1 only takes things out.
    assert all(int(value) <= 0 for _, value in page.tabindex), page.tabindex


def test_report_form_with_errors(portal: FlaskClient) -> None:
    response = post_multipart(
        portal,
        "/report",
        {"csrf_token": csrf_token(portal, "/report"), "amount": "abc", "anonymous": "no"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    check(html)
    assert 'aria-invalid="true"' in html and 'id="text-error"' in html


@pytest.mark.parametrize("path", ["/report", "/check"])
def test_public_forms(portal: FlaskClient, path: str) -> None:
    check(portal.get(path).get_data(as_text=True))


def test_receipt_and_status_pages(portal: FlaskClient) -> None:
    receipt_page = portal.post(
        "/report/done",
        data={"csrf_token": csrf_token(portal, "/check"), "receipt": submit_report(portal)},
    )
    check(receipt_page.get_data(as_text=True))
    receipt = submit_report(portal)
    portal.post("/check", data={"csrf_token": csrf_token(portal, "/check"), "receipt": receipt})
    check(portal.get("/my-report").get_data(as_text=True))
