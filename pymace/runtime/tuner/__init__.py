"""`pymace tune`: measure the best variant of every node whose op offers several (tuner/variants.py), then the best
local work size of every distinct launch of the resulting plan (tuner/local_size.py), on one device, and store
both in the tuning file (runtime/tuning_file.py, records: runtime/tuning_records.py).

Variants come first, since the launches and so the local-size keys depend on them. Every candidate's output must
match the default's before it is timed; timing uses OpenCL profiling events after a warm-up; the best replaces the
default only when it still wins side by side (tuner/measure.py). Last, the tuned plan proves itself against the
default one, whole model, alternating and repeated (tuner/proof.py): a tuned choice that does not make its layers
faster goes back to the default in the file. What a run measured is saved as it goes and on
any interruption, so a run stopped by its budget or Ctrl-C keeps it and the next run resumes. The library logs;
progress goes to the caller's `progress(done, total, what)`; tools/tune_report.py renders the result."""
from __future__ import annotations

import time
from collections.abc import Callable

from .local_size import open_local_sizes, tune_local_sizes
from .measure import open_bench
from .proof import RUNS, prove
from .summary import summary
from .variants import choices_of, tune_variants


def tune(model_path_or_graph, device="auto", data_type: str = "fp32", budget: float = 60.0, storage_dir=None,
         progress: Callable[[int, int, str], None] | None = None, runs: int = RUNS) -> dict:
    """Tune the variant of every node that offers several, then every distinct launch of the resulting plan, on
    `device` (a selector or a DeviceInfo) within `budget` seconds (variants: building their programs included;
    local sizes: measuring only, the plan's own programs are built first) and store the results in
    `<storage_dir>/pymace_tuned_params.json`; what an earlier run measured is skipped, what it left unfinished is
    continued. Then `runs` turns each of the tuned and the default plan, alternating (0: none), keep only the
    tuned choices that make their layers faster (tuner/proof.py; not counted in `budget`). Returns a JSON-able
    summary (tuner/summary.py) with the measurement as `proof`; its `saved` is False when something measured
    could not be written."""
    t0 = time.perf_counter()
    bench = open_bench(model_path_or_graph, device, data_type, storage_dir)
    deadline = time.perf_counter() + max(0.0, float(budget))
    choices = choices_of(bench)
    variants_now = tune_variants(bench, choices[0], deadline, progress)
    t1 = time.perf_counter()
    local_sizes = open_local_sizes(bench, choices[0])
    deadline += time.perf_counter() - t1  # building the plan's programs is not measuring
    tuned_now = tune_local_sizes(local_sizes, deadline, progress)
    result = summary(local_sizes, tuned_now, time.perf_counter() - t0, budget, choices, variants_now)
    if progress:
        progress(0, 1, "the tuned plan against the default, side by side")
    result["proof"] = prove(bench, runs)
    result["saved"] = not bench.tuning.unsaved
    result["save_warning"] = bench.tuning.save_warning if bench.tuning.unsaved else None
    if progress:
        progress(1, 1, "proof done")
    return result


__all__ = ["tune"]
