"""Runs of one engine that take turns at enqueuing, without a hand-over between threads at every turn.

On the GPU a run is mostly host time in the driver's enqueues (~10 µs each on NVIDIA's OpenCL), and two threads'
enqueues do not overlap there. So what threads lose is the hand-over: with a lock, each run's enqueues wait until
the thread that waited on the lock is scheduled again, and the driver's state moves between cores. Here a run that
finds another thread enqueuing leaves its work in a queue, and the thread enqueuing does that work too before it
lets go: while runs keep coming, one thread enqueues them back to back and the others only wait for their results
(docs/threads.md; benchmarks/NOTES.md, "threads on the H200"). A lone run enqueues its own work at once."""
from __future__ import annotations

import collections
import queue
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


class SubmitThread:
    """An experiment (PYMACE_SUBMIT_THREAD=1, benchmarks/NOTES.md, "sixth session"): a run that finds others
    enqueuing hands its work to one thread of the engine's, which enqueues the runs handed to it back to back, so
    that one thread does the driver's work while runs keep coming; a lone run enqueues its own at once. The thread
    starts when it is first needed and ends after IDLE_S seconds without work."""

    IDLE_S = 1.0

    def __init__(self):
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock, self._turn = threading.Lock(), threading.Lock()
        self._active, self._thread = 0, None  # runs inside submit(); the thread, while it runs

    def submit(self, work: Callable[[], T]) -> T:
        """work() run by this thread (a lone run) or by the engine's submitting thread; its result, or its
        exception raised here."""
        job = None
        with self._lock:
            self._active += 1
            if self._active > 1:  # put under the lock: the thread never ends with a job left in the queue
                job = _Job(work)
                self._jobs.put(job)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._serve, name="pymace-submit", daemon=True)
                    self._thread.start()
        try:
            if job is None:
                with self._turn:
                    return work()
            job.finished.wait()
            if job.error is not None:
                raise job.error
            return job.result
        finally:
            with self._lock:
                self._active -= 1

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            with self._turn:
                job.run()


__all__ = ["Submitter", "SubmitThread"]
