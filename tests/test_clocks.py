"""Statutory clocks on real tips: counted in working days around real holidays, swept,
escalated, and announced by e-mails that say only that something is waiting."""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from tipline.crypto import ReceiptKdf, load_private_keyring, load_public_keyring
from tipline.intake.config import Config, Limits
from tipline.intake.db import make_sessionmaker, transaction
from tipline.intake.models import AuditEvent, Deadline, Tip
from tipline.intake.queue import InlineQueue, RedisQueue, bind_engine
from tipline.intake.reading import open_tip
from tipline.intake.submit import Report, ReporterIdentity, Submitter
from tipline.intake.workdays import Calendar
from tipline.triage import clocks, jobs
from tipline.triage.accounts import add_officer
from tipline.triage.tips import decisions
from tipline.triage.worker import JOBS, DeclaredJob

from .conftest import PASSPHRASE

LIMITS = Limits(max_file_bytes=1 << 20, max_total_bytes=1 << 21)
ID = ReporterIdentity(name="王小明", id_number="11010519491231002X", phone="13800138000")


@pytest.fixture
def submitter(engine: Engine, keys_dir: Path) -> Submitter:
    return Submitter(
        make_sessionmaker(engine),
        keyring=load_public_keyring(keys_dir),
        queue=InlineQueue(engine, load_private_keyring(keys_dir, PASSPHRASE)),
        kdf=ReceiptKdf(n=2**10),
        limits=LIMITS,
    )


def received(submitter: Submitter, day: dt.date, **extra: Any) -> str:
    report = Report(
        category="fake_docs", region="441502", text="伪造材料领取待遇", received_on=day, **extra
    )
    return submitter.submit(report).tip_id


def deadlines(engine: Engine, tip_id: str) -> dict[str, Deadline]:
    with Session(engine) as session:
        rows = session.scalars(select(Deadline).where(Deadline.tip_id == tip_id)).all()
        return {row.rule: row for row in rows}


def test_a_tip_received_before_national_day(submitter: Submitter, engine: Engine) -> None:
    # 2025-10-01..08 are holidays; Saturday 10-11 is a make-up working day (domain.md T1, T2).
    tip_id = received(submitter, dt.date(2025, 9, 30), identity=ID, wants_notice=True)
    found = deadlines(engine, tip_id)
    assert found["T1"].due_on == dt.date(2025, 10, 14)
    assert found["T2"].due_on == dt.date(2025, 10, 21)
    assert (found["T1"].rule_pack, found["T1"].unit, found["T1"].amount) == (
        "national@2026.1", "working_days", 5,
    )  # fmt: skip
    assert not found["T1"].calendar_fallback
    with Session(engine) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None and tip.next_due == dt.date(2025, 10, 14)


def test_a_tip_received_on_a_make_up_working_sunday(submitter: Submitter, engine: Engine) -> None:
    # 2025-09-28 was a Sunday worked in exchange for the holiday; the start day is not
    # counted (刑诉法 art.105): Sep 29, 30, Oct 9, 10, 11.
    found = deadlines(engine, received(submitter, dt.date(2025, 9, 28)))
    assert set(found) == {"T1"}  # no T2 without a request to be told
    assert found["T1"].due_on == dt.date(2025, 10, 11)


def test_a_decision_meets_its_clocks(submitter: Submitter, engine: Engine, keys_dir: Path) -> None:
    tip_id = received(submitter, dt.date(2025, 9, 30), identity=ID, wants_notice=True)
    keyring = load_private_keyring(keys_dir, PASSPHRASE)
    with transaction(make_sessionmaker(engine)) as session:
        officer = add_officer(
            session, "desk", "a long test password", role="triage_officer",
            bureau="hrss_fund_supervision", region="441500", requested_by="test",
            approved_by="test",
        ).officer  # fmt: skip
        tip = session.scalars(
            select(Tip).where(Tip.id == tip_id).options(selectinload(Tip.deadlines))
        ).one()
        decisions.accept(session, open_tip(tip, keyring), officer)
    found = deadlines(engine, tip_id)
    # Decided today, long after the 2025 due dates: T1 met, and on record as late.
    assert found["T1"].state == "met_late" and found["T1"].met_on is not None
    # T2 is met when the reporter is told (domain.md T2), not by the decision itself.
    assert found["T2"].met_on is None
    with Session(engine) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None and tip.status == "accepted"
        assert tip.next_due == dt.date(2025, 10, 21)  # T2's, still open


