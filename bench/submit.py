"""What the protections cost a submission: tipline's portal against a plain Flask form.

    .venv/bin/python bench/submit.py [--requests N] [--concurrency 1,8,32] [--workers W]

Both apps get a fresh PostgreSQL database and are served by gunicorn with the same
settings (gthread, 4 threads per worker, W workers). For each concurrency level, C client
threads each GET /report once (their own session and CSRF token) and then POST reports
until N have been sent; the rows are counted afterwards to confirm they were stored.

Reported per level and app: stored submissions per second, p50/p99 latency of the POST,
server CPU per submission (utime + stime of the gunicorn master and its workers, read
from /proc before and after), and for tipline the share of that CPU spent deriving the
receipt keys (one scrypt derivation per submission, timed in this process).

The PostgreSQL server's own CPU is not counted for either app.
Servers and databases are removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import create_engine

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT / "tests"), str(BENCH)]
served: Any = importlib.import_module("served")  # tests/served.py, shared with the tests
plain_app: Any = importlib.import_module("plain_app")

# About 600 characters, the length of a typical written tip.
TEXT = (
    "本人于今年三月起多次发现某市某区一家民营医院通过虚构住院记录、伪造检查单据和串换药品的方式"
    "骗取医保基金。该院组织所谓免费体检，收集参保人员的社保卡后为其办理虚假住院，实际上病人"
    "从未入住，但医院仍按每日床位费、护理费和治疗费向医保结算。"
) * 4


@dataclass
class LevelResult:
    app: str
    concurrency: int
    sent: int
    stored: int
    errors: int
    seconds: float
    cpu_seconds: float
    latencies: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    @property
    def cpu_ms_per_submission(self) -> float:
        return 1000 * self.cpu_seconds / self.stored if self.stored else float("nan")


@dataclass
class Target:
    name: str
    server: Any  # served.Server
    database: str
    table: str

    @property
    def url(self) -> str:
        return str(self.server.url)

    def rows(self) -> int:
        return int(served.count_rows(self.database, self.table))


def run_level(target: Target, requests: int, concurrency: int) -> LevelResult:
    """C clients, each with its own session, send ``requests`` POSTs between them."""
    clients = [served.PortalClient(target.url) for _ in range(concurrency)]
    ready = threading.Barrier(concurrency + 1, timeout=120)
    go = threading.Event()
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    errors = [0]

    def take() -> bool:
        with lock:
            if next_index[0] >= requests:
                return False
            next_index[0] += 1
            return True

    def client_loop(client: Any) -> None:
        try:
            client.token()
        except BaseException:
            ready.abort()
            raise
        ready.wait()
        go.wait()
        mine: list[float] = []
        failed = 0
        while take():
            started = time.perf_counter()
            try:
                with client.post_report(TEXT) as response:
                    ok = response.status_code == 200 and 'id="receipt"' in response.text
            except Exception:
                ok = False
            elapsed = time.perf_counter() - started
            if ok:
                mine.append(elapsed)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    rows_before = target.rows()
    threads = [threading.Thread(target=client_loop, args=(c,), daemon=True) for c in clients]
    try:
        for thread in threads:
            thread.start()
        ready.wait()  # every client has its session and token
        cpu_before = target.server.cpu_seconds()
        started = time.perf_counter()
        go.set()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        cpu_after = target.server.cpu_seconds()
    finally:
        go.set()
        for client in clients:
            client.close()
    stored = target.rows() - rows_before
    return LevelResult(
        app=target.name,
        concurrency=concurrency,
        sent=requests,
        stored=stored,
        errors=errors[0],
        seconds=seconds,
        cpu_seconds=cpu_after - cpu_before,
        latencies=latencies,
    )


def _kdf_cpu(n: int, samples: int) -> float:
    """CPU seconds per ReceiptKdf.derive at cost ``n`` in this process (median of samples)."""
    from tipline.crypto import ReceiptKdf, new_receipt

    kdf = ReceiptKdf(n=n)
    receipt, salt = new_receipt(), ReceiptKdf.new_salt()
    kdf.derive(receipt, salt)  # the first call pays for allocation
    costs = []
    for _ in range(samples):
        started = time.process_time()
        kdf.derive(receipt, salt)
        costs.append(time.process_time() - started)
    return statistics.median(costs)


def kdf_cpu(n: int, samples: int, parallel: int) -> float:
    """CPU per derivation with ``parallel`` processes deriving at once (memory contention)."""
    if parallel <= 1:
        return _kdf_cpu(n, samples)
    with ProcessPoolExecutor(max_workers=parallel) as pool:
        costs = list(pool.map(_kdf_cpu, [n] * parallel, [samples] * parallel))
    return statistics.median(costs)


def serve_tipline(work: Path, workers: int, receipt_n: int | None) -> tuple[Target, Any]:
    database = served.create_database("tipline_bench")
    try:
        portal = served.ServedPortal.start(
            work / "tipline", database, workers=workers, receipt_scrypt_n=receipt_n
        )
    except BaseException:
        served.drop_database(database)
        raise
    return Target("tipline", portal.server, database, "tip"), portal


def serve_plain(work: Path, workers: int, csrf: bool) -> Target:
    database = served.create_database("plain_bench")
    try:
        url = served.sqlalchemy_url(database)
        engine = create_engine(url)
        try:
            plain_app.create_schema(engine)
        finally:
            engine.dispose()
        env = served.clean_env(
            {
                "PLAIN_DATABASE_URL": url,
                "PLAIN_SECRET_KEY": secrets.token_urlsafe(32),
                "PLAIN_CSRF": "1" if csrf else "0",
            }
        )
        port = served.free_port()
        command = served.gunicorn_command(
            "plain_app:create_app()", "127.0.0.1", port, workers, pythonpath=str(BENCH)
        )
        server = served.Server(command, env, port, work / "plain" / "gunicorn.log")
        server.start()
    except BaseException:
        served.drop_database(database)
        raise
    return Target("plain", server, database, "plain_report")


def fmt_ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def print_level(tip: LevelResult, plain: LevelResult, kdf_seconds: float, parallel: int) -> None:
    ratio = tip.rate / plain.rate if plain.rate else float("nan")
    share = 1000 * kdf_seconds / tip.cpu_ms_per_submission
    print(f"\nconcurrency {tip.concurrency}")
    header = (
        f"  {'app':<8}{'sent':>6}{'stored':>8}{'err':>5}{'secs':>7}{'req/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/sub':>12}{'KDF share':>11}"
    )
    print(header)
    for result, kdf in ((tip, f"{100 * share:.0f}%"), (plain, "-")):
        print(
            f"  {result.app:<8}{result.sent:>6}{result.stored:>8}{result.errors:>5}"
            f"{result.seconds:>7.1f}{result.rate:>9.1f}"
            f"{fmt_ms(result.percentile(50)):>9}{fmt_ms(result.percentile(99)):>9}"
            f"{result.cpu_ms_per_submission:>12.1f}{kdf:>11}"
        )
    print(f"  ratio tipline/plain req/s: {ratio:.3f} (plain is {1 / ratio:.1f}x faster)")
    print(
        f"  KDF: {fmt_ms(kdf_seconds)} ms CPU per derivation ({parallel} deriving at once)"
        " x 1 per submission"
        f" / {tip.cpu_ms_per_submission:.1f} ms CPU per tipline submission"
    )


def warm_up(target: Target, concurrency: int) -> None:
    result = run_level(target, concurrency * 2, concurrency)
    if result.errors:
        raise RuntimeError(f"{target.name}: {result.errors} errors while warming up")


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=250, help="POSTs to tipline per level (default 250)"
    )
    parser.add_argument(
        "--plain-requests",
        type=int,
        default=None,
        help="POSTs to the plain app per level (default 5 x --requests: it is much faster)",
    )
    parser.add_argument("--concurrency", default="1,8,32", help="client threads per level")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--receipt-scrypt-n",
        type=int,
        default=None,
        help="TIPLINE_RECEIPT_SCRYPT_N for the portal (default: tipline's own, 2**15)",
    )
    parser.add_argument("--kdf-samples", type=int, default=20)
    parser.add_argument(
        "--plain-csrf", choices=("on", "off"), default="on", help="flask-wtf CSRF in plain"
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    plain_requests = args.plain_requests or 5 * args.requests

    from tipline.intake.config import Config

    receipt_n = args.receipt_scrypt_n or Config.receipt_scrypt_n
    problem = served.pg_unavailable()
    if problem:
        print(problem, file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _raise_interrupt)
    python = sys.version.split()[0]
    print(f"machine: nproc={os.cpu_count()} ({os.uname().machine}, Python {python})")
    print(
        f"servers: gunicorn gthread, {args.workers} workers x {served.THREADS_PER_WORKER}"
        f" threads, both apps on PostgreSQL 127.0.0.1, clients on the same machine"
    )
    print(
        f"tipline: TIPLINE_RECEIPT_SCRYPT_N={receipt_n} (r=8, p=1), no Redis (jobs inline),"
        f" no attachment; plain: flask-wtf CSRF {args.plain_csrf}, fields stored as sent"
    )
    print(
        f"requests per level: tipline {args.requests}, plain {plain_requests};"
        f" report text {len(TEXT)} characters"
    )

    with tempfile.TemporaryDirectory(prefix="tipline-bench-") as tmp:
        work = Path(tmp)
        tipline_target = plain_target = None
        portal = None
        try:
            tipline_target, portal = serve_tipline(work, args.workers, args.receipt_scrypt_n)
            plain_target = serve_plain(work, args.workers, args.plain_csrf == "on")
            print(
                "KDF share: CPU of one ReceiptKdf.derive, timed in this process right after"
                " each tipline level\n  (with as many processes deriving at once as the"
                " server could run: min(concurrency, workers, nproc)),\n  divided by the"
                " server's CPU per tipline submission"
            )
            warm = args.workers * served.THREADS_PER_WORKER
            warm_up(tipline_target, warm)
            warm_up(plain_target, warm)
            for level in levels:
                tip = run_level(tipline_target, args.requests, level)
                parallel = min(level, args.workers, os.cpu_count() or 1)
                kdf_seconds = kdf_cpu(receipt_n, args.kdf_samples, parallel)
                plain = run_level(plain_target, plain_requests, level)
                print_level(tip, plain, kdf_seconds, parallel)
                for result in (tip, plain):
                    if result.stored != result.sent or result.errors:
                        print(
                            f"  WARNING: {result.app} stored {result.stored} of {result.sent}"
                            f" ({result.errors} errors)"
                        )
        except KeyboardInterrupt:
            print("\ninterrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if portal is not None:
                portal.stop()
            if plain_target is not None:
                plain_target.server.stop()
            for target in (tipline_target, plain_target):
                if target is not None:
                    served.drop_database(target.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
