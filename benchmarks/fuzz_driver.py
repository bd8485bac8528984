"""Fuzz what the compiled-program cache hands to the real OpenCL driver: well-formed entries, keyed for this device
and with valid checksums, whose binaries are hostile — another option set's binary (the same kernel built with
other -D values), another program's binary, a truncated binary, another device's binary (the Mali and Adreno
binaries of tests/cache/fixtures) re-keyed for this one, garbage, an empty binary, junk appended.

Each case is two starts of a model on one storage dir, each in a process of its own: the first with the tampered
cache, the second after it.
The first start may die (a driver abort on a truncated binary cannot be caught; the harness counts it); the
second must run and give the reference's outputs, and so must the first whenever it does not die: a binary the
driver refuses, at build or at kernel creation, is rebuilt from source, and an entry whose loading killed a
process is never loaded again. A start's memory is held to 1.25 × its model's cold start from an empty storage dir
(measured once per seed, in a process of its own): a hostile entry may cost a rebuild, at most of everything.

    .venv/bin/python benchmarks/fuzz_driver.py [--cases 1000] [--first 0] [--device cpu]

Harness case 2N is case N's first start, 2N + 1 its second; case N tampers seed model N % 2's cache with
random.Random(N)."""
from __future__ import annotations

import argparse
import atexit
import json
import lzma
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_harness  # noqa: E402
import fuzz_pmace  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "cache" / "fixtures"
CACHE_NAME = "mace_cl_compiled_program.bin"
COLD_START = "cold_start.json"  # a seed's cold start, measured in a process of its own
COLD_MARGIN = 1.25  # a start after a hostile entry may take this much more than a cold start: a bound, not a cost


def cold_start(model: Path, device: str, storage: Path) -> int:
    """Run `model` from an empty `storage` (filling its cache) in a fresh process, as a case's start runs; the
    peak RSS growth it took. A hostile cache entry must cost at most a rebuild, and a rebuild of every program is
    this: the memory bound of the model's starts, not the 200 MB meant for what a hostile model file asks for."""
    shutil.rmtree(storage, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--cold-start", str(model), "--device", device, "--base",
                           str(storage)], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    found = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
    if found.get("kind") != "ok":
        raise RuntimeError(f"seed {model.name} does not run: {found or done.stderr[-2000:]}")
    (storage / COLD_START).write_text(json.dumps(found) + "\n")
    return found["peak_growth"]


def foreign_binaries() -> list[bytes]:
    """Program binaries of other devices: MACE caches from Mali and Adreno phones."""
    from pymace.formats.mace import read_mace_file

    found = []
    for f in sorted(FIXTURES.glob("*mace-v*.bin.xz")):
        pairs = read_mace_file(lzma.decompress(f.read_bytes())).pairs
        found += [bytes(v) for k, v in pairs if isinstance(v, (bytes, bytearray)) and len(v) > 1000][:4]
    return found


