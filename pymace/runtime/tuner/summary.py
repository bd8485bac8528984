"""`pymace tune`'s result as JSON-able data (docs/tuning-format.md, "pymace tune --json"); tools/tune_report.py
renders it for people."""
from __future__ import annotations

from ..tuning_records import LocalSizeRecord, VariantRecord
from .local_size import LocalSizes


def describe_choice(choice: dict | None) -> str:
    """conv_gemm tm=64 tn=32 tk=32 split=4"""
    if not choice:
        return "–"
    return " ".join([choice["variant"], *(f"{k}={v}" for k, v in choice.items() if k != "variant")])


def _counts(candidates) -> dict:
    return {"tried": len(candidates), "failed": sum(c.failed is not None for c in candidates),
            "dropped": sum(c.dropped_us is not None for c in candidates)}


def variant_rows(s: LocalSizes, choices: dict, counts: dict, measured: list[str]) -> list[dict]:
    """Per choice key: the default and the chosen variant with their node costs, candidates tried/failed/dropped."""
    rows = []
    for key, c in choices.items():
        r = s.bench.tuning.record(key)
        r = r if isinstance(r, VariantRecord) else VariantRecord({}, complete=False)
        costs = {repr(x.choice): x.cost(r.launch_us or 0.0) for x in r.candidates if x.time_us is not None}
        default_us, best_us = costs.get(repr(c.default)), costs.get(repr(r.choice)) if r.choice else None
        rows.append({"key": key, "node": c.node.name, "op": c.node.op_type, "nodes": counts.get(key, 1),
                     "default": describe_choice(c.default), "best": describe_choice(r.choice),
                     "default_us": default_us, "best_us": best_us,
                     "speedup": round(default_us / best_us, 3) if default_us and best_us else None,
                     **_counts(r.candidates), "complete": r.complete, "tuned_now": key in measured,
                     "failures": [{"choice": describe_choice(x.choice), "error": x.failed}
                                  for x in r.candidates if x.failed is not None][:5]})
    return rows


def local_size_rows(s: LocalSizes, measured: list[str]) -> list[dict]:
    """Per tuning key: default and best local size and time, speedup, candidates tried/failed/dropped."""
    rows = []
    for launch in s.launches:
        r = s.bench.tuning.record(launch.key)
        r = r if isinstance(r, LocalSizeRecord) else None
        default_us, best_us = (r.default_time_us, r.time_us) if r else (None, None)
        cands = r.candidates if r else []
        rows.append({"key": launch.key, "kernel": f"{launch.step.program}/{launch.step.kernel_name}",
                     "node": launch.step.node.name, "gws": list(launch.gws), "launches": launch.count,
                     "default_lws": list(launch.step.lws), "best_lws": list(r.lws) if r else None,
                     "default_us": default_us, "best_us": best_us,
                     "speedup": round(default_us / best_us, 3) if default_us and best_us else None,
                     **_counts(cands), "complete": bool(r and r.complete), "tuned_now": launch.key in measured,
                     "failures": [{"lws": list(c.lws), "error": c.failed} for c in cands if c.failed is not None][:5]})
    return rows


def _per_kernel(s: LocalSizes, rows: list[dict]) -> dict:
    kernels = {}
    for launch, row in zip(s.launches, rows, strict=True):
        if row["default_us"] and row["best_us"]:
            k = kernels.setdefault(row["kernel"], {"keys": 0, "default_us": 0.0, "best_us": 0.0})
            k["keys"] += 1
            k["default_us"] += row["default_us"] * launch.count
            k["best_us"] += row["best_us"] * launch.count
    for k in kernels.values():
        k["speedup"] = round(k["default_us"] / k["best_us"], 3)
    return kernels


def summary(s: LocalSizes, tuned_now: list[str], elapsed: float, budget: float, choices: tuple = ({}, {}),
            variants_now: list[str] = ()) -> dict:
    """Per variant choice, per launch and per kernel (summed times, weighted by how often the plan launches each
    key); overall: the estimated speedups (variants over their nodes; local sizes over all tunable launches
    together), and whether everything measured is saved."""
    rows = local_size_rows(s, tuned_now)
    kernels = _per_kernel(s, rows)
    default_sum = sum(k["default_us"] for k in kernels.values())
    best_sum = sum(k["best_us"] for k in kernels.values())
    complete = sum(row["complete"] for row in rows)
    variants = variant_rows(s, *choices, list(variants_now))
    timed = [v for v in variants if v["default_us"] and v["best_us"]]
    variant_default = sum(v["default_us"] * v["nodes"] for v in timed)
    variant_best = sum(v["best_us"] * v["nodes"] for v in timed)
    variants_complete = sum(v["complete"] for v in variants)
    device, tuning = s.bench.device, s.bench.tuning
    return {"device": device.name, "platform": device.platform_name, "data_type": s.bench.data_type,
            "tuning_file": str(tuning.path), "budget_s": budget, "elapsed_s": round(elapsed, 3),
            "saved": not tuning.unsaved, "save_warning": tuning.save_warning if tuning.unsaved else None,
            "variant_keys": len(variants), "variants_complete": variants_complete,
            "variants_tuned_now": len(variants_now),
            "variant_speedup": round(variant_default / variant_best, 3) if variant_best else None,
            "launches": len(s.launches), "complete": complete, "tuned_now": len(tuned_now),
            "fixed_local_size": s.fixed,
            "stopped_by_budget": complete < len(s.launches) or variants_complete < len(variants),
            "estimated_speedup": round(default_sum / best_sum, 3) if best_sum else None,
            "kernels": kernels, "rows": rows, "variants": variants}


__all__ = ["summary", "describe_choice"]
