"""What every browser test shares: Debian's chromium, and the public site served on a free port
(``serving``, from tests/served.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.served import in_a_thread as serving
from tipline.intake.config import Config
from tipline.portal import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "e2e"
# The flags a headless chromium needs on a machine with no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def require_chromium() -> None:
    """Debian's chromium, never a downloaded one; with CI set its absence fails the test."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def once_on_the_embedded_default(database_url: str) -> None:
    """A browser run needs no second database: it runs once, on the embedded default."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the browser runs once, on the embedded default")


@pytest.fixture
def served_portal(
    make_config: Callable[..., Config], public_keys_dir: Path, database_url: str
) -> Iterator[tuple[str, Flask]]:
    """The public site with public keys only, served for a browser."""
    once_on_the_embedded_default(database_url)
    app = create_app(make_config(keys_dir=public_keys_dir, key_passphrase=None))
    with serving(app, "portal") as base:
        yield base, app
