"""Fuzz cases in a watched worker process: whatever a case does to the worker (a signal from a driver abort or a
segfault, a hang, memory beyond its bound) is recorded against that case, and a fresh worker goes on with the
next one. The fuzzers (fuzz_pmace.py, fuzz_import.py, fuzz_driver.py) supply `run_case(case) -> Result`.

Per case the worker reports its kind ("refused": one PymaceError, the promised outcome for a bad file; "ok": it
ran and the device agreed with the reference; anything else is a defect) and its memory: the peak RSS above what
the worker held before the case (the kernel's high-water mark, plus sampling every 2 ms), against the bound
max(200 MB, 4 × the case's file size, 3 × the tensors its verified model declares): a 700-byte model may honestly
ask for a 120 MB activation (a Pad of a million columns), and running it takes that, but never more than a small
multiple of what the file itself describes. A case whose input is valid may raise the bound to what that input
honestly takes (`Result.bound`: the driver fuzz's models, to 1.25 × their cold start from an empty storage dir).
A case may measure its product path itself (`Result.peak_growth`), so that its test oracle (the NumPy reference,
whose im2col conv takes k² × the input) is not charged to it.

The table also counts the cases over issue 13's own figure, max(200 MB, 4 × the file's size), which knows no
declared tensors or cold starts: such a case is no "memory" defect when its own bound holds, and the table names
the largest of them with what it declared, so that the reader can judge. And it gives the largest peak RSS of a
worker in absolute terms (the interpreter, NumPy, the OpenCL driver and the seed models included; over the
product's path when the case measures that, so that the NumPy reference's im2col is not in it).

`Sampler` is usable on its own: `with Sampler() as s: ...; s.peak` (bytes of RSS, highest seen)."""
from __future__ import annotations

import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

MB = 1 << 20
STARTUP_S = 900.0  # what a fresh worker may take to set itself up before its first case starts
DEFECTS = ("signal", "hang", "memory", "traceback", "wrong")


@dataclass
class Result:
    kind: str  # refused | ok | skipped | traceback | wrong
    detail: str = ""
    file_size: int = 0
    declared_bytes: int = 0  # what the model's verified tensors take (activations at 4 bytes an element)
    peak_growth: int | None = None  # measured by the case itself over the product's path (not its test oracle)
    bound: int = 0  # a floor the case sets under its memory bound: what its valid input honestly takes
    peak_rss: int | None = None  # the RSS at the product path's peak (with peak_growth), not the oracle's


@dataclass
class Outcome:
    case: int
    kind: str
    detail: str = ""
    peak_mb: float = 0.0
    seconds: float = 0.0
    file_mb: float = 0.0  # the case's file, for issue 13's bound max(200 MB, 4 × the file)
    declared_mb: float = 0.0
    rss_mb: float = 0.0  # the worker's peak RSS during the case, not its growth

    @property
    def over_issue_bound(self) -> bool:
        return self.peak_mb > max(200.0, 4 * self.file_mb)


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(o.kind for o in self.outcomes)

    @property
    def defects(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind in DEFECTS]

    def table(self, title: str) -> str:
        c = self.counts
        worst = max((o.peak_mb for o in self.outcomes), default=0.0)
        slowest = max((o.seconds for o in self.outcomes), default=0.0)
        rows = [("cases", len(self.outcomes))] + [(k, c.get(k, 0)) for k in ("ok", "refused", "skipped", *DEFECTS)]
        over = sorted((o for o in self.outcomes if o.over_issue_bound), key=lambda o: -o.peak_mb)
        rows += [("largest peak RSS growth of a case (MB)", f"{worst:.1f}"),
                 ("over max(200 MB, 4 × file) (issue 13's figure)", len(over)),
                 ("largest peak RSS of a worker (MB)", f"{max((o.rss_mb for o in self.outcomes), default=0):.1f}"),
                 ("slowest case (s)", f"{slowest:.1f}")]
        width = max(len(k) for k, _ in rows)
        lines = [title, "-" * len(title)] + [f"{k.ljust(width)}  {v}" for k, v in rows]
        for o in self.defects[:20]:
            lines.append(f"  case {o.case}: {o.kind}: {o.detail[:300]}")
        for o in over[:5]:
            lines.append(f"  over 200 MB: case {o.case} ({o.kind}) grew {o.peak_mb:.0f} MB; file {o.file_mb:.2f} MB, "
                         f"declares {o.declared_mb:.0f} MB: {o.detail[:160]}")
        return "\n".join(lines)


