"""Tuning variants: for each choice key (a node's op offers several kernels, tiles, K splits…: ops/base.py
LaunchContext.choose), the node runs alone, planned once per candidate, on seeded random inputs; each candidate's
outputs must match the op's default variant's within the op tests' bars before its launches are timed, and the
cheapest correct one (device time plus launches × the host's enqueue cost) lands in the tuning file. Candidates'
programs are built outside the program cache, which keeps only what the final plan uses."""
from __future__ import annotations

import time

import numpy as np

from ...errors import PymaceError
from ...ir.graph import Graph, Node
from ..device import cl
from ..executor import enqueue_all, run_plan
from ..plan import Choice, make_plan
from ..tuning_records import Candidate, VariantRecord
from .measure import DROP_AFTER, DROP_FACTOR, REPEATS, Bench, best, confirm, difference, error_text

VARIANT_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}  # max|err| / max|default|: another summation order, the op tests'


def choices_of(b: Bench) -> tuple[dict[str, Choice], dict[str, int]]:
    """(choice key → the first node's Choice (what its op offered), choice key → how many nodes share it), for
    every node whose op offers variants."""
    found, counts = {}, {}
    for choice in make_plan(b.graph, b.session.traits, b.data_type).choices:
        found.setdefault(choice.key, choice)
        counts[choice.key] = counts.get(choice.key, 0) + 1
    return found, counts


def node_graph(graph: Graph, node: Node) -> Graph:
    """The node alone: its activation inputs are the graph's inputs, its constants stay constants."""
    names = [i for i in node.inputs if i]
    tensors = {n: graph.tensors[n] for n in [*names, *node.outputs]}
    inputs = [n for n in dict.fromkeys(names) if not graph.tensors[n].is_const]
    return Graph(f"{graph.name}: {node.name}", [node], tensors, inputs, list(node.outputs))


def _node_times_us(queue, steps, runs: int) -> list[float]:
    """Device time of each of `runs` back-to-back runs of the node's launches."""
    events = [enqueue_all(queue, steps, events=True) for _ in range(runs)]
    queue.finish()
    return [sum(e.profile.end - e.profile.start for e in run) * 1e-3 for run in events]


def measure_variant(b: Bench, alone: Graph, key: str, choice: dict, feeds, reference,
                    best_cost) -> tuple[Candidate, dict | None]:
    """A candidate variant's entry (time_us and launches, dropped_us, or failed with the reason) and its outputs
    (the default's are the reference of the others). `reference` None: nothing to compare with (the default)."""
    result = Candidate(choice=choice)
    try:
        launches = b.session.plan(alone, b.data_type, {key: choice}, use_tuning=False)
        plan = b.session.prepare(launches, programs=b.session.uncached_programs).bind(b.queue)
        got = run_plan(plan, feeds)  # the warm-up, and the outputs to check
        if reference is not None:  # host outputs are fp32 whatever the storage type
            result.failed = difference([got[n].ravel().view(np.uint8) for n in reference],
                                       [want.ravel().view(np.uint8) for want in reference.values()], np.float32,
                                       VARIANT_TOLERANCE[b.data_type], "variant")
            if result.failed:
                return result, None
        # the node's own steps, not fp16's storage casts (a GPU plan runs a copy of the graph: match by name)
        steps = [step for step in plan.steps if step.node.name == alone.nodes[0].name]
        samples = _node_times_us(b.queue, steps, DROP_AFTER)
        if best_cost is not None and min(samples) + len(steps) * b.launch_us > DROP_FACTOR * best_cost:
            result.dropped_us = round(min(samples), 3)
            return result, None
        samples += _node_times_us(b.queue, steps, REPEATS - DROP_AFTER)
    except (cl.Error, PymaceError) as error:
        result.failed = error_text(error)
        return result, None
    result.time_us, result.launches = round(min(samples), 3), len(steps)
    return result, got


def _earlier(b: Bench, choice: Choice) -> list[Candidate]:
    """What an earlier run measured for this key that the op still offers (its default aside)."""
    record = b.tuning.record(choice.key)
    if not isinstance(record, VariantRecord):
        return []
    return [c for c in record.candidates if c.choice != choice.default and c.choice in choice.candidates]


def tune_choice(b: Bench, choice: Choice, rng, deadline: float, tick) -> None:
    """Time the choice's candidates on its node alone and store the record (also when interrupted: `complete`
    False then, and the next run measures only the candidates not in it)."""
    alone = node_graph(b.graph, choice.node)
    feeds = {n: rng.standard_normal(alone.tensors[n].shape).astype(np.float32) for n in alone.inputs}
    first, reference = measure_variant(b, alone, choice.key, choice.default, feeds, None, None)
    results = [first, *_earlier(b, choice)]
    complete, confirmed = False, None
    try:
        for candidate in choice.candidates if reference is not None else []:
            if any(r.choice == candidate for r in results):
                continue
            if time.perf_counter() > deadline:
                break
            leader = best(results, b.launch_us)
            results.append(measure_variant(b, alone, choice.key, candidate, feeds, reference,
                                           leader and leader.cost(b.launch_us))[0])
            tick(choice)
        else:
            complete = True  # also when the default itself failed: there is nothing to compare with then
        confirmed = confirm(results, lambda r: measure_variant(b, alone, choice.key, r.choice, feeds, None,
                                                               None)[0].time_us, b.launch_us)
    finally:
        chosen = confirmed or best(results, b.launch_us) or first
        b.tuning.put(choice.key, VariantRecord(chosen.choice, choice.default, chosen.time_us, first.time_us,
                                               b.launch_us, complete, results))


def tune_variants(b: Bench, choices: dict[str, Choice], deadline: float, progress) -> list[str]:
    """Time every candidate variant of every choice key not yet complete in the tuning file; store the best.
    Returns the keys measured by this run."""
    def finished(c: Choice) -> bool:  # complete, and its choice still one this pymace offers (else measured again)
        record = b.tuning.record(c.key)
        return isinstance(record, VariantRecord) and record.complete and record.choice in c.candidates

    todo = [c for c in choices.values() if not finished(c)]
    total = sum(max(0, len(c.candidates) - 1 - len(_earlier(b, c))) for c in todo)
    done, measured = 0, []
    rng = np.random.default_rng(0)

    def tick(choice: Choice) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, f"variants of {choice.node.name}")

    try:
        for choice in todo:
            if time.perf_counter() > deadline:
                break
            measured.append(choice.key)
            tune_choice(b, choice, rng, deadline, tick)
            b.tuning.save()
    finally:
        b.tuning.save()  # also on Ctrl-C: what was measured stays measured
        if progress:
            progress(total, total, "variants done")
    return measured


__all__ = ["choices_of", "node_graph", "tune_variants", "VARIANT_TOLERANCE"]
