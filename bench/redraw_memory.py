"""Peak memory of redrawing large TIFFs in parallel, as the portal's workers would.

    python bench/redraw_memory.py [--workers 4] [--threads 4] [--megapixels 40]
                                  [--before 53e10c0] [--variants before,no-copy,gated]

A TIFF of --megapixels (RGB, deflate; a gradient, so it is small on the wire) is redrawn
by --workers processes with --threads threads each, all at once (the portal's gunicorn
runs 4 gthread workers x 4 threads: 16 uploads in flight). Each process reports its peak
resident memory (VmHWM) above what it held before the redraws began; the figure per
variant is the sum over the processes (an upper bound of the machine's peak, since the
processes peak at about the same time).

Variants:
  before   tipline/intake/scrub.py as of --before (the code the review measured: decode,
           then image.copy(), no bound per process)
  no-copy  the current code with a gate too large to wait (the copy alone removed)
  gated    the current code as deployed: REDRAW_GATE, REDRAW_PIXELS_AT_ONCE pixels decoded
           at once per process, the others waiting their turn
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def make_tiff(path: Path, megapixels: int) -> None:
    from PIL import Image

    width = 8000 if megapixels >= 8 else 1000 * megapixels
    height = megapixels * 1_000_000 // width
    ramp = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp))
    image.save(path, "TIFF", compression="tiff_adobe_deflate")


def load_scrubber(variant: str, before: str) -> types.ModuleType:
    if variant != "before":
        from tipline.intake import scrub

        return scrub
    source = subprocess.run(  # noqa: S603 (fixed git command)
        ["git", "-C", str(ROOT), "show", f"{before}:tipline/intake/scrub.py"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="scrub-before-"))
    (folder / "scrub_before.py").write_bytes(source)
    spec = importlib.util.spec_from_file_location("scrub_before", folder / "scrub_before.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scrub_before"] = module
    spec.loader.exec_module(module)
    return module


def child(variant: str, path: Path, threads: int, before: str) -> None:
    """One worker process: wait for "go" on stdin, redraw in ``threads`` threads at once."""
    import io

    scrubber = load_scrubber(variant, before)
    data = path.read_bytes()
    kwargs: dict[str, object] = {"max_bytes": 200 * 1024 * 1024}
    if variant == "no-copy":
        kwargs["gate"] = scrubber.PixelGate(capacity=10**12)
    # Warm up on a small picture: plugins and codecs loaded before the baseline.
    from PIL import Image

    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, "TIFF", compression="tiff_adobe_deflate")
    scrubber.scrub(io.BytesIO(small.getvalue()), "warm.tif")
    baseline = status_kb("VmRSS")
    print("ready", flush=True)
    sys.stdin.readline()
    results: list[str] = []
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        try:
            out = scrubber.scrub(io.BytesIO(data), "scan.tif", **kwargs).data.read()
            results.append("ok" if out else "empty")
        except scrubber.ScrubError as exc:
            results.append("busy" if "no room" in exc.detail else f"refused: {exc.detail}")

    began = time.monotonic()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(
        json.dumps({
            "baseline_kb": baseline,
            "peak_kb": status_kb("VmHWM"),
            "seconds": time.monotonic() - began,
            "results": results,
        }),
        flush=True,
    )


def run_variant(variant: str, path: Path, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", variant, "--file", str(path),
               "--threads", str(args.threads), "--before", args.before]  # fmt: skip
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(args.workers)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:  # all at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{variant}: a worker failed ({proc.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    above = [(r["peak_kb"] - r["baseline_kb"]) / 1024 for r in reports]
    results = [x for r in reports for x in r["results"]]
    return {
        "variant": variant,
        "sum_mb": sum(above),
        "max_mb": max(above),
        "seconds": max(r["seconds"] for r in reports),
        "ok": results.count("ok"),
        "busy": results.count("busy"),
        "other": [x for x in results if x not in ("ok", "busy")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--megapixels", type=int, default=40)
    parser.add_argument("--before", default="53e10c0")
    parser.add_argument("--variants", default="before,no-copy,gated")
    parser.add_argument("--child")
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.threads, args.before)
        return
    with tempfile.TemporaryDirectory(prefix="redraw-bench-") as folder:
        path = Path(folder) / "scan.tif"
        make_tiff(path, args.megapixels)
        print(f"{args.workers} processes x {args.threads} threads, each redrawing one "
              f"{args.megapixels} MP RGB TIFF ({path.stat().st_size / 1024:.0f} KB, deflate) "
              f"at once; peak RSS above each process's baseline")  # fmt: skip
        print(f"{'variant':9} {'sum MB':>8} {'max/proc MB':>12} {'secs':>6} {'ok':>4} {'busy':>5}")
        rows = {}
        for variant in args.variants.split(","):
            row = run_variant(variant, path, args)
            rows[variant] = row
            other = row["other"] or ""
            print(f"{variant:9} {row['sum_mb']:8.0f} {row['max_mb']:12.0f} "
                  f"{row['seconds']:6.1f} {row['ok']:4} {row['busy']:5} {other}")  # fmt: skip
        if "before" in rows:
            for variant in rows:
                if variant != "before":
                    sums = float(str(rows[variant]["sum_mb"])), float(str(rows["before"]["sum_mb"]))
                    ratio = sums[0] / sums[1]
                    print(f"ratio {variant}/before: {ratio:.2f}")


if __name__ == "__main__":
    main()
