"""The ``tipline`` command, run as a user runs it: a subprocess with TIPLINE_* variables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSPHRASE, cli_environment, run_cli, submit_report
from tipline.intake.config import Config
from tipline.intake.db import make_engine
from tipline.intake.models import AuditEvent, Case, Officer, Tip
from tipline.portal import create_app as create_portal
from tipline.triage.cli import DEMO_OFFICERS

TIPLINE = [sys.executable, "-m", "tipline.triage.cli"]

SAMPLE = {
    "channel": "letter",
    "received_on": "2025-09-30",
    "category": "fake_treatment",
    "region": "441521",
    "text": "举报信：某医院挂床住院。",
    "amount": 150000,
    "suspect_kind": "medical_institution",
    "fund": "medical",
}


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return cli_environment(tmp_path / "instance", database_url)


run = run_cli


def count(database_url: str, model: type) -> int:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["keys"],
        ["keys", "generate"],
        ["keys", "rotate"],
        ["keys", "export-public"],
        ["users"],
        ["users", "add"],
        ["tips"],
        ["tips", "import"],
        ["tips", "show"],
        ["serve"],
        ["worker"],
        ["demo"],
    ],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = subprocess.run([*TIPLINE, *command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_init_import_show(env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    assert run(env, "init").returncode == 0
    assert run(env, "init").returncode == 0  # idempotent
    keys = list((tmp_path / "instance" / "keys").iterdir())
    assert sorted(p.name.split(".", 1)[1] for p in keys) == ["key.json", "pub.json"]
    tips = tmp_path / "tips.jsonl"
    tips.write_text(
        json.dumps(SAMPLE, ensure_ascii=False)
        + "\n\n"
        + json.dumps({**SAMPLE, "channel": "phone", "text": "电话：冒领养老金"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    imported = run(env, "tips", "import", str(tips))
    assert imported.returncode == 0, imported.stderr
    ids = imported.stdout.split()
    assert len(ids) == 2 and all(len(i) == 16 for i in ids)
    shown = run(env, "tips", "show", ids[0])
    assert shown.returncode == 0, shown.stderr
    assert "举报信：某医院挂床住院。" in shown.stdout
    assert "received_on:  2025-09-30" in shown.stdout
    engine = make_engine(database_url)
    with Session(engine) as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "tip.read")).all()
        assert [r.tip_id for r in reads] == [ids[0]]
        tip = session.get(Tip, ids[1])
        assert tip is not None and tip.channel == "phone" and tip.reporter_locator is None
    engine.dispose()


def test_a_bad_line_stores_nothing_and_names_its_line(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    run(env, "init")
    tips = tmp_path / "tips.jsonl"
    lines = [
        json.dumps(SAMPLE),
        json.dumps({**SAMPLE, "category": "no_such_category"}),
        "{not json",
        json.dumps({**SAMPLE, "received_on": "30/09/2025", "colour": "red"}),
    ]
    tips.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(env, "tips", "import", str(tips))
    assert result.returncode == 1
    assert "line 2: category" in result.stderr
    assert "line 3: not valid JSON" in result.stderr
    assert "line 4: unknown field 'colour'" in result.stderr
    assert "line 4: 'received_on' must be a date" in result.stderr
    assert "line 1" not in result.stderr
    assert count(database_url, Tip) == 0


def test_users_add_reads_the_password_from_stdin(env: dict[str, str], database_url: str) -> None:
    run(env, "init")
    result = run(
        env,
        "users",
        "add",
        "li.wei",
        "--role",
        "triage_officer",
        "--bureau",
        "labor_inspection",
        "--region",
        "441502",
        "--email",
        "li.wei@hrss.example",
        stdin="a long enough password\n",
    )
    assert result.returncode == 0, result.stderr
    # An activation code for the officer's own enrolment; never a TOTP secret.
    assert re.match(r"activation code: [0-9A-Z]{4}(-[0-9A-Z]{4}){3}\n", result.stdout)
    assert "otpauth" not in result.stdout and "secret" not in result.stdout
    assert "a long enough password" not in result.stdout + result.stderr
    # Granting a role without a second person needs the key passphrase, proven by opening
    # the private keys.
    wrong = run({**env, "TIPLINE_KEY_PASSPHRASE": "not it"}, "users", "add", "zhao.lei",
                "--role", "supervisor", "--bureau", "hrss_fund_supervision", "--region",
                "441500", stdin="a long enough password\n")  # fmt: skip
    assert wrong.returncode == 1 and "passphrase" in wrong.stderr
    refused = run(env, "users", "add", "x.y", "--role", "admin", stdin="short\n")
    assert refused.returncode == 1 and "at least 12 characters" in refused.stderr
    bad_mail = run(
        env, "users", "add", "x.y", "--role", "admin", "--email", "nobody",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert bad_mail.returncode == 1 and "not an e-mail address" in bad_mail.stderr
    assert count(database_url, Officer) == 1
    engine = make_engine(database_url)
    with Session(engine) as session:
        added = session.scalar(select(Officer).where(Officer.username == "li.wei"))
        assert added is not None and added.email == "li.wei@hrss.example"
    engine.dispose()


def test_keys_rotate_keeps_old_tips_readable(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    tips = tmp_path / "tips.jsonl"
    tips.write_text(json.dumps(SAMPLE) + "\n", encoding="utf-8")
    [old_tip] = run(env, "tips", "import", str(tips)).stdout.split()
    rotated = run(env, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.strip()
    assert json.loads(run(env, "keys", "export-public").stdout)["kid"] == new_kid
    [new_tip] = run(env, "tips", "import", str(tips)).stdout.split()
    for tip_id in (old_tip, new_tip):
        assert "某医院挂床住院" in run(env, "tips", "show", tip_id).stdout
    generate = run(env, "keys", "generate")
    assert generate.returncode == 1 and "rotate" in generate.stderr


def test_commands_needing_the_private_key_refuse_a_wrong_passphrase(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "init")
    result = run({**env, "TIPLINE_KEY_PASSPHRASE": "wrong"}, "tips", "show", "0" * 16)
    assert result.returncode == 1
    assert "passphrase" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    no_pass = {k: v for k, v in env.items() if k != "TIPLINE_KEY_PASSPHRASE"}
    served = run({**no_pass, "TIPLINE_SECRET_KEY": "s"}, "serve", "triage", "--port", "1")
    assert served.returncode == 1 and "TIPLINE_KEY_PASSPHRASE" in served.stderr
    unsecret = run(env, "serve", "portal", "--port", "1")
    assert unsecret.returncode == 1 and "TIPLINE_SECRET_KEY" in unsecret.stderr


def test_demo_sets_up_an_instance_labelled_demo_only(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env.update(TIPLINE_INSTANCE=str(tmp_path / "demo"), TIPLINE_KEYFILE_SCRYPT_N="1024")
    for _ in range(2):  # a second run reuses keys and tips, and issues fresh passwords
        result = subprocess.run(
            [*TIPLINE, "demo", "--no-serve"], env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "DEMO ONLY" in result.stdout
        demo_account = r"triage\s+triage_officer\s+password \S+\s+DEMO-ONLY TOTP secret [A-Z2-7]+"
        assert re.search(demo_account, result.stdout)
    instance = tmp_path / "demo"
    assert (instance / "DEMO-ONLY-key-passphrase.txt").stat().st_mode & 0o077 == 0
    assert len(list((instance / "keys").glob("*.key.json"))) == 1
    assert count(f"sqlite:///{instance / 'tipline.db'}", Tip) == 5
    assert count(f"sqlite:///{instance / 'tipline.db'}", Officer) == len(DEMO_OFFICERS)
    # The first sample tip is a case, handed over to labour inspection, made once.
    assert count(f"sqlite:///{instance / 'tipline.db'}", Case) == 1


def test_worker_runs_the_jobs_the_portal_enqueued(
    make_config: Callable[..., Config],
    public_keys_dir: Path,
    keys_dir: Path,
    redis_url: str,
    database_url: str,
    env: dict[str, str],
) -> None:
    config = make_config(keys_dir=public_keys_dir, redis_url=redis_url, key_passphrase=None)
    app = create_portal(config)
    try:
        submit_report(app.test_client())
    finally:
        app.extensions["portal"].engine.dispose()
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.scalars(select(Tip.processed)).one() is False
        # The worker opens tips (the amount that raises a pack's flags is sealed): it holds
        # the private keys, which the portal never does.
        worker_env = {**env, "TIPLINE_REDIS_URL": redis_url, "TIPLINE_QUEUE": config.queue_name,
                      "TIPLINE_KEYS_DIR": str(keys_dir), "TIPLINE_KEY_PASSPHRASE": PASSPHRASE}
        result = run(worker_env, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        with Session(engine) as session:
            tip = session.scalars(select(Tip)).one()
            assert tip.processed and tip.suggested_bureau == "healthcare_security"
    finally:
        engine.dispose()
