"""How close two outputs are: max |error|, cosine similarity, SQNR, and top-k agreement for classifier scores."""
from __future__ import annotations

import numpy as np

from ..errors import PymaceError


def compare(got: np.ndarray, want: np.ndarray, labels: list[str] | None = None) -> dict:
    """max |error|, cosine similarity, SQNR (dB; None when exact), and top-1/top-5 for classifier-like outputs."""
    g = np.asarray(got, np.float64).ravel()
    w = np.asarray(want, np.float64).ravel()
    if g.size != w.size:
        raise PymaceError(f"output has {g.size} values, the reference {w.size}")
    err = g - w
    norms = np.linalg.norm(g) * np.linalg.norm(w)
    cosine = float(g @ w / norms) if norms > 0 else float(np.array_equal(g, w))
    noise, signal = float(err @ err), float(w @ w)
    finite = bool(np.all(np.isfinite(g)))
    row = {"max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
           "mean_abs_error": float(np.mean(np.abs(err))) if err.size else 0.0,
           "cosine": cosine if finite else float("nan"),
           "sqnr_db": round(10 * np.log10(signal / noise), 3) if noise > 0 and signal > 0 else None,
           "finite": finite}
    if classifier_like(want):
        row.update(top_k_agreement(got, want, labels))
    return row


def classifier_like(x: np.ndarray) -> bool:
    """[N, classes] or [classes] scores with at least 10 classes."""
    shape = [d for d in np.shape(x) if d != 1]
    return len(shape) == 1 and shape[0] >= 10


def top_k(scores, k: int = 5) -> list[int]:
    return [int(i) for i in np.argsort(-np.asarray(scores).ravel(), kind="stable")[:k]]


def top_k_agreement(got, want, labels=None) -> dict:
    g5, w5 = top_k(got), top_k(want)
    row = {"top1": g5[0], "top1_reference": w5[0], "top1_agree": g5[0] == w5[0],
           "top5_overlap": len(set(g5) & set(w5)), "top5_agree": set(g5) == set(w5)}
    if labels and len(labels) == np.size(want):
        row["top1_label"], row["top1_reference_label"] = labels[g5[0]], labels[w5[0]]
    return row
