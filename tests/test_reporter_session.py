"""A reporter's session ends at sign-out for every copy of its cookie, after 30 idle
minutes, and after an absolute lifetime however busy it is (issue 7 item 10)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import REDIS_URL, csrf_token, submit_report
from tests.served import PortalClient, ServedPortal, fresh_database, pg_unavailable
from tests.served import csrf_token as page_token
from tipline.intake.config import Config
from tipline.portal import create_app

MINUTE = 60


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * MINUTE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
def clocked_app(
    request: pytest.FixtureRequest,
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    clock: FakeClock,
) -> Iterator[Flask]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    config = make_config(keys_dir=public_keys_dir, key_passphrase=None, redis_url=redis_url)
    app = create_app(config, clock=clock)
    yield app
    app.extensions["portal"].engine.dispose()


def sign_in(client: FlaskClient, receipt: str) -> None:
    response = client.post(
        "/check", data={"csrf_token": csrf_token(client, "/check"), "receipt": receipt}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/my-report")
    if response.status_code == 302:
        assert response.headers["Location"].endswith("/check")
        return False
    assert response.status_code == 200
    return True


def test_a_busy_session_still_ends_after_its_lifetime(clocked_app: Flask, clock: FakeClock) -> None:
    client = clocked_app.test_client()
    sign_in(client, submit_report(client))
    for _ in range(5):  # every 20 minutes, never idle: 100 minutes in
        clock.advance(20)
        assert signed_in(client)
    clock.advance(20)  # 120 minutes: the last moment
    assert signed_in(client)
    clock.advance(1)
    assert not signed_in(client)


def test_an_idle_session_ends(clocked_app: Flask, clock: FakeClock) -> None:
    client = clocked_app.test_client()
    sign_in(client, submit_report(client))
    clock.advance(29)
    assert signed_in(client)
    clock.advance(31)
    assert not signed_in(client)


def test_the_lifetime_is_configurable(
    make_config: Callable[..., Config], public_keys_dir: Path, clock: FakeClock
) -> None:
    config = Config.from_env({"TIPLINE_SECRET_KEY": "x", "TIPLINE_REPORTER_SESSION_MINUTES": "45"})
    assert config.reporter_session_minutes == 45
    app = create_app(
        make_config(keys_dir=public_keys_dir, key_passphrase=None, reporter_session_minutes=45),
        clock=clock,
    )
    try:
        client = app.test_client()
        sign_in(client, submit_report(client))
        clock.advance(25)
        assert signed_in(client)
        clock.advance(21)
        assert not signed_in(client)
    finally:
        app.extensions["portal"].engine.dispose()


def test_a_copied_cookie_dies_with_sign_out(clocked_app: Flask, clock: FakeClock) -> None:
    client = clocked_app.test_client()
    sign_in(client, submit_report(client))
    copy = clocked_app.test_client()
    cookie = client.get_cookie("tipline_portal")
    assert cookie is not None
    copy.set_cookie("tipline_portal", cookie.value)
    assert signed_in(copy)
    clock.advance(5)
    token = csrf_token(client, "/my-report")
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302
    assert not signed_in(client)
    assert not signed_in(copy)
    clock.advance(60)  # and it stays dead, for as long as it could have lived
    assert not signed_in(copy)


SESSION_COOKIE = re.compile(r"^tipline_portal=([^;]+)")


@pytest.mark.slow
def test_served_a_copied_cookie_dies_with_sign_out(tmp_path: Path) -> None:
    """Through gunicorn with two workers sharing Redis: the copy may land on either."""
    problem = pg_unavailable()
    if problem is not None:
        pytest.skip(problem)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with (
        fresh_database("tipline_served") as database,
        ServedPortal.start(
            tmp_path / "instance",
            database,
            workers=2,
            receipt_scrypt_n=2**10,
            extra_env={"TIPLINE_REDIS_URL": REDIS_URL},
        ) as served,
        PortalClient(served.url) as reporter,
    ):
        receipt = reporter.submit("复制的会话 cookie 在退出后必须失效")
        page = reporter.check(receipt)
        copied = reporter.session.cookies.get("tipline_portal")
        assert copied

        def copy_signed_in() -> bool:
            with requests.get(
                served.url + "/my-report",
                cookies={"tipline_portal": copied},
                allow_redirects=False,
                timeout=30,
            ) as response:
                assert response.status_code in (200, 302), response.status_code
                return response.status_code == 200

        assert all(copy_signed_in() for _ in range(4))
        with reporter.session.post(
            served.url + "/sign-out",
            data={"csrf_token": page_token(page)},
            allow_redirects=False,
            timeout=30,
        ) as response:
            assert response.status_code == 302
        assert not any(copy_signed_in() for _ in range(4))
