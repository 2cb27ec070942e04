"""Receipt checks are limited per client, and a client is an IPv4 address or an IPv6 /64.

One subscriber holds a whole /64 and may use any of its 2^64 addresses; counting per exact
address would give each of them a budget of its own (issue 7 item 14).
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
from tipline.portal.limits import client_bucket

LIMIT = 3


@pytest.fixture(params=["memory", "redis"])
def limited_app(
    request: pytest.FixtureRequest, make_config: Callable[..., Config], public_keys_dir: Path
) -> Iterator[Flask]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    app = create_app(
        make_config(
            keys_dir=public_keys_dir,
            receipt_limit=f"{LIMIT} per hour",
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


def test_every_address_of_one_ipv6_64_shares_one_budget(limited_app: Flask) -> None:
    addresses = [f"2001:db8:1:2:{n:x}::{n:x}" for n in range(1, LIMIT + 3)]
    statuses = [wrong_receipt_from(limited_app, address) for address in addresses]
    assert statuses == [400] * LIMIT + [429] * 2
    # The next /64 is another subscriber, with a budget of its own.
    assert wrong_receipt_from(limited_app, "2001:db8:1:3::1") == 400


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
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:DB8:0:0:ffff:ffff:ffff:ffff", "2001:db8::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("not an address", "not an address"),
        (None, ""),
    ],
)
def test_client_bucket(address: str | None, bucket: str) -> None:
    assert client_bucket(address) == bucket
