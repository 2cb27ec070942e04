"""Each site's session cookie has its own name (issue 8): browsers keep cookies by host,
not by port, so the portal and triage on one host would otherwise share one ``session``
cookie, and signing in to one would sign out of the other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
import requests

from tests.conftest import OFFICER_PASSWORD, make_enrolled, run_cli
from tests.served import csrf_token, in_a_thread
from tipline.intake.config import Config, ConfigError
from tipline.intake.db import transaction
from tipline.portal import create_app as create_portal
from tipline.triage import create_app as create_triage


def test_each_site_has_its_own_default_name() -> None:
    config = Config.from_env({"TIPLINE_SECRET_KEY": "s"})
    assert config.session_cookie_name("portal") == "tipline_portal"
    assert config.session_cookie_name("triage") == "tipline_triage"


def test_the_names_are_configurable() -> None:
    config = Config.from_env({
        "TIPLINE_SECRET_KEY": "s", "TIPLINE_PORTAL_COOKIE_NAME": "__Host-jubao",
        "TIPLINE_TRIAGE_COOKIE_NAME": "__Host-neibu",
    })  # fmt: skip
    assert config.session_cookie_name("portal") == "__Host-jubao"
    assert config.session_cookie_name("triage") == "__Host-neibu"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"TIPLINE_PORTAL_COOKIE_NAME": "my session"}, "TIPLINE_PORTAL_COOKIE_NAME"),
        ({"TIPLINE_PORTAL_COOKIE_NAME": "a;b=c"}, "TIPLINE_PORTAL_COOKIE_NAME"),
        ({"TIPLINE_PORTAL_COOKIE_NAME": "会话"}, "TIPLINE_PORTAL_COOKIE_NAME"),
        ({"TIPLINE_PORTAL_COOKIE_NAME": "x" * 65}, "TIPLINE_PORTAL_COOKIE_NAME"),
        ({"TIPLINE_PORTAL_COOKIE_NAME": "same", "TIPLINE_TRIAGE_COOKIE_NAME": "same"},
         "must differ"),
        ({"TIPLINE_PORTAL_COOKIE_NAME": "__Host-p", "TIPLINE_INSECURE_COOKIES": "1"},
         "Secure"),
        ({"TIPLINE_PORTAL_COOKIE_NAME": "__Secure-p", "TIPLINE_INSECURE_COOKIES": "1"},
         "Secure"),
    ],
)  # fmt: skip
def test_a_name_that_cannot_work_is_refused_at_start(
    env: dict[str, str], said: str, make_config: Callable[..., Config], public_keys_dir: Path
) -> None:
    config = Config.from_env({"TIPLINE_SECRET_KEY": "s", **env})
    with pytest.raises(ConfigError, match=said):
        config.session_cookie_name("portal")
    with pytest.raises(ConfigError, match=said):
        create_portal(make_config(
            keys_dir=public_keys_dir, key_passphrase=None,
            portal_cookie_name=config.portal_cookie_name,
            triage_cookie_name=config.triage_cookie_name,
            secure_cookies=config.secure_cookies,
        ))  # fmt: skip


def test_serve_refuses_a_bad_name_with_a_message(tmp_path: Path) -> None:
    from tests.conftest import cli_environment

    env = cli_environment(tmp_path / "instance", f"sqlite:///{tmp_path / 't.db'}")
    env.update(TIPLINE_SECRET_KEY="s", TIPLINE_PORTAL_COOKIE_NAME="bad name")
    result = run_cli(env, "serve", "portal", "--port", "1")
    assert result.returncode == 1 and "TIPLINE_PORTAL_COOKIE_NAME" in result.stderr


@pytest.mark.parametrize("secret", ["shared", "apart"])
def test_one_browser_stays_signed_in_to_both_sites(
    make_config: Callable[..., Config], public_keys_dir: Path, database_url: str, secret: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one cookie jar, once, on the embedded default")
    portal_config = make_config(keys_dir=public_keys_dir, key_passphrase=None)
    triage_config = make_config()
    if secret == "shared":  # even one secret for both sites does not make one session
        triage_config = triage_config.replace(secret_key=portal_config.secret_key)
    portal, triage = create_portal(portal_config), create_triage(triage_config)
    with transaction(triage.extensions["triage"].sessions) as session:
        _officer, totp = make_enrolled(
            session, triage.extensions["triage"].officer_secrets, "reader",
            role="triage_officer", bureau="hrss_fund_supervision", region="441500",
        )  # fmt: skip
    try:
        with in_a_thread(portal) as portal_url, in_a_thread(triage) as triage_url:
            browser = requests.Session()  # one cookie jar: cookies kept by host, not port
            page = browser.get(portal_url + "/report")
            fields = {
                "csrf_token": csrf_token(page.text), "category": "fake_treatment",
                "province": "440000", "city": "441500", "county": "441502",
                "anonymous": "yes", "text": "某医院挂床住院，骗取医保基金。",
            }  # fmt: skip
            receipt_page = browser.post(portal_url + "/report", files={"x": ("", b"")},
                                        data=fields)  # fmt: skip
            import re

            receipt = re.search(r'id="receipt">\s*([\d ]+?)\s*<', receipt_page.text)
            assert receipt, receipt_page.text
            check = browser.get(portal_url + "/check")
            browser.post(portal_url + "/check", data={
                "csrf_token": csrf_token(check.text), "receipt": receipt.group(1)})  # fmt: skip
            login = browser.get(triage_url + "/login")
            signed = browser.post(triage_url + "/login", allow_redirects=False, data={
                "csrf_token": csrf_token(login.text), "username": "reader",
                "password": OFFICER_PASSWORD, "code": pyotp.TOTP(totp).now()})  # fmt: skip
            assert signed.status_code == 302
            names = {cookie.name for cookie in browser.cookies}
            assert {"tipline_portal", "tipline_triage"} <= names, names
            for _ in range(2):
                mine = browser.get(portal_url + "/my-report", allow_redirects=False)
                assert mine.status_code == 200 and "挂床住院" in mine.text
                inbox = browser.get(triage_url + "/", allow_redirects=False)
                assert inbox.status_code == 200, inbox.headers.get("Location")
    finally:
        portal.extensions["portal"].engine.dispose()
        triage.extensions["triage"].engine.dispose()