# --- the worker side -----------------------------------------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Sampler:
    """The highest RSS seen every 2 ms while a case runs (ru_maxrss only ever rises, so it misses a case whose
    peak stays under an earlier one)."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self):
        self.peak = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def serve(run_case) -> None:
    """The worker loop: read case numbers from stdin, report each on the original stdout (fd 1 goes to stderr,
    so that nothing a library prints can garble the reports)."""
    report = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        case = int(line)
        report.write(json.dumps({"start": case}) + "\n")
        before = _rss_bytes()
        hwm_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t0 = time.perf_counter()
        with Sampler() as sampler:
            try:
                result = run_case(case)
            except Exception as e:  # noqa: BLE001 - a fuzz case's exception is its outcome
                result = Result("traceback", _where(e))
        hwm_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak = max(sampler.peak, hwm_after if hwm_after > hwm_before else 0)
        growth = max(0, peak - before) if result.peak_growth is None else result.peak_growth
        rss = peak if result.peak_rss is None else result.peak_rss
        bound = max(200 * MB, 4 * result.file_size, 3 * result.declared_bytes, result.bound)
        kind, detail = result.kind, result.detail
        if growth > bound and kind not in DEFECTS:
            kind, detail = "memory", f"peak RSS grew {growth / MB:.0f} MB (bound {bound / MB:.0f} MB); {detail}"
        report.write(json.dumps({"done": case, "kind": kind, "detail": detail[:2000], "peak_mb": growth / MB,
                                 "seconds": time.perf_counter() - t0, "file_mb": result.file_size / MB,
                                 "declared_mb": result.declared_bytes / MB, "rss_mb": rss / MB}) + "\n")


def _where(e: BaseException) -> str:
    """The exception and the innermost pymace frame it passed through."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/pymace/" in f.filename] or \
        traceback.extract_tb(e.__traceback__)[-1:]
    at = f" @ {frames[-1].filename.rsplit('/pymace/', 1)[-1]}:{frames[-1].lineno} {frames[-1].name}" if frames else ""
    return f"{type(e).__name__}: {str(e)[:300]}{at}"


# --- the parent side -----------------------------------------------------------------------------------------
def run(module: str, args: list[str], cases, timeout: float = 120.0, env=None, progress=None,
        per_worker: int | None = None) -> Summary:
    """Run `cases` (ints) through `python -m module --worker ARGS` workers; restart after each death or hang, and
    after every `per_worker` cases (1: every case in a process of its own, as separate starts of a program are)."""
    summary, todo = Summary(), list(cases)
    env = {**os.environ, **(env or {})}
    while todo:
        proc = subprocess.Popen([sys.executable, "-m", module, "--worker", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        try:
            batch, later = (todo[:per_worker], todo[per_worker:]) if per_worker else (todo, [])
            todo = _drive(proc, lines, batch, summary, timeout, progress) + later
        finally:
            if proc.poll() is None:
                try:  # a worker whose input has ended exits by itself, and its atexit removes its temp dir
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            proc.wait()
    return summary


def _pump(stream, lines: queue.Queue) -> None:
    """Every line the worker reports, then None when it closes its end (it died or finished)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _drive(proc, lines, todo: list[int], summary: Summary, timeout: float, progress) -> list[int]:
    """Feed cases one at a time; returns the cases left when the worker died or hung (empty when all ran)."""
    for i, case in enumerate(todo):
        t0 = time.perf_counter()
        try:
            proc.stdin.write(f"{case}\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return _death(proc, todo, i, summary, t0)
        done = _await(lines, case, timeout)
        if done is None:
            if proc.poll() is None:
                try:
                    proc.wait(1.0)  # a worker that is dying (a driver abort) gets a moment to say so
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    summary.outcomes.append(Outcome(case, "hang", f"no result after {timeout:.0f} s", 0.0,
                                                    time.perf_counter() - t0))
                    return todo[i + 1:]
            return _death(proc, todo, i, summary, t0)
        summary.outcomes.append(Outcome(case, done["kind"], done["detail"], done["peak_mb"], done["seconds"],
                                        done["file_mb"], done["declared_mb"], done["rss_mb"]))
        if progress:
            progress(len(summary.outcomes))
    proc.stdin.close()
    return []


def _death(proc, todo, i, summary, t0) -> list[int]:
    rc = proc.wait()
    kind = "signal" if rc < 0 else "traceback"
    summary.outcomes.append(Outcome(todo[i], kind, f"worker exited with {rc}", 0.0, time.perf_counter() - t0))
    return todo[i + 1:]


def _await(lines: queue.Queue, case: int, timeout: float):
    """The worker's report of `case`, or None when it died or hung. The case's time starts when the worker takes
    it up: a fresh worker first sets itself up (seed models, a cold program build), which is no case's doing."""
    deadline = time.monotonic() + max(STARTUP_S, timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return None
        if line is None:
            return None  # the worker died
        msg = json.loads(line)
        if msg.get("start") == case:
            deadline = time.monotonic() + timeout
        if msg.get("done") == case:
            return msg
