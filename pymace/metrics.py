"""How far a result is from its reference: the one error metric of the op tests, the conformance run, the model
tests and the benchmarks (max|err| / max|ref|, the number a case's `tol` bounds)."""
from __future__ import annotations

import numpy as np


def rel_err(got, want) -> float:
    """max|got - want| / max|want| over the reference's finite values. Equal values count as exact, NaN against
    NaN and an infinity against the same one included; any other NaN or infinity gives inf. Integer and boolean
    data are compared absolutely (scale 1), so that any tolerance below 1 asks them to be equal."""
    want = np.asarray(want)
    g, w = np.asarray(got, np.float64), want.astype(np.float64)
    if g.shape != w.shape:
        raise ValueError(f"shape {g.shape} != the reference's {w.shape}")
    if not w.size:
        return 0.0
    same = (g == w) | (np.isnan(g) & np.isnan(w))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(g - w))
    if not np.isfinite(diff).all():
        return float("inf")
    finite = np.abs(w[np.isfinite(w)])
    scale = max(float(finite.max()), 1e-30) if want.dtype.kind == "f" and finite.size else 1.0
    return float(diff.max()) / scale
