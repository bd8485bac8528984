"""Ray, for the work that outgrows one machine: `validate --dataset --ray` (dataset.py here) and `cache build
--fleet` (fleet.py); docs/cluster.md.

`connect(address)` joins the Ray cluster at `address`, or starts a local Ray instance in this process when there
is none; without Ray installed it says so in one line and returns None, and the commands run in this process.
What pymace hands to workers is bytes (the .pmace, the source model, image files, cache and tuning files in their
own formats, parsed on arrival by the same bounds-checked readers as any file), plain dicts and arrays; a worker
runs the pymace installed on its node, which must be the driver's version."""
from __future__ import annotations

import logging
import socket
import sys
from dataclasses import dataclass, field

from ... import __version__
from ...errors import ClusterError, ConfigError, PymaceError
from ...extras import installed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Node:
    """An alive node of the cluster, as its GCS lists it."""
    id: str
    address: str
    resources: dict = field(hash=False)
    labels: dict = field(hash=False)

    @property
    def cpus(self) -> float:
        return float(self.resources.get("CPU", 0))

    @property
    def gpus(self) -> int:
        return int(self.resources.get("GPU", 0))

    @property
    def name(self) -> str:
        """The address and the start of the node id: nodes of one machine share the address."""
        return f"{self.address}/{self.id[:6]}"


def say(line: str) -> None:
    """A note for the person at the terminal (stderr: stdout stays the command's output, JSON included)."""
    print(f"pymace: {line}", file=sys.stderr)


class Cluster:
    """A connection to Ray: the alive nodes, placement on one node, results with pymace's errors."""

    def __init__(self, ray, address: str, started_here: bool):
        self.ray, self.address, self.started_here = ray, address, started_here

    def nodes(self) -> list[Node]:
        """Alive nodes, in a stable order (address, then id)."""
        rows = [n for n in self.ray.nodes() if n.get("Alive")]
        nodes = [Node(n["NodeID"], n.get("NodeManagerAddress", "?"), dict(n.get("Resources") or {}),
                      dict(n.get("Labels") or {})) for n in rows]
        return sorted(nodes, key=lambda n: (n.address, n.id))

    def on(self, node: Node, **resources) -> dict:
        """`.options(...)` that pin a task or actor to `node` (and ask for `resources` there)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node.id, soft=False), **resources}

    def get(self, refs, where: str = "a worker"):
        """ray.get, with a worker's error (its PymaceError's line, or the last line of anything else) and a lost
        worker raised as a ClusterError naming `where`."""
        from ray import exceptions

        try:
            return self.ray.get(refs)
        except exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, PymaceError):  # the worker's one line, and its error kept as the cause
                raise ClusterError(f"on {where}: {cause}") from cause
            raise ClusterError(f"on {where}: {_first_line(cause or error)}") from None
        except exceptions.RayError as error:
            raise ClusterError(f"{where} was lost: {_first_line(error)}") from None

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _first_line(error) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


def available() -> bool:
    return installed("ray")


def connect(address: str | None, what: str) -> Cluster | None:
    """Join the Ray cluster at `address` (host:port, ray://host:port, or auto: the one `ray start` made on this
    machine), or start a local Ray instance when `address` is empty. Ray already initialised in this process
    (pymace used as a library) is used as it is. Without Ray: one line saying that `what` runs in this
    process, and None."""
    if not available():
        say(f"Ray is not installed (pip install 'pymace[cluster]'): {what} in this process")
        return None
    if address:
        _reachable(address)
    import ray

    if ray.is_initialized():
        return Cluster(ray, "(this process's Ray)", started_here=False)
    kwargs = {"logging_level": logging.ERROR, "log_to_driver": False, "namespace": "pymace"}
    if not address:
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address or "local", **kwargs)
    except Exception as error:  # ConnectionError, AuthenticationError, a bad address: one line, no traceback
        raise ClusterError(f"cannot join the Ray cluster at {address or 'a new local instance'}: "
                           f"{_first_line(error)}") from None
    return Cluster(ray, address or "a local Ray instance", started_here=True)


def _reachable(address: str, timeout: float = 5.0) -> None:
    """A host:port that accepts no connection fails here in seconds (Ray itself keeps retrying for minutes)."""
    host, sep, port = address.rpartition(":")
    if address.startswith("ray://") or not sep or not port.isdigit():
        return  # Ray Client addresses and `auto`: Ray resolves them
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClusterError(f"cannot join the Ray cluster at {address}: nothing answers there "
                           f"({error.strerror or error}); start it with `ray start --head`, or give its address") \
            from None


def check_version(reported: str, where: str) -> None:
    if reported != __version__:
        raise ClusterError(f"{where} runs pymace {reported}, this machine {__version__}: install the same "
                           "version on every node")


def check_address(address: str | None, flag: str) -> None:
    """`--ray MODEL.pmace …`: argparse took the model for the address."""
    if address and address.endswith((".pmace", ".onnx", ".tflite", ".pth")):
        raise ConfigError(f"{flag} took {address!r} as the cluster's address: put the model before {flag}, or "
                          f"give {flag} an address (host:port, or auto)")


def parse_selection(resources: list[str] | None, labels: list[str] | None) -> tuple[dict, dict]:
    """--fleet-resources NAME[=MIN][,…] and --fleet-labels KEY=VALUE[,…] as ({resource: min}, {label: value})."""
    wanted, wanted_labels = {}, {}
    for item in (p.strip() for text in resources or [] for p in text.split(",")):
        if not item:
            continue
        name, _, amount = item.partition("=")
        try:
            wanted[name.strip()] = float(amount) if amount else 1e-9
        except ValueError:
            raise ConfigError(f"--fleet-resources {item!r}: expected NAME or NAME=AMOUNT") from None
    for item in (p.strip() for text in labels or [] for p in text.split(",")):
        key, eq, value = item.partition("=")
        if item and (not eq or not key.strip()):
            raise ConfigError(f"--fleet-labels {item!r}: expected KEY=VALUE")
        if item:
            wanted_labels[key.strip()] = value.strip()
    return wanted, wanted_labels


def select_nodes(nodes: list[Node], resources: dict, labels: dict) -> list[Node]:
    """The nodes with any of `resources` (at least the amount given) and all of `labels`; with neither, every
    node that offers CPUs or GPUs (a head started with --num-cpus 0 is left alone, as Ray's scheduler would)."""
    def chosen(node: Node) -> bool:
        has = any(node.resources.get(name, 0) >= amount for name, amount in resources.items()) \
            if resources else (node.cpus > 0 or node.gpus > 0)
        return has and all(node.labels.get(k) == v for k, v in labels.items())

    picked = [n for n in nodes if chosen(n)]
    if not picked:
        asked = ", ".join([*resources, *(f"{k}={v}" for k, v in labels.items())]) or "CPUs or GPUs"
        have = "; ".join(f"{n.name} {sorted(k for k in n.resources if not k.startswith('node:'))} "
                         f"{ {k: v for k, v in n.labels.items() if not k.startswith('ray.io/')} }" for n in nodes)
        raise ClusterError(f"no node of the cluster has {asked} (nodes: {have or 'none alive'})")
    return picked
