"""Executors for runs from any number of threads at once (docs/threads.md).

An executor is one BoundPlan (runtime/bind.py): its own queue, activation and scratch buffers, counters and
kernel objects, sharing the programs and the weights with the others. A run takes a free executor, or makes one
while fewer than `limit` exist, or waits until one comes back. The lock guards only the pool's bookkeeping, never
a run, so runs on different executors go on at the same time (and on separate queues, whose enqueue and device
work the driver can overlap)."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def default_limit() -> int:
    """How many executors a plan gets at most unless told: one per CPU core, and at least two."""
    return max(2, os.cpu_count() or 1)


class ExecutorPool:
    def __init__(self, make: Callable[[], object], first: object | None = None, limit: int | None = None):
        """`make()` → a new executor; `first`: one made already (the engine's `plan`)."""
        self._make = make
        self._free = [first] if first is not None else []
        self._made = len(self._free)
        self._limit = max(1, limit or default_limit())
        self._waiting = 0  # callers blocked in acquire: release signals only when there are some
        self._lock = threading.Lock()  # taken directly on the fast path (cheaper than through the Condition)
        self._changed = threading.Condition(self._lock)

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        """Executors made stay; a lower limit only stops new ones being made."""
        with self._changed:
            self._limit = max(1, int(value))
            self._changed.notify_all()

    @property
    def made(self) -> int:
        return self._made

    @contextmanager
    def take(self) -> Iterator[object]:
        """An executor for one run, given back when the run ends (also when it raises)."""
        executor = self.acquire()
        try:
            yield executor
        finally:
            self.release(executor)

    def acquire(self):
        """A free executor, or a new one while fewer than `limit` exist, else the next one given back. Pair with
        `release`."""
        with self._lock:
            while not self._free and self._made >= self._limit:
                self._waiting += 1
                self._changed.wait()
                self._waiting -= 1
            if self._free:
                return self._free.pop()  # the most recently used: a lone caller keeps reusing one executor
            self._made += 1  # reserved: made outside the lock, so other runs go on meanwhile
        try:
            return self._make()
        except BaseException:
            with self._changed:
                self._made -= 1
                self._changed.notify()
            raise

    def release(self, executor) -> None:
        with self._lock:
            self._free.append(executor)
            if self._waiting:
                self._changed.notify()


__all__ = ["ExecutorPool", "default_limit"]
