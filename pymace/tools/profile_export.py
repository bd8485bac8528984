"""The per-op profile as files other tools read: a Chrome trace (`--trace`, for Perfetto or chrome://tracing)
and CSV (`--csv`, one row per node, as TFLite's benchmark_model writes with --profiling_output_csv_file).

The trace has one track (the device queue): an "X" (complete) event per kernel launch, in launch order, each
lasting its median device time over the profiled runs (OpenCL profiling events), placed back to back as an
in-order queue runs them; ts and dur are in microseconds."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import writing

CSV_COLUMNS = ("node", "op_type", "kernels", "time_ms", "percent", "gflops", "gbps", "flops", "bytes", "tuned")


def chrome_trace(result: dict) -> dict:
    device, model = result["device"]["name"], result["model"]["name"]
    events = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": f"pymace: {model}"}},
              {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": f"OpenCL queue: {device}"}}]
    ts = 0.0
    for step in result["profile"]["steps"]:
        dur = step["time_ms"] * 1e3
        events.append({"name": step["node"], "cat": step["op_type"], "ph": "X", "pid": 1, "tid": 1,
                       "ts": round(ts, 3), "dur": round(dur, 3),
                       "args": {"op_type": step["op_type"], "kernel": step["kernel"]}})
        ts += dur
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"model": model, "device": device, "data_type": result["data_type"],
                          "profiled_runs": result["profile"]["profiled_runs"], "timing": "median device time"}}


def profile_csv(result: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in result["profile"]["nodes"]:
        w.writerow([" ".join(r["kernels"]) if c == "kernels" else r.get(c) for c in CSV_COLUMNS])
    return out.getvalue()


def write(result: dict, trace: str | None = None, csv_path: str | None = None) -> list[str]:
    written = []
    for path, text in ((trace, lambda: json.dumps(chrome_trace(result))), (csv_path, lambda: profile_csv(result))):
        if path:
            with writing(path):
                Path(path).write_text(text())
            written.append(str(path))
    return written
