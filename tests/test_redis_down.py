"""When Redis stops answering, the portal answers 503 with a page that says the report is
safe, never 500; reporters' sessions grant nothing (their sign-outs are stored there);
receipt checks fail closed; submissions are still stored and still rate-limited (in memory).

Redis here is a redis-server of the test's own, on its own port, stopped in the middle of
the test (the shared one on 6379 is never touched), or a port where nothing listens.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from tests.conftest import csrf_token, post_multipart, submit_report, visible
from tests.served import free_port
from tipline.intake.config import Config
from tipline.intake.models import Tip
from tipline.portal import create_app

UNAVAILABLE = {
    "zh": "服务暂时不可用。您的举报已安全保存，请稍后再试。",
    "en": "This service is temporarily unavailable. Your report is safe. Please try again later.",
}
REPORT = {
    "category": "fake_treatment", "province": "440000", "city": "441500", "county": "441502",
    "anonymous": "yes", "fund": "medical", "suspect_kind": "medical_institution",
    "amount": "12000", "text": "某医院挂床住院，骗取医保基金。",
}  # fmt: skip
NARRATIVE = "挂床住院"


@dataclass
class OwnRedis:
    """A redis-server of this test's own: nothing saved to disk, stopped at will."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed"
        self.process = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        connection = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            for _ in range(200):
                try:
                    if connection.ping():
                        return
                except redis.ConnectionError:
                    assert self.process.poll() is None, "redis-server exited"
                    time.sleep(0.05)  # polling for readiness, not a timing assertion
            raise AssertionError("redis-server did not start")
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def portal_with(
    make_config: Callable[..., Config], public_keys_dir: Path
) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def make(redis_url: str, **overrides: object) -> Flask:
        config = make_config(
            keys_dir=public_keys_dir, key_passphrase=None, redis_url=redis_url, **overrides
        )
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["portal"].engine.dispose()


def tips(app: Flask) -> int:
    with app.extensions["portal"].sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Tip)) or 0)


def in_language(client: FlaskClient, lang: str) -> FlaskClient:
    client.set_cookie("lang", lang)
    return client


def assert_unavailable(response: TestResponse, lang: str = "zh") -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert UNAVAILABLE[lang] in visible(body)
    assert NARRATIVE not in body


def check(client: FlaskClient, receipt: str) -> TestResponse:
    return client.post("/check", data={"csrf_token": csrf_token(client, "/check"),
                                       "receipt": receipt})  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_signed_in_reporter_gets_503_not_500_and_no_tip_when_redis_stops(
    portal_with: Callable[..., Flask], own_redis: OwnRedis, lang: str
) -> None:
    app = portal_with(own_redis.url)
    client = in_language(app.test_client(), lang)
    receipt = submit_report(client)
    assert check(client, receipt).status_code == 302
    assert NARRATIVE in client.get("/my-report").get_data(as_text=True)
    copy = in_language(app.test_client(), lang)
    copy.set_cookie("tipline_portal", client.get_cookie("tipline_portal").value)  # type: ignore[union-attr]

    own_redis.stop()
    # Whether this session was signed out cannot be known: it grants nothing, on any page.
    assert_unavailable(client.get("/my-report"), lang)
    assert_unavailable(post_multipart(client, "/my-report/messages", {
        "csrf_token": csrf_token(copy, "/check"), "text": "补充一点"}), lang)  # fmt: skip
    assert_unavailable(copy.get("/my-report"), lang)
    # Signing out says it could not be done everywhere, but this browser is signed out.
    assert_unavailable(
        client.post("/sign-out", data={"csrf_token": csrf_token(client, "/check")}), lang
    )
    # A receipt cannot be counted against the shared budget: no check is made.
    assert_unavailable(check(copy, receipt), lang)
    api = app.test_client().get(
        "/api/v1/reports/self", headers={"Authorization": f"Receipt {receipt}"}
    )
    assert api.status_code == 503
    assert api.get_json()["problems"][0]["code"] == "http_503"
    # The public pages that need no Redis still work.
    assert client.get("/").status_code == 200

    own_redis.start()  # an empty Redis: the stored sign-out of this browser is gone too
    gone = client.get("/my-report")
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/check")


def test_submissions_are_stored_and_still_limited_while_redis_is_down(
    portal_with: Callable[..., Flask], own_redis: OwnRedis
) -> None:
    app = portal_with(own_redis.url, submit_limit="2 per hour")
    client = app.test_client()
    before = tips(app)
    own_redis.stop()
    # Two different reports (the same text twice from one browser is taken as Back and
    # send, issue 8): each stored although the job cannot be queued.
    submit_report(client, text="第一份举报：某医院挂床住院。")
    receipt = submit_report(client, text="第二份举报：某药店倒卖医保药品。")
    assert tips(app) == before + 2
    # Counted in this process's memory meanwhile (tipline/portal/limits.py): not unlimited.
    third = post_multipart(
        client, "/report", dict(REPORT, csrf_token=csrf_token(client, "/report"))
    )
    assert third.status_code == 429
    assert tips(app) == before + 2
    # After submissions moved the limiter to its in-memory fallback, receipt checks still
    # refuse to run uncounted: every guess answers 503, none is checked.
    for _ in range(15):
        assert_unavailable(check(client, receipt))


def test_nothing_listening_on_the_redis_port(portal_with: Callable[..., Flask]) -> None:
    app = portal_with(f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    before = tips(app)
    receipt = submit_report(client)
    assert tips(app) == before + 1
    assert_unavailable(check(client, receipt))
    en = in_language(app.test_client(), "en")
    assert_unavailable(check(en, receipt), "en")
