"""Coverage-guided fuzzing of the evidence scrubber with atheris (libFuzzer).

    python bench/fuzz_scrub.py                   # every format, FUZZ_SECONDS in all (75)
    FUZZ_SECONDS=600 python bench/fuzz_scrub.py  # a longer run
    python bench/fuzz_scrub.py --replay DIR...   # rerun saved inputs (crash-*, slow-*)

The committed seeds are small real files in tests/fuzz/corpus/<extension>/. Each fuzz input
is one byte choosing the file name's extension (the name only tells apart formats sharing
a container) followed by the file. An input fails the run if ``scrub`` raises anything but
ScrubError (a RecursionError included), answers with a message that is not catalogued,
returns more than the output budget, or takes longer than FUZZ_INPUT_SECONDS (10) or more
than FUZZ_RSS_MB (2048) of memory. Failing inputs are kept in FUZZ_ARTIFACTS
(instance/fuzz/ by default) for --replay; inputs that found new coverage are not kept.
FUZZ_KEEP_GOING=1 restarts after a failure until the time is spent (for long runs);
FUZZ_ARGS passes more libFuzzer options.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MAX_BYTES = 2 * 1024 * 1024  # the output budget the harness gives each input

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def extensions() -> list[str]:
    from tipline.intake.scrub import ALLOWED_EXTENSIONS

    return sorted(ext.lstrip(".") for ext in ALLOWED_EXTENSIONS)


def one_input(data: bytes) -> None:
    """Scrub one input; raise on anything a citizen's upload must never cause."""
    from tipline.intake import scrub as scrubber

    if not data:
        return
    names = extensions()
    filename = "evidence." + names[data[0] % len(names)]
    try:
        result = scrubber.scrub(io.BytesIO(data[1:]), filename, max_bytes=MAX_BYTES)
    except scrubber.ScrubError as exc:
        if exc.message not in CATALOGUED:
            raise AssertionError(f"uncatalogued refusal: {exc.message!r}") from exc
        return
    output = result.data.read()
    if result.file_type is not None and len(output) > MAX_BYTES:
        raise AssertionError(f"{len(output)} bytes out, over the budget of {MAX_BYTES}")


def _catalogued() -> frozenset[str]:
    from tipline.intake import scrub as scrubber

    return frozenset(
        getattr(scrubber, name)
        for name in ("DAMAGED", "TOO_MANY_PIXELS", "TOO_MANY_PIXELS_TO_REDRAW", "TOO_LARGE",
                     "TOO_COMPLEX", "ENCRYPTED_PDF", "TOO_MANY_FRAMES", "BUSY")
    )  # fmt: skip


CATALOGUED: frozenset[str] = frozenset()


def seeds(into: Path) -> int:
    """Copy the committed seeds into ``into``, each behind its extension's byte."""
    names = extensions()
    count = 0
    for folder in sorted(CORPUS.iterdir()):
        if not folder.is_dir():
            continue
        for seed in sorted(folder.iterdir()):
            prefix = bytes([names.index(folder.name)])
            (into / f"{folder.name}-{seed.name}").write_bytes(prefix + seed.read_bytes())
            count += 1
    return count


def fuzz(argv: list[str]) -> None:
    """Run inside libFuzzer (the child process)."""
    import atheris

    global CATALOGUED
    with atheris.instrument_imports():
        import mutagen  # noqa: F401  (instrumented: its Python code guides the fuzzer)
        import PIL.Image  # noqa: F401

        import tipline.intake.scrub  # noqa: F401
    CATALOGUED = _catalogued()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        fuzz([sys.argv[0], *sys.argv[2:]])
        return 0
    global CATALOGUED
    CATALOGUED = _catalogued()
    if len(sys.argv) > 1 and sys.argv[1] == "--replay":
        failures = 0
        for path in (p for arg in sys.argv[2:] for p in sorted(Path(arg).glob("*"))):
            try:
                one_input(path.read_bytes())
            except Exception as exc:  # noqa: BLE001 - report every failing input
                failures += 1
                print(f"{path}: {type(exc).__name__}: {exc}")
        return 1 if failures else 0
    seconds = int(os.environ.get("FUZZ_SECONDS") or 75)
    artifacts = Path(os.environ.get("FUZZ_ARTIFACTS") or ROOT / "instance" / "fuzz")
    artifacts.mkdir(parents=True, exist_ok=True)
    keep_going = os.environ.get("FUZZ_KEEP_GOING") == "1"
    deadline = time.monotonic() + seconds
    failures = 0
    with tempfile.TemporaryDirectory(prefix="fuzz-corpus-") as work:
        count = seeds(Path(work))
        print(f"fuzzing scrub for {seconds} s from {count} seeds; failures go to {artifacts}/")
        while (left := int(deadline - time.monotonic())) > 0:
            command = [
                sys.executable,
                __file__,
                "--child",
                f"-max_total_time={left}",
                f"-timeout={os.environ.get('FUZZ_INPUT_SECONDS') or 10}",
                f"-rss_limit_mb={os.environ.get('FUZZ_RSS_MB') or 2048}",
                "-max_len=262144",
                "-print_final_stats=1",
                f"-artifact_prefix={artifacts}/",
                *(os.environ.get("FUZZ_ARGS") or "").split(),
                work,  # grows with what the run finds, so a restart goes on from there
            ]
            if subprocess.run(command, check=False).returncode == 0:  # noqa: S603
                break
            failures += 1
            if not keep_going:
                break
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
