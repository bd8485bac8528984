"""Whether the tuned plan beats the default one, measured side by side, and the tuning file kept to what does.

After tuning, the model's default plan (the ops' defaults, no tuning file) and its tuned plan (the file's variants
and local sizes) are bound on one queue with shared weights. WARM_UP runs of each settle the device, and the
last checks that their outputs agree; then they run alternately — default, tuned, tuned, default, … so that
neither always runs first — `runs` times each. Every turn is timed twice: end to end on the host (inputs in,
every launch, outputs out, as Engine.run does), and per layer in a second, profiled run (a node's launches'
device time plus the host's enqueue cost per launch, as the tuner costs its candidates).

The tuned choices that change the plan are grouped with the layers they change (a node's variant and the local
sizes of its launches go together). A group is kept when its layers' fastest time beats the default's by
MIN_GAIN; otherwise its records go back to the default, complete, so that no later run tries them again. When
the whole model runs slower tuned than default by more than MIN_GAIN, or the outputs disagree, every choice goes
back (NOTES.md: a whole run's host time varies 2-3x on a busy machine, so this asks for a clear loss). When
something went back and something stayed, the final plan is measured against the default again, so
that the end-to-end gain reported is that of what the file now holds. That measurement is kept in the tuning file
too, as the model's MeasuredRecord (key: proof_key), for the report's tuning section."""
from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...metrics import rel_err
from ..bind import BoundPlan
from ..executor import run_plan
from ..plan import is_float
from ..tuning_records import LocalSizeRecord, MeasuredRecord, VariantRecord
from .measure import MIN_GAIN, Bench
from .variants import VARIANT_TOLERANCE

RUNS = 7  # turns of each plan, alternating, after the warm-up runs
WARM_UP = 2  # runs of each plan first: on PoCL the first runs after a new local size are still slow

# time_run(side, bound plan, feeds) → (host µs end to end, device µs per step): the measurement (tests fake it)
TimeRun = Callable[[str, BoundPlan, dict], tuple[float, list[float]]]


def time_run(side: str, bound: BoundPlan, feeds: dict) -> tuple[float, list[float]]:
    """One plain run timed on the host, then one profiled run for each step's device time."""
    t = time.perf_counter()
    run_plan(bound, feeds)
    wall_us = (time.perf_counter() - t) * 1e6
    _, seconds = run_plan(bound, feeds, profile=True)
    return wall_us, [s * 1e6 for s in seconds]


@dataclass
class Side:
    """One plan's runs: end-to-end host µs per turn, and each node's cost per turn."""

    name: str
    bound: BoundPlan
    wall_us: list[float] = field(default_factory=list)
    layer_us: dict[str, list[float]] = field(default_factory=dict)

    def add(self, wall_us: float, step_us: list[float], launch_us: float) -> None:
        self.wall_us.append(wall_us)
        per_node: dict[str, float] = {}
        for step, us in zip(self.bound.steps, step_us, strict=True):
            per_node[step.node.name] = per_node.get(step.node.name, 0.0) + us + launch_us
        for name, us in per_node.items():
            self.layer_us.setdefault(name, []).append(us)

    def layer(self, name: str) -> float:
        """A node's fastest turn (noise only adds time)."""
        return min(self.layer_us.get(name, [0.0]))


