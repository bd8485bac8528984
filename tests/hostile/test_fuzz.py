"""Short runs of the fuzzers in benchmarks/ (the long runs, ≥ 10,000 .pmace, ≥ 5,000 ONNX/TFLite and ≥ 1,000
cache-entry cases, are `benchmarks/fuzz_pmace.py`, `fuzz_import.py` and `fuzz_driver.py`): every mutated model is
refused in one line or runs on the device with the reference's outputs; no case kills its worker, hangs, grows
memory past its bound or raises another exception; a hostile cache entry costs a rebuild (a first start may die
in the driver, the second always runs right). A failure names the case: replay it with `--first N --cases 1`."""
import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import fuzz_driver  # noqa: E402
import fuzz_harness  # noqa: E402
import fuzz_import  # noqa: E402
import fuzz_pmace  # noqa: E402

# The cases run: a fixed range by default, so that a failure is a regression of a known case and replays the same
# way; PYMACE_FUZZ_FIRST=N starts elsewhere, =random at a fresh place every run (the long runs are the benchmarks').
_FIRST = os.environ.get("PYMACE_FUZZ_FIRST", "1000")
FIRST = random.Random().randrange(10**6) if _FIRST == "random" else int(_FIRST)


def _check(summary, what):
    assert summary.outcomes, what
    assert not summary.defects, summary.table(what)


@pytest.mark.slow
def test_pmace_mutations():
    _check(fuzz_pmace.fuzz(80, FIRST), f".pmace fuzz, cases {FIRST}..{FIRST + 79}")


@pytest.mark.slow
def test_onnx_and_tflite_mutations():
    _check(fuzz_import.fuzz(45, FIRST), f"ONNX/TFLite fuzz, cases {FIRST}..{FIRST + 44}")


@pytest.mark.slow
@pytest.mark.parametrize("case", [193, "range"])
def test_hostile_cache_entries_handed_to_the_driver(tmp_path, case):
    """Case 193: two truncated binaries; the first start dies on one, the second start must not die on the other,
    which its journal could not name (and PoCL's cache must not hand back what it unpacked from the first)."""
    first, cases = (case, 1) if case == 193 else (FIRST % 100_000, 4)
    summary = fuzz_driver.fuzz(cases, first, base=str(tmp_path))
    # a first start may die by a signal (a driver abort cannot be caught); nothing else is allowed
    bad = [o for o in summary.outcomes
           if o.kind in fuzz_harness.DEFECTS and not (o.case % 2 == 0 and o.kind == "signal")]
    assert len(summary.outcomes) == 2 * cases and not bad, \
        summary.table(f"driver fuzz, cases {first}..{first + cases - 1}")
