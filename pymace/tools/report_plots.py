"""The report's plots as PNG bytes (matplotlib, the `report` extra); None for each when matplotlib is missing."""
from __future__ import annotations

import io

from .. import extras

MISSING = "plots need matplotlib — pip install 'pymace[report]'"


def available() -> bool:
    return extras.installed("matplotlib")


def _figure(width: float, height: float, cols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 10})
    return plt.subplots(1, cols, figsize=(width, height), dpi=100)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plot_init(b: dict) -> bytes | None:
    if not available():
        return None
    fig, ax = _figure(7, 3.2)
    cold, warm = b["init"]["cold"], b["init"]["warm"]
    x = [0, 1]
    init = ax.bar([i - 0.2 for i in x], [cold["init_seconds"] * 1e3, warm["init_seconds"] * 1e3], 0.4,
                  label="init", color="#4f81bd")
    first = ax.bar([i + 0.2 for i in x],
                   [cold["first_inference_seconds"] * 1e3, warm["first_inference_seconds"] * 1e3], 0.4,
                   label="first inference", color="#9bbb59")
    for bars in (init, first):  # the warm init bar is often too short to read off the axis
        ax.bar_label(bars, fmt="%.0f", fontsize=9)
    ax.set_xticks(x, ["without binary (cold)", "with binary (warm)"])
    ax.set_ylabel("ms")
    ax.legend()
    return _png(fig)


def plot_latency(b: dict) -> bytes | None:
    if not available():
        return None
    import matplotlib

    fig, (hist, box) = _figure(8, 3.2, cols=2)
    samples = b["latency_ms"]["samples"]
    hist.hist(samples, bins=min(30, max(5, len(samples) // 2)), color="#4f81bd")
    hist.set_xlabel("latency ms")
    hist.set_ylabel("runs")
    _integer_ticks(hist.yaxis)
    # `orientation` arrived in Matplotlib 3.10 and `vert` is deprecated from 3.11: ask for what this one has.
    sideways = {"orientation": "horizontal"} if _at_least(matplotlib.__version__, 3, 10) else {"vert": False}
    box.boxplot(samples, whis=(1, 99), **sideways)
    box.set_xlabel("latency ms (whiskers: p1–p99)")
    box.set_yticks([])
    return _png(fig)


def plot_ops(b: dict) -> bytes | None:
    if not available():
        return None
    fig, (kinds, top) = _figure(11, 4.2, cols=2)
    groups = b["profile"]["by_op_type"][::-1]
    kinds.barh([g["op_type"] for g in groups], [g["time_ms"] for g in groups], color="#4f81bd")
    kinds.set_xlabel("device ms per run, by op type")
    rows = b["profile"]["top"][::-1]
    top.barh([r["node"][-32:] for r in rows], [r["time_ms"] for r in rows], color="#c0504d")
    top.set_xlabel("device ms, slowest nodes")
    top.tick_params(axis="y", labelsize=9)
    return _png(fig)


def _at_least(version: str, major: int, minor: int) -> bool:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return tuple(parts) >= (major, minor)