def feeds_for(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded uniform(-1, 1) floats, small integers for integer inputs."""
    rng = np.random.default_rng(seed)
    return {n: (rng.uniform(-1, 1, graph.tensors[n].shape) if is_float(graph.tensors[n].dtype) else
                rng.integers(0, 2, graph.tensors[n].shape)).astype(graph.tensors[n].dtype) for n in graph.inputs}


def changed_groups(b: Bench, tuned: BoundPlan) -> list[dict]:
    """The tuned choices that change the plan, grouped with the layers they change: [{keys, nodes}], in plan
    order. A variant counts when its choice is not the op's default; a local size when it is not the default
    local size its record was measured against."""
    keys_of: dict[str, set[str]] = {}
    for choice in tuned.prepared.plan.choices:
        if choice.tuned and choice.chosen != choice.default:
            keys_of.setdefault(choice.node.name, set()).add(choice.key)
    for step in tuned.steps:
        r = b.tuning.record(step.tuning_key)
        if isinstance(r, LocalSizeRecord) and r.default_lws and tuple(r.lws) == step.lws != tuple(r.default_lws):
            keys_of.setdefault(step.node.name, set()).add(step.tuning_key)
    groups: list[dict] = []
    for node in dict.fromkeys(s.node.name for s in tuned.steps):
        keys = keys_of.get(node)
        if not keys:
            continue
        joined = [g for g in groups if g["keys"] & keys]
        merged = {"keys": set(keys).union(*(g["keys"] for g in joined)),
                  "nodes": [n for g in joined for n in g["nodes"]] + [node]}
        groups = [g for g in groups if g not in joined] + [merged]
    return groups


def revert(b: Bench, tuned: BoundPlan, keys: set[str]) -> None:
    """Put the default back for these keys: the variant the op defaults to, the default local size."""
    defaults = {c.key: c.default for c in tuned.prepared.plan.choices}
    for key in sorted(keys):
        r = b.tuning.record(key)
        if isinstance(r, VariantRecord):
            default = r.default_choice or defaults[key]
            b.tuning.put(key, VariantRecord(default, default, r.default_time_us, r.default_time_us, r.launch_us,
                                            True, r.candidates))
        elif isinstance(r, LocalSizeRecord) and r.default_lws:
            b.tuning.put(key, LocalSizeRecord(r.default_lws, r.default_lws, r.default_time_us, r.default_time_us,
                                              True, r.candidates))


def side_by_side(b: Bench, default: BoundPlan, tuned: BoundPlan, feeds: dict, runs: int,
                 timer: TimeRun) -> tuple[Side, Side]:
    """`runs` turns of each plan, alternating (default first on even turns, tuned first on odd ones)."""
    sides = Side("default", default), Side("tuned", tuned)
    for turn in range(runs):
        for side in (sides if turn % 2 == 0 else sides[::-1]):
            side.add(*timer(side.name, side.bound, feeds), b.launch_us)
    return sides


def _bind_both(b: Bench) -> tuple[BoundPlan, BoundPlan]:
    session = b.session
    default = session.prepare(session.plan(b.graph, b.data_type, use_tuning=False))
    tuned = session.prepare(session.plan(b.graph, b.data_type), weights=default.weights)
    return default.bind(b.queue), tuned.bind(b.queue)


def _end_to_end(sides: tuple[Side, Side]) -> dict:
    d, t = (round(statistics.median(s.wall_us), 1) for s in sides)
    return {"default_us": d, "tuned_us": t, "gain": round(d / t, 3) if t else None,
            "default_runs_us": [round(w, 1) for w in sides[0].wall_us],
            "tuned_runs_us": [round(w, 1) for w in sides[1].wall_us]}


def _layer_rows(groups: list[dict], sides: tuple[Side, Side], node_ops: dict) -> list[dict]:
    rows = []
    for g in groups:
        d, t = (sum(s.layer(n) for n in g["nodes"]) for s in sides)
        g.update(default_us=round(d, 1), tuned_us=round(t, 1), gain=round(d / t, 3) if t else None,
                 kept=bool(t) and t <= d * (1 - MIN_GAIN))
        rows += [{"node": n, "op": node_ops[n], "default_us": round(sides[0].layer(n), 1),
                  "tuned_us": round(sides[1].layer(n), 1), "kept": g["kept"], "keys": sorted(g["keys"])}
                 for n in g["nodes"]]
    return rows


def _warm_up(default: BoundPlan, tuned: BoundPlan, feeds: dict) -> float:
    """WARM_UP runs of each, alternating; the largest relative error of the tuned plan's outputs against the
    default's."""
    for _ in range(WARM_UP):
        want, got = run_plan(default, feeds), run_plan(tuned, feeds)
    return max((rel_err(got[n], want[n]) for n in want), default=0.0)


def _measure(b: Bench, feeds: dict, runs: int, timer: TimeRun) -> tuple[float, tuple[Side, Side]]:
    default, tuned = _bind_both(b)
    return _warm_up(default, tuned, feeds), side_by_side(b, default, tuned, feeds, runs, timer)


def clearly(e: dict, slower: bool) -> bool:
    """Tuned slower (or faster) than default end to end: by more than MIN_GAIN at the median, and in more than
    three quarters of the turns, each turn's two runs compared (on a shared machine whole runs vary 2-3x:
    NOTES.md)."""
    d, t = (e["default_us"], e["tuned_us"]) if slower else (e["tuned_us"], e["default_us"])
    pairs = list(zip(e["default_runs_us"], e["tuned_runs_us"]))
    wins = sum((b > a) if slower else (a > b) for a, b in pairs)
    return t > d * (1 + MIN_GAIN) and wins > 0.75 * len(pairs)


def _verdict(kept: set, refused: set, why: str | None, final: dict | None) -> str:
    if why:
        return f"{why}: every tuned choice went back to the default"
    gain = "" if not final else f", {final['gain']:.2f}x end to end" if clearly(final, slower=False) else \
        ", end to end within the runs' spread"
    if not refused:
        return f"kept every tuned choice ({len(kept)}){gain}"
    if not kept:
        return "no tuned choice made its layers faster: every one went back to the default"
    return f"kept {len(kept)} tuned choices, {len(refused)} went back to the default (not faster){gain}"


def proof_key(graph, data_type: str) -> str:
    """The tuning-file key of a model's measurement: its name, a digest of what its plans follow from (nodes,
    attributes, input shapes; not the weights) and the data type."""
    text = repr([(n.op_type, n.inputs, n.outputs, sorted(n.attrs.items())) for n in graph.nodes] +
                [(i, graph.tensors[i].shape) for i in graph.inputs])
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"measured {graph.name[:80]} {digest} {data_type}"


def _record(b: Bench, measured: dict, final: dict | None, kept: set, refused: set) -> None:
    """Keep what the model measured in the tuning file, beside the records it proves (the report shows it)."""
    shown = final or measured
    tuned_us = shown["tuned_us"] if kept else shown["default_us"]  # all went back: the file holds the default
    b.tuning.put(proof_key(b.graph, b.data_type),
                 MeasuredRecord(b.graph.name[:200], shown["default_us"], tuned_us, len(shown["default_runs_us"]),
                                len(kept), len(refused)))
    b.tuning.save()


def prove(b: Bench, runs: int = RUNS, timer: TimeRun = time_run) -> dict:
    """Measure the tuned plan against the default side by side (module docstring), put the default back in the
    tuning file for every choice that is not faster, and save it. A JSON-able dict: `layers` (the changed
    layers, default and tuned µs, kept), `end_to_end` (median host µs of each, gain), `final` (the same for
    what the file holds after the refusals; None when that is the default plan), `kept`, `refused` (keys),
    `output_rel_err`, `verdict`."""
    default, tuned = _bind_both(b)
    groups = changed_groups(b, tuned)
    base = {"runs": runs, "layers": [], "end_to_end": None, "final": None, "kept": [], "refused": [],
            "output_rel_err": None}
    if not groups or runs <= 0:
        return {**base, "verdict": "nothing tuned differs from the default" if not groups else
                "the tuned plan was not checked against the default (no runs asked for)"}
    feeds = feeds_for(b.graph)
    error = _warm_up(default, tuned, feeds)
    sides = side_by_side(b, default, tuned, feeds, runs, timer)
    layers = _layer_rows(groups, sides, {s.node.name: s.node.op_type for s in tuned.steps})
    measured = _end_to_end(sides)
    why = (f"the tuned plan's outputs differ from the default's (rel err {error:.3g})"
           if error > VARIANT_TOLERANCE[b.data_type] else
           f"the model ran slower tuned ({measured['tuned_us']:.0f} µs) than default ({measured['default_us']:.0f} µs)"
           if clearly(measured, slower=True) else None)
    refused = {k for g in groups if why or not g["kept"] for k in g["keys"]}
    kept = {k for g in groups for k in g["keys"]} - refused
    final = measured if not refused else None
    if refused:
        revert(b, tuned, refused)
        b.tuning.save()
        if kept:
            final = _end_to_end(_measure(b, feeds, runs, timer)[1])
    for row in layers:
        row["kept"] = not (set(row["keys"]) & refused)
    _record(b, measured, final, kept, refused)
    return {**base, "layers": layers, "end_to_end": measured, "final": final, "kept": sorted(kept),
            "refused": sorted(refused), "output_rel_err": error, "verdict": _verdict(kept, refused, why, final)}


__all__ = ["prove", "proof_key", "RUNS", "WARM_UP", "clearly", "time_run", "changed_groups", "side_by_side",
           "feeds_for"]
