#!/usr/bin/env python3
"""Render the nginx site for the public portal or the internal triage site.

    python3 deploy/render.py portal --server-name jubao.example.gov.cn \\
        --certificate /etc/ssl/tipline/portal.crt --certificate-key /etc/ssl/private/portal.key \\
        --max-upload-mb 50 > /etc/nginx/sites-available/tipline-portal

The template (deploy/nginx/site.conf.in) holds every setting and the reason for it; this
script fills in the few values an operator chooses, checks them (a value with a ';' or a
newline would be nginx syntax, not a value), and derives the body limit from the portal's
own TIPLINE_MAX_UPLOAD_MB so that the two cannot drift apart. Standard library only: it
runs with Debian's python3, outside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx" / "site.conf.in"
PAGES = HERE / "nginx" / "pages"

# The app reads up to twice TIPLINE_MAX_UPLOAD_MB of files plus 1 MiB of form fields
# (tipline/intake/web.py, request_ceiling): files past the limit are dropped as they are
# read, and the reporter gets the form back with the text kept (issue 8). nginx allows
# this much more again, so the app, not nginx, answers a body that is somewhat too large.
BODY_MARGIN_MB = 10
APP_FORM_ALLOWANCE_MB = 1


@dataclass(frozen=True)
class Profile:
    title: str
    upstream: str
    header_timeout: str
    body_timeout: str
    send_timeout: str
    keepalive_timeout: str
    upstream_timeout: str
    access_log: bool
    error_level: str


PROFILES = {
    # Citizens on phones and Tor: deadlines are per read, so they are short but still
    # generous for a slow link. No access log and no error log below "emerg": at every
    # other level nginx writes the client's address ("client: ...") beside request errors
    # (DESIGN.md, "Anonymity").
    "portal": Profile(
        title="The public portal",
        upstream="127.0.0.1:8000",
        header_timeout="10s",
        body_timeout="20s",
        send_timeout="20s",
        keepalive_timeout="15s",
        upstream_timeout="60s",
        access_log=False,
        error_level="emerg",
    ),
    # Officers on the internal network: longer deadlines, an access log without addresses
    # or query strings, and ordinary error logging (officers' addresses, never reporters').
    "triage": Profile(
        title="The internal triage site",
        upstream="127.0.0.1:8001",
        header_timeout="60s",
        body_timeout="120s",
        send_timeout="120s",
        keepalive_timeout="75s",
        upstream_timeout="300s",
        access_log=True,
        error_level="error",
    ),
}

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
UPSTREAM = re.compile(
    r"^(unix:/[A-Za-z0-9._/-]+|[A-Za-z0-9.-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5})$"
)
LISTEN = re.compile(r"^([0-9.]+|\[[0-9A-Fa-f:]+\]|\*)$")
PATH = re.compile(r"^/[A-Za-z0-9._/+@=-]*$")
LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")


class RenderError(ValueError):
    pass


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):  # fullmatch: "$" alone would let a final newline in
        raise RenderError(f"{what}: {value!r} is not allowed here")
    return value


def max_body_mb(max_upload_mb: int) -> int:
    """nginx's client_max_body_size for an app accepting ``max_upload_mb`` of files."""
    return 2 * max_upload_mb + APP_FORM_ALLOWANCE_MB + BODY_MARGIN_MB


