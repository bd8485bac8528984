"""A Ray cluster of several nodes on loopback, for the cluster tests and benchmarks/cluster.py.

Every node is `ray start --block` in a process group of its own, with its own temp dir and environment (e.g.
POCL_DEVICES, so that two nodes of one machine show different OpenCL devices); stopping the cluster ends those
process groups, and only those."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 240.0  # generous: CI machines are small and may be busy


@dataclass
class NodeSpec:
    num_cpus: float = 1
    resources: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """`with LocalCluster([head, worker, …]) as cluster:` — cluster.address is `127.0.0.1:PORT`."""

    def __init__(self, nodes: list[NodeSpec], object_store_bytes: int = 100 << 20):
        self.nodes, self.object_store_bytes = nodes, object_store_bytes
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="pymace-ray-"))
        self.processes: list[subprocess.Popen] = []
        # Token authentication with a token of this cluster's own, so that nothing in ~/.ray is read or written;
        # a driver needs the same variables (`cluster.env`).
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """The nodes one after the other, head first; returns when the head's GCS lists every node alive."""
        for i, spec in enumerate(self.nodes):
            self._start_node(i, spec)
        self._wait_for(len(self.nodes))

    def _start_node(self, index: int, spec: NodeSpec, attempts: int = 3) -> None:
        """`ray start --block` for one node, until it logs "Ray runtime started". A raylet has 30 s to register
        (fixed in Ray); on a busy machine it may miss that and exit: then the node is started again."""
        for attempt in range(attempts):
            temp = self.root / f"n{index}.{attempt}"  # each node its own temp dir (sockets, logs, session)
            temp.mkdir()
            process = self._launch(index, spec, temp)
            deadline = time.monotonic() + START_TIMEOUT_S
            while process.poll() is None and time.monotonic() < deadline:
                if "Ray runtime started" in self._log(index):
                    self.processes.append(process)
                    return
                time.sleep(0.2)
            _signal_group(process, signal.SIGKILL)
            process.wait()
        raise RuntimeError(f"ray node {index} did not start ({attempts} attempts): {self._log(index)[-2000:]}")

    def _launch(self, index: int, spec: NodeSpec, temp: Path) -> subprocess.Popen:
        where = ["--head", "--port", str(self.port)] if index == 0 else ["--address", self.address]
        command = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", *where, "--num-cpus",
                   str(spec.num_cpus), "--num-gpus", "0", "--temp-dir", str(temp),
                   "--object-store-memory", str(self.object_store_bytes), "--disable-usage-stats"]
        if index == 0:
            command += ["--include-dashboard", "false"]
        if spec.resources:
            command += ["--resources", json.dumps(spec.resources)]
        if spec.labels:
            command += ["--labels", ",".join(f"{k}={v}" for k, v in spec.labels.items())]
        env = {**os.environ, **self.env, **spec.env}
        with open(self.root / f"n{index}.log", "wb") as log:
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _log(self, index: int) -> str:
        return (self.root / f"n{index}.log").read_text(errors="replace")

    def _wait_for(self, count: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.alive_nodes() >= count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes in {START_TIMEOUT_S:.0f} s")

    def alive_nodes(self) -> int:
        """Alive nodes, as the head's GCS lists them (`ray list nodes` needs the dashboard: asked directly)."""
        code = ("import ray, sys, logging; ray.init(address=sys.argv[1], logging_level=logging.ERROR, "
                "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))")
        try:
            done = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True,
                                  timeout=90, env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:  # a loaded machine: ask again
            return 0
        last = done.stdout.strip().splitlines()[-1:] or ["0"]
        return int(last[0]) if last[0].isdigit() else 0

    def stop(self) -> None:
        """End every node's process group (SIGTERM, then SIGKILL after 3 s, as `ray stop --force` would), then
        remove the temp dirs."""
        for p in self.processes:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for p in self.processes:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.processes:  # raylet, GCS and workers stay in the group after `ray start` itself exits
            _signal_group(p, signal.SIGKILL)
            p.wait()
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
