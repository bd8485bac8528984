"""Cache misses built at once: this process builds some, worker processes (runtime/build_worker.py) the rest.

A worker is worth its start (a Python process and an OpenCL context, ~0.2–1 s) only when there are several
misses and cores to spare, so the pool has min(cores − 1, misses − 1) workers (PYMACE_BUILD_WORKERS overrides
the count; 0 turns them off). This process takes jobs from the same queue while the workers start, so a worker
that is slow to come up, or fails to, costs nothing but the core it used; a job a worker fails is left for the
caller to build itself (with the driver's build log in the error)."""
from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(misses: int) -> int:
    """How many worker processes to start for this many cache misses."""
    chosen = os.environ.get("PYMACE_BUILD_WORKERS", "").strip()
    wanted = int(chosen) if chosen.isdigit() else cores() - 1
    return max(0, min(wanted, misses - 1))


class Worker:
    """One build worker process on the device `device` (a DeviceInfo)."""

    def __init__(self, device):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                                         os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pymace.runtime.build_worker", str(device.platform_index),
             str(device.device_index), device.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env)

    def ready(self) -> bool:
        try:
            return bool(json.loads(self.process.stdout.readline() or b"{}").get("ready"))
        except ValueError:
            return False

    def build(self, source: str, options: str) -> bytes | None:
        """The program binary, or None when the build failed or the worker is gone."""
        try:
            self.process.stdin.write(json.dumps({"source": source, "options": options}).encode() + b"\n")
            self.process.stdin.flush()
            reply = json.loads(self.process.stdout.readline() or b"{}")
            if "size" not in reply:
                log.debug("build worker: %s", reply.get("error", "no reply"))
                return None
            binary = self.process.stdout.read(int(reply["size"]))
            return binary if len(binary) == int(reply["size"]) else None
        except (OSError, ValueError):
            return None

    def probe(self, binary: bytes, options: str, identity: str) -> dict | None:
        """Have the worker load a cached binary (runtime/binary_probe.py): {"ok": True}, {"refused": reason}, or
        None when the worker died on it (or was gone)."""
        job = {"probe": base64.b64encode(binary).decode(), "options": options, "identity": identity}
        try:
            self.process.stdin.write(json.dumps(job).encode() + b"\n")
            self.process.stdin.flush()
            reply = json.loads(self.process.stdout.readline() or b"{}")
        except (OSError, ValueError):
            return None
        return reply if "ok" in reply or "refused" in reply else None

    def exit_reason(self) -> str:
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "it hung"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def build_all(jobs: list[tuple], build_here: Callable, load_binary: Callable, device,
              workers: int) -> tuple[dict, set]:
    """Run every job (key, source, options): `build_here(key)` in this process, or a worker's binary through
    `load_binary(key, binary)`; both return what the caller keeps for the key (None for a failure). Returns
    those results by key, and the keys the workers built."""
    queue, lock, results, by_workers = deque(jobs), threading.Lock(), {}, set()

    def take():
        with lock:
            return queue.popleft() if queue else None

    def drive(worker: Worker) -> None:
        try:
            if not worker.ready():
                return
            while (job := take()) is not None:
                binary = worker.build(job[1], job[2])
                results[job[0]] = _load(load_binary, job[0], binary) if binary else None
                by_workers.add(job[0])
        finally:
            worker.close()

    threads = []
    for _ in range(workers):
        try:
            threads.append(threading.Thread(target=drive, args=(Worker(device),), daemon=True))
        except OSError as error:  # no interpreter to start: this process builds everything
            log.debug("cannot start a build worker: %s", error)
            break
    for thread in threads:
        thread.start()
    while (job := take()) is not None:
        results[job[0]] = build_here(job[0])
    for thread in threads:
        thread.join()
    return results, {key for key in by_workers if results.get(key) is not None}


def _load(load_binary: Callable, key, binary: bytes):
    try:
        return load_binary(key, binary)
    except Exception as error:  # a binary the driver refuses: the caller builds the program itself
        log.debug("a worker's binary for %s was refused: %s", key, error)
        return None


__all__ = ["build_all", "worker_count", "cores", "Worker"]
