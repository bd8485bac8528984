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


class PoolClosed(RuntimeError):
    """The pool was closed before this caller got an executor (runtime/shape_plans.py plans the shape again)."""


class ExecutorPool:
    def __init__(self, make: Callable[[], object], first: object | None = None, limit: int | None = None,
                 discard: Callable[[object], None] | None = None):
        """`make()` → a new executor; `first`: one made already (the engine's `plan`); `discard(executor)`
        frees one for `close`."""
        self._make, self._discard = make, discard
        self._closed, self._then = False, None
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
        `release`. PoolClosed once the pool is closed (also for a caller that was waiting)."""
        with self._lock:
            while not self._closed and not self._free and self._made >= self._limit:
                self._waiting += 1
                self._changed.wait()
                self._waiting -= 1
            if self._closed:
                raise PoolClosed("this executor pool is closed")
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
            if not self._closed:
                self._free.append(executor)
                if self._waiting:
                    self._changed.notify()
                return
        self._free_one(executor)

    def close(self, then: Callable[[], None] | None = None) -> None:
        """Free the idle executors now and each busy one when its run gives it back; new callers get PoolClosed.
        `then()` runs once the last executor is freed (now, if none is busy)."""
        with self._changed:
            self._closed, self._then, idle, self._free = True, then, self._free, []
            self._changed.notify_all()
        for executor in idle:
            self._free_one(executor)
        self._finish()

    def _free_one(self, executor) -> None:
        with self._lock:
            self._made -= 1
            self._changed.notify()
        if self._discard is not None:
            self._discard(executor)
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            then = self._then if self._closed and self._made == 0 else None
            if then is not None:
                self._then = None
        if then is not None:
            then()


__all__ = ["ExecutorPool", "PoolClosed", "default_limit"]
