"""How long `pymace inspect` takes on a large MACE tuning file: parse, JSON, and the text rendering.

    python benchmarks/inspect_render.py [PAIRS ...]      (default 20000 200000)

Prints one row per size. The text rendering was a rich Table (about 0.5 ms a row: 85 s for 200k pairs in the
reliability study); it is now plain columns."""
from __future__ import annotations

import json
import struct
import sys
import tempfile
import time
from pathlib import Path

from pymace.tools.inspect import inspect, render_text


def tuning_file(path: Path, pairs: int) -> None:
    out = [struct.pack("<q", pairs)]
    for i in range(pairs):
        k, v = f"conv2d_3x3_{i}".encode(), struct.pack("<4I", 8, 8, 1, i)
        out += [struct.pack("<i", len(k)), k, struct.pack("<i", len(v)), v]
    path.write_bytes(b"".join(out))


def main(sizes: list[int]) -> None:
    print(f"{'pairs':>8} {'MB':>6} {'inspect s':>10} {'json s':>8} {'text s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"t{n}.bin"
            tuning_file(path, n)
            t0 = time.perf_counter()
            report = inspect(path)
            t1 = time.perf_counter()
            json.dumps(report)
            t2 = time.perf_counter()
            render_text(report)
            t3 = time.perf_counter()
            print(f"{n:>8} {path.stat().st_size / 1e6:>6.1f} {t1 - t0:>10.2f} {t2 - t1:>8.2f} {t3 - t2:>8.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20000, 200000])
