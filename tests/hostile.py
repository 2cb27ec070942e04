"""What a compromised portal would name in a Redis job: importable functions with effects.

The worker must never import or call these. Each leaves a file in ``TIPLINE_TEST_MARKERS``
(a folder the test gives the worker), so a test sees whether any of them ever ran.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def ran(*_args: Any, **_kwargs: Any) -> None:
    """Any signature: rq calls callbacks with (job, connection, ...)."""
    folder = os.environ.get("TIPLINE_TEST_MARKERS")
    if folder:
        (Path(folder) / f"ran-{secrets.token_hex(4)}").touch()
