"""Plans by input shape: one engine runs a symbolic model (ir/symbolic.py) at any input shape.

    plans = ShapePlans(session, graph, "fp32", limit=8)
    with plans.take(((1, 3, 640, 480),)) as executor:   # input shapes, in the graph's input order
        outputs = run_plan(executor, feeds)

A shape seen for the first time is planned: the graph specialised (symbols substituted, shapes inferred, the
shape arithmetic folded, verified), planned (runtime/plan.py), prepared and bound once (runtime/bind.py). What
the shapes share, they share: the session's programs (a program whose build options are the same is built once,
whatever the shape), and the weight buffers (one per distinct content, Weights). What a shape owns: its plan's
local sizes and kernels, and its executors' activation buffers — a pool of them (runtime/pool.py). At most
`limit` shapes are kept (least recently used first out): an evicted shape's executors are freed when idle, and
its weight references given back once the last of them is; a caller that found the shape just before it was
evicted plans it again. A static graph has one shape, planned the same way."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import ConfigError, ConvertError, InputError, ModelError
from ..ir import symbolic
from ..ir.graph import Graph
from .bind import BoundPlan, Prepared, Weights
from .plan import STORAGE
from .pool import ExecutorPool, PoolClosed

DEFAULT_LIMIT = 8  # shapes kept at once: each holds its executors' activation memory (Engine(max_plans=...))

Key = tuple  # the input shapes, in the graph's input order


@dataclass
class ShapePlan:
    """One input shape planned: its graph, prepared plan, first executor, pool, and what planning it cost."""

    key: Key
    graph: Graph
    prepared: Prepared
    first: BoundPlan
    pool: ExecutorPool
    stats: dict = field(default_factory=dict)

    def close(self) -> None:
        """Free the executors (busy ones when their runs end), then give back the weights."""
        self.pool.close(then=self.prepared.close)


def _program_counts(programs) -> tuple[int, int]:
    return programs.stats.from_cache, programs.stats.from_source


class ShapePlans:
    """The shapes planned for one graph on one session, least recently used first."""

    def __init__(self, session, graph: Graph, data_type: str, limit: int | None = None,
                 executors: int | None = None):
        self.session, self.graph, self.data_type = session, graph, data_type
        self.limit = max(1, int(limit or DEFAULT_LIMIT))
        self.executors = executors  # executors per shape at most (ExecutorPool's default when None)
        self.weights = Weights(session.context, STORAGE[data_type], session.host_align)
        self._entries: OrderedDict[Key, ShapePlan] = OrderedDict()
        self._lock = threading.Lock()  # the table; never held while planning
        self._planning = threading.Lock()  # one shape planned at a time: a second caller of it waits for it
        self.planned = 0  # shapes planned so far (evicted ones included)
        self.closed = False

    def get(self, key: Key) -> ShapePlan:
        """The plan of these input shapes, planned now if it is new (and the oldest evicted past `limit`);
        ConfigError once closed."""
        with self._lock:
            self._check_open()
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        with self._planning:
            with self._lock:
                found = self._entries.get(key)
            if found is None:
                found = self._plan(key)
            with self._lock:
                if self.closed:  # closed while this shape was planned
                    found.close()
                    self._check_open()
                self._entries[key] = found
                self._entries.move_to_end(key)
                evicted = [self._entries.popitem(last=False)[1] for _ in range(len(self._entries) - self.limit)]
        for entry in evicted:
            entry.close()
        return found

    @contextmanager
    def take(self, key: Key) -> Iterator[BoundPlan]:
        """An executor of these input shapes' plan for one run (planned first if new), given back after it."""
        while True:
            entry = self.get(key)
            try:
                executor = entry.pool.acquire()
            except PoolClosed:  # evicted between get and acquire (or the engine closed: get refuses then)
                continue
            break
        try:
            yield executor
        finally:
            entry.pool.release(executor)

    def _specialised(self, key: Key) -> Graph:
        if not symbolic.is_symbolic(self.graph):
            return self.graph
        shapes = dict(zip(self.graph.inputs, key))
        try:
            return symbolic.specialize(self.graph, shapes)
        except (ConvertError, ModelError) as e:
            raise InputError(f"inputs of shape {shapes}: the model cannot run at this shape: {e}") from None

    def _plan(self, key: Key) -> ShapePlan:
        t0 = time.perf_counter()
        graph = self._specialised(key)
        t1 = time.perf_counter()
        programs = self.session.programs
        before, weight_bytes = _program_counts(programs), self.weights.bytes
        plan = self.session.plan(graph, self.data_type)
        prepared = self.session.prepare(plan, weights=self.weights)
        s = self.session
        first = prepared.bind(s.queue(), s.submitter, s.shares_queue)
        first.queue.finish()
        pool = ExecutorPool(lambda: prepared.bind(s.queue(), s.submitter, s.shares_queue), first=first,
                            limit=self.executors, discard=BoundPlan.release)
        self.session.save_cache()
        cached, built = (now - was for now, was in zip(_program_counts(programs), before))
        needed = len(plan.required_programs())
        self.planned += 1
        stats = {"specialize_seconds": round(t1 - t0, 4), "plan_seconds": round(time.perf_counter() - t1, 4),
                 "programs_needed": needed, "programs_shared": needed - cached - built,
                 "programs_from_cache": cached, "programs_from_source": built,
                 "activation_bytes": plan.memory.activation_bytes,
                 "weight_bytes_uploaded": self.weights.bytes - weight_bytes}
        return ShapePlan(key, graph, prepared, first, pool, stats)

    @property
    def newest(self) -> ShapePlan | None:
        """The most recently used shape's plan (never the next one evicted while another exists)."""
        with self._lock:
            return next(reversed(self._entries.values()), None)

    def entries(self) -> list[ShapePlan]:
        with self._lock:
            return list(self._entries.values())

    def set_executors(self, value: int) -> None:
        self.executors = value
        for entry in self.entries():
            entry.pool.limit = value

    def _check_open(self) -> None:
        if self.closed:
            raise ConfigError("this engine is closed")

    def close(self) -> None:
        """Free every shape's executors (idle now, busy ones when their runs end) and the weights."""
        with self._lock:
            self.closed = True
            entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            entry.close()


__all__ = ["ShapePlans", "ShapePlan", "DEFAULT_LIMIT"]
