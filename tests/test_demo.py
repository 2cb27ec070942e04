"""`tipline demo` as an operator runs it: both sites in one browser, and stopping it.

Issue 8: the two sites shared one ``session`` cookie on 127.0.0.1 (browsers do not keep
cookies apart by port), so signing in to triage signed the reporter out; and SIGTERM left
both gunicorn servers running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.served import PortalClient, TriageClient, free_port

ACCOUNT = re.compile(r"^\s+(\w+)\s+\w+\s+password (\S+)\s+DEMO-ONLY TOTP secret ([A-Z2-7]+)$")


@dataclass
class Demo:
    process: subprocess.Popen[str]
    portal: str
    triage: str
    ports: tuple[int, int]
    accounts: dict[str, tuple[str, str]]  # username -> (password, TOTP secret)


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc (gunicorn arbiters and their workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    wave = {pid}
    while wave:
        wave = {child for child, parent in parents.items() if parent in wave} - found
        found |= wave
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextmanager
def running_demo(tmp_path: Path) -> Iterator[Demo]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env.update(TIPLINE_INSTANCE=str(tmp_path / "demo"), TIPLINE_KEYFILE_SCRYPT_N="1024",
               TIPLINE_RECEIPT_SCRYPT_N="1024")  # fmt: skip
    ports = (free_port(), free_port())
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tipline.triage.cli", "demo",
         "--portal-port", str(ports[0]), "--triage-port", str(ports[1])],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        accounts = {}
        assert process.stdout is not None
        for line in process.stdout:
            found = ACCOUNT.match(line.rstrip("\n"))
            if found:
                accounts[found.group(1)] = (found.group(2), found.group(3))
            if line.strip().startswith("triage: http"):
                break
        deadline = time.monotonic() + 120
        while not all(answers(port) for port in ports):
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the demo's sites did not start"
            time.sleep(0.2)
        yield Demo(process, f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}",
                   ports, accounts)  # fmt: skip
    finally:
        # Whatever a failed run left behind, in the demo's own process group.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])  # fmt: skip
def test_the_demo_stops_both_sites_on_a_signal(tmp_path: Path, stop: signal.Signals) -> None:
    with running_demo(tmp_path) as demo:
        deadline = time.monotonic() + 60
        servers = descendants(demo.process.pid)
        while len(servers) < 2 + 2 * 2:  # two arbiters, two workers each
            assert time.monotonic() < deadline, servers
            time.sleep(0.2)
            servers = descendants(demo.process.pid)
        # Only the demo is signalled, as `kill PID` or a service manager does.
        demo.process.send_signal(stop)
        assert demo.process.wait(timeout=60) == 0
        left = [pid for pid in servers if alive(pid)]
        assert not left, left
        assert not any(answers(port) for port in demo.ports)


@pytest.mark.slow
def test_one_browser_stays_signed_in_to_both_demo_sites(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        jar = requests.Session()  # one browser: cookies kept by host, not by port
        reporter = PortalClient(demo.portal)
        officer = TriageClient(demo.triage)
        reporter.session = officer.session = jar
        receipt = reporter.submit("某诊所虚开药品，骗取医保基金。")
        reporter.check(receipt)
        password, secret = demo.accounts["triage"]
        officer.sign_in("triage", secret, password)
        names = {cookie.name for cookie in jar.cookies}
        assert {"tipline_portal", "tipline_triage"} <= names, names
        for _ in range(2):  # each site's requests leave the other's session alone
            mine = jar.get(demo.portal + "/my-report", allow_redirects=False)
            assert mine.status_code == 200 and "某诊所虚开药品" in mine.text
            inbox = jar.get(demo.triage + "/", allow_redirects=False)
            assert inbox.status_code == 200, inbox.headers.get("Location")
        demo.process.send_signal(signal.SIGTERM)
        assert demo.process.wait(timeout=60) == 0