def render(
    site: str,
    *,
    server_name: str,
    certificate: str,
    certificate_key: str,
    max_upload_mb: int,
    upstream: str | None = None,
    listen: tuple[str, ...] = ("*",),
    http_port: int = 80,
    https_port: int = 443,
    error_log: str | None = None,
    access_log: str | None = None,
    error_level: str | None = None,
    pages: str = str(PAGES),
) -> str:
    profile = PROFILES[site]
    if max_upload_mb < 1:
        raise RenderError("max upload must be at least 1 MB")
    for port in (http_port, https_port):
        if not 0 < port < 65536:
            raise RenderError(f"port {port} is out of range")
    level = error_level or profile.error_level
    if level not in LEVELS:
        raise RenderError(f"error level {level!r} is not one of {', '.join(LEVELS)}")
    log_path = _checked(PATH, error_log or f"/var/log/nginx/tipline-{site}.error.log", "error log")
    if not listen:
        raise RenderError("give at least one address to listen on")
    addresses = [_checked(LISTEN, address, "listen address") for address in listen]
    logging = ["    access_log off;"]
    log_format = ""
    if profile.access_log:
        # $uri, not $request: query strings may hold what an officer searched for.
        log_format = (
            f'log_format tipline_{site} \'$time_iso8601 "$request_method $uri" $status '
            "$body_bytes_sent $request_time';\n"
        )
        access_path = _checked(
            PATH, access_log or f"/var/log/nginx/tipline-{site}.access.log", "access log"
        )
        logging = [f"    access_log {access_path} tipline_{site};"]
    logging.append(f"    error_log {log_path} {level};")
    values = {
        "TITLE": profile.title,
        "SITE": site,
        "SERVER_NAME": _checked(HOSTNAME, server_name, "server name"),
        "UPSTREAM": _checked(UPSTREAM, upstream or profile.upstream, "upstream"),
        "LISTEN_DEFAULT": "\n".join(
            f"    listen {address}:{http_port} default_server;\n"
            f"    listen {address}:{https_port} ssl default_server;"
            for address in addresses
        ),
        "LISTEN_HTTP": "\n".join(f"    listen {address}:{http_port};" for address in addresses),
        "LISTEN_HTTPS": "\n".join(
            f"    listen {address}:{https_port} ssl;" for address in addresses
        ),
        "HTTPS_PORT_SUFFIX": "" if https_port == 443 else f":{https_port}",
        "CERTIFICATE": _checked(PATH, certificate, "certificate"),
        "CERTIFICATE_KEY": _checked(PATH, certificate_key, "certificate key"),
        "PAGES": _checked(PATH, pages, "pages folder"),
        "MAX_BODY": f"{max_body_mb(max_upload_mb)}m",
        "HEADER_LIMITS": "\n".join(
            f"    {line}"
            for line in (
                f"client_header_timeout {profile.header_timeout};",
                f"keepalive_timeout {profile.keepalive_timeout};",
                "keepalive_requests 100;",
                "reset_timedout_connection on;",
                "client_header_buffer_size 1k;",
                "large_client_header_buffers 4 8k;",
            )
        ),
        "BODY_TIMEOUT": profile.body_timeout,
        "SEND_TIMEOUT": profile.send_timeout,
        "KEEPALIVE_TIMEOUT": profile.keepalive_timeout,
        "UPSTREAM_TIMEOUT": profile.upstream_timeout,
        "LOGGING": "\n".join(logging),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    text = re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], text)
    if log_format:
        text = text.replace("\nupstream ", f"\n{log_format}\nupstream ", 1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", choices=sorted(PROFILES))
    parser.add_argument("--server-name", required=True, help="the one name this site answers")
    parser.add_argument("--certificate", required=True, help="PEM chain (absolute path)")
    parser.add_argument("--certificate-key", required=True, help="PEM key (absolute path)")
    parser.add_argument(
        "--max-upload-mb", type=int,
        default=int(os.environ.get("TIPLINE_MAX_UPLOAD_MB") or 50),
        help="the sites' TIPLINE_MAX_UPLOAD_MB (default: from the environment, else 50)",
    )  # fmt: skip
    parser.add_argument(
        "--upstream",
        help="gunicorn's host:port or unix:/path "
        "(default 127.0.0.1:8000 for the portal, :8001 for triage)",
    )
    parser.add_argument(
        "--listen", action="append",
        help="an address to listen on; repeat for more, e.g. --listen '*' --listen '[::]' "
        "for IPv4 and IPv6 (default: every IPv4 address)",
    )  # fmt: skip
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--error-log", help="default /var/log/nginx/tipline-SITE.error.log")
    parser.add_argument(
        "--access-log",
        help="triage only; default "
        "/var/log/nginx/tipline-triage.access.log (the portal keeps none)",
    )
    parser.add_argument(
        "--error-level",
        choices=LEVELS,
        help="default emerg for the portal (no addresses), error for triage",
    )
    parser.add_argument(
        "--pages",
        default=str(PAGES),
        help="folder holding 413.html and 50x.html (default: deploy/nginx/pages)",
    )
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        text = render(
            args.site,
            server_name=args.server_name,
            certificate=args.certificate,
            certificate_key=args.certificate_key,
            max_upload_mb=args.max_upload_mb,
            upstream=args.upstream,
            listen=tuple(args.listen or ["*"]),
            http_port=args.http_port,
            https_port=args.https_port,
            error_log=args.error_log,
            access_log=args.access_log,
            error_level=args.error_level,
            pages=args.pages,
        )
    except RenderError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