def test_sweep_marks_due_soon_then_overdue_and_escalates_once(
    submitter: Submitter, engine: Engine
) -> None:
    tip_id = received(submitter, dt.date(2025, 9, 30))
    calendar = Calendar()
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        result = clocks.sweep(session, dt.date(2025, 10, 13), calendar)
    assert result.due_soon == {tip_id} and not result.overdue
    with transaction(factory) as session:
        result = clocks.sweep(session, dt.date(2025, 10, 15), calendar)
    assert result.overdue == {tip_id} and result.escalated == {tip_id}
    with transaction(factory) as session:
        again = clocks.sweep(session, dt.date(2025, 10, 16), calendar)
    assert again.overdue == {tip_id} and not again.escalated
    assert deadlines(engine, tip_id)["T1"].state == "overdue"
    with Session(engine) as session:
        escalations = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "deadline.escalate")
        ).all()
        assert [e.tip_id for e in escalations] == [tip_id]


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Sink]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", sink
    finally:
        controller.stop()


@pytest.mark.parametrize("mode", ["inline", "redis"])
def test_the_job_notifies_who_may_see_and_says_nothing_more(
    mode: str,
    submitter: Submitter,
    engine: Engine,
    smtp: tuple[str, Sink],
    monkeypatch: pytest.MonkeyPatch,
    make_config: Callable[..., Config],
    request: pytest.FixtureRequest,
) -> None:
    smtp_url, sink = smtp
    tip_id = received(submitter, dt.date(2025, 9, 30))  # long overdue by now
    with transaction(make_sessionmaker(engine)) as session:
        for name, role, region, bureau in (
            ("boss", "supervisor", "441500", "hrss_fund_supervision"),
            ("elsewhere", "supervisor", "440300", "hrss_fund_supervision"),
            ("desk", "triage_officer", "441502", "hrss_fund_supervision"),
        ):
            officer = add_officer(
                session,
                name,
                "a long test password",
                role=role,
                region=region,
                bureau=bureau,
                requested_by="test",
                approved_by="test",
            ).officer
            officer.email = f"{name}@hrss.example"
    monkeypatch.setenv("TIPLINE_SMTP_URL", smtp_url)
    monkeypatch.setenv("TIPLINE_DATABASE_URL", str(engine.url.render_as_string(False)))
    if mode == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        monkeypatch.setenv("TIPLINE_REDIS_URL", redis_url)
        monkeypatch.setenv("TIPLINE_QUEUE", "test-sweep")
        queue = RedisQueue(redis_url, "test-sweep", JOBS)
        try:
            queue.enqueue(jobs.sweep_deadlines)
            from rq import Queue as RqQueue
            from rq import SimpleWorker
            from rq.registry import ScheduledJobRegistry
            from rq.serializers import JSONSerializer

            bind_engine(engine)
            declared = RqQueue(
                "test-sweep", connection=queue.connection, serializer=JSONSerializer,
                job_class=DeclaredJob,
            )  # fmt: skip
            SimpleWorker(
                [declared], connection=queue.connection, serializer=JSONSerializer,
                job_class=DeclaredJob,
            ).work(burst=True)  # fmt: skip
            # The job booked the next morning's sweep with rq's scheduler.
            scheduled = ScheduledJobRegistry(queue=queue.queue).get_job_ids()
            assert len(scheduled) == 1 and scheduled[0].startswith("deadline-sweep-")
        finally:
            queue.connection.close()
    else:
        monkeypatch.delenv("TIPLINE_REDIS_URL", raising=False)
        bind_engine(engine)
        assert jobs.sweep_deadlines() == 1
    # Only the supervisor whose jurisdiction holds the overdue tip is told.
    assert [m.rcpt_tos for m in sink.messages] == [["boss@hrss.example"]]
    text = sink.messages[0].content.decode()
    assert tip_id not in text and "fake_docs" not in text and "伪造" not in text


