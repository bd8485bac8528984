"""Runs of one engine that take turns at enqueuing, without a hand-over between threads at every turn.

On the GPU a run is mostly host time in the driver's enqueues (~10 µs each on NVIDIA's OpenCL), and two threads'
enqueues do not overlap there. So what threads lose is the hand-over: with a lock, each run's enqueues wait until
the thread that waited on the lock is scheduled again, and the driver's state moves between cores. Here a run that
finds another thread enqueuing leaves its work in a queue, and the thread enqueuing does that work too before it
lets go: while runs keep coming, one thread enqueues them back to back and the others only wait for their results
(docs/threads.md; benchmarks/NOTES.md, "threads on the H200"). A lone run enqueues its own work at once."""
from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class _Job:
    __slots__ = ("work", "result", "error", "finished")

    def __init__(self, work: Callable):
        self.work, self.result, self.error, self.finished = work, None, None, threading.Event()

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as e:  # handed to the caller that submitted the work, raised there
            self.error = e
        finally:
            self.finished.set()


class Submitter:
    """One engine's turns at enqueuing (a GPU's: runtime/session.py decides)."""

    def __init__(self):
        self._pending: collections.deque[_Job] = collections.deque()
        self._turn = threading.Lock()

    def submit(self, work: Callable[[], T]) -> T:
        """work() run by this thread or by the thread whose turn it is; its result, or its exception raised here."""
        job = _Job(work)
        self._pending.append(job)
        while True:
            if self._turn.acquire(blocking=False):
                try:
                    self._drain()
                finally:
                    self._turn.release()
                if not self._pending:  # work left after the drain was queued after it: drain again or leave it
                    break  # to the thread that now has the turn
            elif job.finished.is_set():
                break
            else:
                job.finished.wait(0.002)  # the thread with the turn drains this job; the timeout is a safety net
        if job.error is not None:
            raise job.error
        return job.result

    def _drain(self) -> None:
        while True:
            try:
                job = self._pending.popleft()
            except IndexError:
                return
            job.run()


__all__ = ["Submitter"]
