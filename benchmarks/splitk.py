"""Who should sum conv_gemm's split K: each tile's last work-group (one launch) or a reduction launch?

    python benchmarks/splitk.py [--device gpu] [--budget 60] [--models mobilenet_v2,light_resnet50]

Per model, `pymace tune` (fresh storage dir) times every conv_gemm variant of every node; the table lists, for
each node whose default splits K, the device time (µs, median of 5) of the default tiling summed by the last
work-group and by the reduction launch, the tuner's cost of each (device time + launches × its measured host
enqueue cost), and what the tuner chose."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import print_table  # noqa: E402
from pymace.ir import pmace_file  # noqa: E402
from pymace.runtime import device as devices  # noqa: E402
from pymace.runtime import tuner  # noqa: E402
from pymace.runtime.plan import make_plan  # noqa: E402
from pymace.runtime.tuning_file import TuningFile  # noqa: E402
from pymace.tools import zoo  # noqa: E402


def rows_for(name, graph, device, storage, data_type) -> list[list]:
    tuning, rows = TuningFile.open(storage, device.identity), []
    for choice in make_plan(graph, device.traits, data_type).choices:
        gemm = next((c for c in choice.candidates if c["variant"] == "conv_gemm"), None)
        if gemm is None or gemm["split"] == 1 or not (record := tuning.record(choice.key)):
            continue
        found = {repr(c.choice): c for c in record.candidates}
        launch_us = record.launch_us or 0.0
        cells = []
        for last in (1, 0):
            c = found.get(repr(gemm | {"last": last}))
            t = None if c is None else c.time_us if c.time_us is not None else c.dropped_us
            cells += [t, None if t is None else t + (c.launches or 1) * launch_us]
        chosen = record.choice
        text = " ".join(f"{k}={v}" for k, v in chosen.items() if k != "variant")
        rows.append([name, choice.node.name[:34], f"{gemm['tm']}x{gemm['tn']} s{gemm['split']}", *cells,
                     f"{chosen['variant']} {text}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--models", default="mobilenet_v2,light_resnet50")
    args = ap.parse_args()
    device = devices.select(args.device)
    rows = []
    for name in args.models.split(","):
        path = str(zoo.fetch(name))
        storage = tempfile.mkdtemp(prefix="splitk-")
        tuner.tune(path, device=args.device, data_type=args.data_type, budget=args.budget, storage_dir=storage)
        rows += rows_for(name, pmace_file.load(path), device, storage, args.data_type)
    print_table(f"split K on {device.name} ({args.data_type}): default tiling, device µs and tuner cost",
                ["model", "node", "tiling", "last wg µs", "last wg cost", "reduce launch µs", "reduce launch cost",
                 "tuned"], rows)


if __name__ == "__main__":
    main()