def tamper(entries: list, foreign: list[bytes], rng: random.Random) -> tuple[list, str]:
    """`entries` with one or two of this device's entries given hostile binaries (checksums made valid)."""
    from pymace.runtime.program_cache import make_entry

    entries = list(entries)
    what = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        k = rng.randrange(len(entries))
        e = entries[k]
        own = bytes(e.binary)
        others = [o for o in entries if o is not e]
        same_program = [o for o in others if o.program == e.program and o.options != e.options]
        kind = rng.choice(["options", "program", "truncate", "truncate", "foreign", "garbage", "empty", "append"])
        if kind == "options" and same_program:
            binary = bytes(rng.choice(same_program).binary)
        elif kind in ("options", "program") and others:
            kind, binary = "program", bytes(rng.choice(others).binary)
        elif kind == "truncate" or not others:
            kind, cut = "truncate", rng.choice([1, 16, len(own) // 2, len(own) - 1, rng.randrange(max(len(own), 1))])
            binary = own[:cut]
        elif kind == "foreign":
            binary = rng.choice(foreign)
        elif kind == "garbage":
            binary = rng.randbytes(rng.choice([4, 100, 5000]))
        elif kind == "empty":
            binary = b""
        else:
            binary = own + rng.randbytes(rng.choice([1, 64, 4096]))
        entries[k] = make_entry(e.device, e.program, e.source_hash, e.options, bytes(binary))
        what.append(f"{kind} → {e.program} [{e.options[:60]}]")
    return entries, "; ".join(what)


class Runner:
    """Builds the seeds' caches once (kept in `base`, shared by the workers of one run), then runs phases."""

    def __init__(self, device: str, base: str):
        from pymace.runtime.program_cache import parse_cache_file

        self.device, self.base = device, Path(base)
        self.tmp = Path(tempfile.mkdtemp(prefix="fuzz-driver-"))
        atexit.register(shutil.rmtree, self.tmp, True)  # a worker killed by a signal leaves it
        self.models, self.caches, self.cold = [], [], []
        seeds = fuzz_pmace.seed_models(self.tmp)
        for k, (blob, _) in enumerate(seeds):
            model = self.tmp / f"seed{k}.pmace"
            model.write_bytes(blob)
            storage = self.base / f"seed{k}"
            record = storage / COLD_START
            self.cold.append(json.loads(record.read_text())["peak_growth"] if record.exists() else
                             cold_start(model, device, storage))
            self.models.append(model)
            self.caches.append(parse_cache_file((storage / CACHE_NAME).read_bytes()).entries)
        self.foreign = foreign_binaries()

    def __call__(self, phase_case: int) -> fuzz_harness.Result:
        from pymace.runtime.program_cache import encode_cache_file

        case, second = divmod(phase_case, 2)
        storage = self.base / "cases" / str(case)
        what = ""
        if not second:
            shutil.rmtree(storage, ignore_errors=True)
            storage.mkdir(parents=True)
            entries, what = tamper(self.caches[case % 2], self.foreign, random.Random(case))
            (storage / CACHE_NAME).write_bytes(encode_cache_file(entries))
        model = self.models[case % 2]
        cache = storage / CACHE_NAME  # the hostile file of the case: issue 13's bound is 4 × its size
        cache_size = cache.stat().st_size if cache.exists() else 0
        result = fuzz_pmace.run_model(model, self.device, str(storage), max(model.stat().st_size, cache_size))
        result.bound = int(COLD_MARGIN * self.cold[case % 2])
        if result.kind == "refused":  # the model is valid: a bad cache entry must cost a rebuild, not the run
            result.kind = "wrong"
            result.detail = f"a valid model was refused: {result.detail}"
        result.detail = f"{'second' if second else 'first'} start ({what or 'after the tampered one'}): " \
                        f"{result.detail}"
        if second:
            shutil.rmtree(storage, ignore_errors=True)
        return result


def fuzz(cases: int, first: int = 0, device: str = "cpu", timeout: float = 180.0, base: str | None = None,
         progress=None):
    own_base = base is None
    base = base or tempfile.mkdtemp(prefix="fuzz-driver-base-")
    try:
        return fuzz_harness.run("fuzz_driver", ["--device", device, "--base", base],
                                range(2 * first, 2 * (first + cases)), timeout,
                                env={"PYTHONPATH": fuzz_pmace._pythonpath()}, progress=progress, per_worker=1)
    finally:
        if own_base:
            shutil.rmtree(base, ignore_errors=True)


def first_start_deaths(summary) -> int:
    return sum(1 for o in summary.outcomes if o.case % 2 == 0 and o.kind == "signal")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--base", help="where the seeds' caches are built (default: a new temp dir)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cold-start", help=argparse.SUPPRESS)  # a seed model's cold start (cold_start)
    a = p.parse_args()
    if a.cold_start:
        model = Path(a.cold_start)
        r = fuzz_pmace.run_model(model, a.device, a.base, model.stat().st_size)
        print(json.dumps({"kind": r.kind, "detail": r.detail, "peak_growth": r.peak_growth}))
        return
    if a.worker:
        fuzz_harness.serve(Runner(a.device, a.base))
        return
    step = max(1, a.cases // 10)
    summary = fuzz(a.cases, a.first, a.device, a.timeout, a.base,
                   progress=lambda n: n % (2 * step) == 0 and print(f"  {n // 2} cases", file=sys.stderr,
                                                                    flush=True))
    second = fuzz_harness.Summary([o for o in summary.outcomes if o.case % 2 == 1])
    print(summary.table(f"cache entries handed to the driver: {a.cases} cases (two starts each) from {a.first}, "
                        f"device {a.device}"))
    print(f"first starts that died by a signal (a driver abort; the second start must then succeed): "
          f"{first_start_deaths(summary)}")
    print(second.table("second starts alone"))
    sys.exit(1 if second.defects or any(o.kind != "signal" for o in summary.defects) else 0)


if __name__ == "__main__":
    main()