class RefusesOnce(Sink):
    """A server that answers its first message "451 try again later", then takes all."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if not self.refused:
            self.refused += 1
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def _run_sweep_in_worker(redis_url: str) -> None:
    """Enqueue the sweep and let rq's worker run it, with rq's retries; a retry that rq
    booked for later is brought forward and handed over by rq's own scheduler."""
    from rq import Queue as RqQueue
    from rq import SimpleWorker
    from rq.registry import ScheduledJobRegistry
    from rq.scheduler import RQScheduler
    from rq.serializers import JSONSerializer

    queue = RedisQueue(redis_url, "test-sweep", JOBS)
    try:
        job_id = queue.enqueue(jobs.sweep_deadlines)
        declared = RqQueue(
            "test-sweep", connection=queue.connection, serializer=JSONSerializer,
            job_class=DeclaredJob,
        )  # fmt: skip
        worker = SimpleWorker(
            [declared], connection=queue.connection, serializer=JSONSerializer,
            job_class=DeclaredJob,
        )  # fmt: skip
        worker.work(burst=True)
        registry = ScheduledJobRegistry(queue=declared)
        if job_id in registry.get_job_ids():  # it failed, and rq booked a retry
            job = declared.fetch_job(job_id)
            assert job is not None
            registry.schedule(job, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            scheduler = RQScheduler([declared], connection=queue.connection)
            scheduler.acquire_locks()
            scheduler.enqueue_scheduled_jobs()
            scheduler.release_locks()
            worker.work(burst=True)
    finally:
        queue.connection.close()


@pytest.mark.parametrize("mode", ["inline", "redis"])
def test_notices_refused_once_are_sent_by_the_retry_and_only_once(
    mode: str,
    submitter: Submitter,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The first run commits its escalation, then the server refuses the mail; the retry
    finds nothing new to escalate, yet sends the notices. A later run that day sends none."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = RefusesOnce()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    request.addfinalizer(controller.stop)
    received(submitter, dt.date(2025, 9, 30))  # long overdue: escalated on the first run
    due_today = received(submitter, dt.date(2025, 9, 30))
    with transaction(make_sessionmaker(engine)) as session:
        for deadline in session.scalars(select(Deadline).where(Deadline.tip_id == due_today)):
            deadline.due_on = jobs.today()  # due soon, not overdue
        for name, role, region in (("boss", "supervisor", "441500"),
                                   ("desk", "triage_officer", "441502")):  # fmt: skip
            officer = add_officer(
                session, name, "a long test password", role=role, region=region,
                bureau="hrss_fund_supervision", requested_by="test", approved_by="test",
            ).officer  # fmt: skip
            officer.email = f"{name}@hrss.example"
    monkeypatch.setenv("TIPLINE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("TIPLINE_DATABASE_URL", str(engine.url.render_as_string(False)))
    bind_engine(engine)
    if mode == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        monkeypatch.setenv("TIPLINE_REDIS_URL", redis_url)
        monkeypatch.setenv("TIPLINE_QUEUE", "test-sweep")
        _run_sweep_in_worker(redis_url)
    else:
        # Without Redis, cron runs `tipline deadlines sweep` again; the same function.
        monkeypatch.delenv("TIPLINE_REDIS_URL", raising=False)
        with pytest.raises(smtplib.SMTPDataError):
            jobs.sweep_deadlines()
        assert jobs.sweep_deadlines() == 2
    assert sink.refused == 1
    # boss: the escalated tip and the one due soon; desk: the one due soon.
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [
        "boss@hrss.example", "desk@hrss.example",
    ]  # fmt: skip
    # The next run the same day finds everything announced already.
    if mode == "redis":
        _run_sweep_in_worker(str(request.getfixturevalue("redis_url")))
    else:
        assert jobs.sweep_deadlines() == 0
    assert len(sink.messages) == 2


def test_next_sweep_is_the_next_morning_in_china() -> None:
    evening = dt.datetime(2025, 9, 30, 12, 0, tzinfo=dt.UTC)  # 20:00 in Beijing
    assert jobs.next_sweep_time(evening) == dt.datetime(2025, 9, 30, 23, 0, tzinfo=dt.UTC)
