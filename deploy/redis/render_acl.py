#!/usr/bin/env python3
"""Render the Redis users of tipline (deploy/redis/users.acl.in) as an aclfile.

    python3 deploy/redis/render_acl.py \\
        --portal-password-file /etc/tipline/redis/portal.password \\
        --triage-password-file /etc/tipline/redis/triage.password \\
        --worker-password-file /etc/tipline/redis/worker.password \\
        > /etc/redis/users.acl

Each password is read from a file (never the command line, which other users can see)
and written as its SHA-256 (``#<hex>``), so the aclfile holds no password. The template
explains every rule; Redis takes no comments in an aclfile, so they are dropped here.
``--queue`` must match the processes' TIPLINE_QUEUE. Standard library only: it runs with
Debian's python3 on the Redis host, outside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).resolve().parent / "users.acl.in"
# The prefix of the portal's job ids: tipline/intake/queue.py, PORTAL_JOB_PREFIX.
PORTAL_JOB_PREFIX = "portal-"
# Redis user names are free text, but a space would end the name and a glob character
# in the queue would widen the portal's key pattern: allow only plain names.
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '_', '.' or '-'")
    return value


def password_hash(path: Path) -> str:
    """``#<sha256>`` of the password in ``path`` (surrounding whitespace dropped, as the
    processes do with their *_FILE secrets)."""
    try:
        password = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(f"cannot read {path}: {exc.strerror}") from exc
    if len(password) < 16:
        raise SystemExit(f"{path}: the password is shorter than 16 characters")
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def render(values: dict[str, str]) -> str:
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    rules = "".join(f"{line}\n" for line in lines if line.strip() and not line.startswith("#"))
    return Template(rules).substitute(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for process in ("portal", "triage", "worker"):
        parser.add_argument(
            f"--{process}-user",
            type=_name,
            default=f"tipline-{process}",
            help=f"the {process}'s Redis user (default tipline-{process})",
        )
        parser.add_argument(
            f"--{process}-password-file",
            type=Path,
            required=True,
            help=f"a file holding the {process}'s Redis password",
        )
    parser.add_argument(
        "--queue",
        type=_name,
        default="tipline",
        help="the rq queue, as TIPLINE_QUEUE (default tipline)",
    )
    args = parser.parse_args(argv)
    users = {args.portal_user, args.triage_user, args.worker_user}
    if len(users) != 3 or "default" in users:
        parser.error("the three users need three names of their own, none of them 'default'")
    sys.stdout.write(render({
        "PORTAL_USER": args.portal_user,
        "PORTAL_PASSWORD": password_hash(args.portal_password_file),
        "TRIAGE_USER": args.triage_user,
        "TRIAGE_PASSWORD": password_hash(args.triage_password_file),
        "WORKER_USER": args.worker_user,
        "WORKER_PASSWORD": password_hash(args.worker_password_file),
        "QUEUE": args.queue,
        "PORTAL_JOB_PREFIX": PORTAL_JOB_PREFIX,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
