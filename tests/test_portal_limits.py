"""Receipt checks and submissions are limited per client, and a client is an IPv4 address
or an IPv6 /56, with a wider budget per IPv6 /48.

A subscriber holds a /48 to a /60 and may use any address in it; counting per exact address,
or per /64, would give each of them a budget of its own (issue 7 item 14, and its review).
An IPv6 address that embeds an IPv4 address (6to4, Teredo, NAT64) counts as that address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import csrf_token
from tipline.crypto import new_receipt
from tipline.intake.config import Config
from tipline.portal import create_app
from tipline.portal.limits import client_bucket, scaled, site_bucket

LIMIT = 3


SITE_CEILING = LIMIT * 16  # the /48's budget, from the configured limit


@pytest.fixture(params=["memory", "redis"])
def limited_app(
    request: pytest.FixtureRequest, make_config: Callable[..., Config], public_keys_dir: Path
) -> Iterator[Flask]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    app = create_app(
        make_config(
            keys_dir=public_keys_dir,
            receipt_limit=f"{LIMIT} per hour",
            submit_limit=f"{LIMIT} per hour",
            redis_url=redis_url,
            key_passphrase=None,
            proxy_count=1,
        )
    )
    yield app
    app.extensions["portal"].engine.dispose()


def wrong_receipt_from(app: Flask, address: str) -> int:
    """One wrong receipt, sent from ``address`` as the proxy in front names it."""
    client = app.test_client()
    headers = {"X-Forwarded-For": address}
    token = csrf_token(client, "/check")
    response = client.post(
        "/check",
        data={"csrf_token": token, "receipt": new_receipt().display},
        headers=headers,
    )
    return response.status_code


def empty_report_from(app: Flask, address: str) -> int:
    """One submission that fails validation (it counts all the same), from ``address``."""
    client = app.test_client()
    headers = {"X-Forwarded-For": address}
    token = csrf_token(client, "/report")
    return client.post("/report", data={"csrf_token": token}, headers=headers).status_code


ATTEMPTS = {"receipt": wrong_receipt_from, "submit": empty_report_from}


@pytest.mark.parametrize("kind", sorted(ATTEMPTS))
def test_every_address_of_one_ipv6_56_shares_one_budget(limited_app: Flask, kind: str) -> None:
    attempt = ATTEMPTS[kind]
    # Each in another /64 of 2001:db8:1:200::/56.
    addresses = [f"2001:db8:1:2{n:02x}:{n:x}::{n:x}" for n in range(1, LIMIT + 3)]
    statuses = [attempt(limited_app, address) for address in addresses]
    assert statuses == [400] * LIMIT + [429] * 2
    # The next /56 is another subscriber, with a budget of its own.
    assert attempt(limited_app, "2001:db8:1:300::1") == 400


@pytest.mark.parametrize("kind", sorted(ATTEMPTS))
def test_the_56s_of_one_48_share_a_wider_ceiling(limited_app: Flask, kind: str) -> None:
    attempt = ATTEMPTS[kind]
    statuses = [
        attempt(limited_app, f"2001:db8:7:{n:02x}00::1")
        for n in range(SITE_CEILING // LIMIT)
        for _ in range(LIMIT)
    ]
    assert statuses == [400] * SITE_CEILING
    # A fresh /56 of the same /48 finds the /48's budget spent; another /48 does not.
    assert attempt(limited_app, "2001:db8:7:ff00::1") == 429
    assert attempt(limited_app, "2001:db8:8::1") == 400


@pytest.mark.parametrize("kind", sorted(ATTEMPTS))
def test_ipv6_addresses_that_embed_an_ipv4_address_count_as_it(
    limited_app: Flask, kind: str
) -> None:
    attempt = ATTEMPTS[kind]
    forms = [
        "2002:c633:6407::1",  # 6to4: 198.51.100.7 owns 2002:c633:6407::/48
        "2002:c633:6407:ffff::2",
        "2001:0:4136:e378:8000:63bf:39cc:9bf8",  # Teredo: client 198.51.100.7
        "64:ff9b::c633:6407",  # NAT64 (64:ff9b::198.51.100.7)
    ]
    statuses = [attempt(limited_app, form) for form in forms]
    assert statuses == [400] * LIMIT + [429]
    assert attempt(limited_app, "198.51.100.7") == 429
    assert attempt(limited_app, "2002:c633:6408::1") == 400  # 198.51.100.8


def test_an_ipv4_address_written_ipv4_mapped_is_the_same_client(limited_app: Flask) -> None:
    forms = ["198.51.100.7", "::ffff:198.51.100.7", "::ffff:c633:6407"]
    statuses = [wrong_receipt_from(limited_app, forms[n % 3]) for n in range(LIMIT + 1)]
    assert statuses == [400] * LIMIT + [429]
    assert wrong_receipt_from(limited_app, "198.51.100.8") == 400


def test_without_a_proxy_the_socket_address_counts(
    make_config: Callable[..., Config], public_keys_dir: Path
) -> None:
    app = create_app(
        make_config(keys_dir=public_keys_dir, receipt_limit="2 per hour", key_passphrase=None)
    )
    try:
        statuses = []
        for n in range(3):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"2001:db8:9:9::{n + 1}"
            token = csrf_token(client, "/check")
            response = client.post(
                "/check",
                # Ignored: no proxy is trusted, so a client cannot pick its own address.
                headers={"X-Forwarded-For": f"2001:db8:{n}::1"},
                data={"csrf_token": token, "receipt": new_receipt().display},
            )
            statuses.append(response.status_code)
        assert statuses == [400, 400, 429]
    finally:
        app.extensions["portal"].engine.dispose()


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8::1", "2001:db8::/56"),
        ("2001:DB8:0:ff:ffff:ffff:ffff:ffff", "2001:db8::/56"),
        ("2001:db8:0:100::1", "2001:db8:0:100::/56"),
        ("fe80::1%eth0", "fe80::/56"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2002:cb00:7105:1::1", "203.0.113.5"),
        ("2001:0:4136:e378:8000:63bf:34ff:8efa", "203.0.113.5"),
        ("64:ff9b::203.0.113.5", "203.0.113.5"),
        ("not an address", "not an address"),
        (None, ""),
    ],
)
def test_client_bucket(address: str | None, bucket: str) -> None:
    assert client_bucket(address) == bucket


@pytest.mark.parametrize(
    ("address", "site"),
    [
        ("2001:db8:1:ff00::1", "2001:db8:1::/48"),
        ("203.0.113.5", None),
        ("2002:cb00:7105:1::1", None),
        ("not an address", None),
    ],
)
def test_site_bucket(address: str, site: str | None) -> None:
    assert site_bucket(address) == site


def test_the_wider_limits_follow_the_configured_ones() -> None:
    assert scaled("60 per minute;1000 per hour", 16) == "960 per 1 minute;16000 per 1 hour"
    assert scaled("5/2 seconds", 16) == "80 per 2 second"
