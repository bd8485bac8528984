"""`pymace cache build MODEL --fleet [ADDRESS]`: one cache file (and tuning file) for every device of a fleet.

Three rounds of Ray tasks, each pinned to its node and asking for no GPU (so Ray leaves CUDA_VISIBLE_DEVICES alone
and a task sees every device of its node):
1. every chosen node lists its usable OpenCL devices;
2. for each distinct device (the program cache's device record: name, vendor, driver, platform, OpenCL C), one
   node that has it builds every program the model needs (with --tune, tunes first and builds the tuned plan),
   starting from the destination's entries for that device, and sends back that device's entries as a cache
   file's bytes (and its tuning file's bytes);
3. the driver merges them into the destination through the program cache's and tuning file's own writers
   (locked, atomic, merging with what is there), then every chosen node starts an Engine on each of its devices
   from the merged files and reports how many programs it had to build: 0 is a warm start.
Without Ray the same three rounds run in this process, for this machine's devices."""
from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from ... import __version__
from ...errors import ClusterError, ConfigError
from ...runtime import program_cache, tuning_file
from ..progress import QUIET
from . import Cluster, Node, check_version, select_nodes

KINDS = ("auto", "cpu", "gpu")


# --- what runs on a node -------------------------------------------------------------------------------------
def node_devices(kind: str = "auto") -> dict:
    """This node's pymace version and usable OpenCL devices of `kind` (auto: all), each with its cache record."""
    from ...runtime import device

    found = [d for d in device.list_devices() if d.usable and (kind == "auto" or d.is_gpu == (kind == "gpu"))]
    return {"pymace": __version__, "host": socket.gethostname(),
            "devices": [{"selector": d.selector, "name": d.name, "is_gpu": d.is_gpu,
                         "record": list(d.identity.cache_fields())} for d in found]}


def _selector(record: list) -> str:
    from ...runtime import device

    for d in device.list_devices():
        if d.usable and list(d.identity.cache_fields()) == list(record):
            return d.selector
    raise ClusterError(f"device {record[0]} ({record[3]}, driver {record[2]}) is not on this node any more")


def build_for_device(model: bytes, record: list, data_type: str, budget: float | None, seed: bytes | None,
                     tuning_seed: bytes | None = None) -> dict:
    """Build (with a `budget`: tune, then build) the model on the device with this record, in a fresh storage dir
    holding `seed` (the destination's entries for the device) and `tuning_seed` (its tuning file, so that the
    tuned plan is what gets built); that device's entries and tuning, as bytes."""
    from ...engine import Engine

    t0 = time.perf_counter()
    selector = _selector(record)
    with tempfile.TemporaryDirectory(prefix="pymace-fleet-") as folder:
        storage = Path(folder)
        (storage / "model.pmace").write_bytes(model)
        if seed:
            (storage / program_cache.ProgramCache.FILE_NAME).write_bytes(seed)
        if tuning_seed:
            (storage / tuning_file.FILE_NAME).write_bytes(tuning_seed)
        tuned = None
        if budget:
            from ...runtime import tuner

            result = tuner.tune(str(storage / "model.pmace"), device=selector, data_type=data_type, budget=budget,
                                storage_dir=folder)
            tuned = {k: result.get(k) for k in ("launches", "complete", "variant_keys", "variants_complete",
                                                 "elapsed_s", "estimated_speedup")}
        engine = Engine(str(storage / "model.pmace"), device=selector, data_type=data_type, storage_dir=folder)
        stats = {k: engine.init_stats.get(k) for k in ("programs_from_source", "programs_from_cache",
                                                          "build_seconds", "tuned_steps")}
        device = program_cache.DeviceRecord(*record)
        cache = program_cache.parse_cache_file(_read(storage / program_cache.ProgramCache.FILE_NAME))
        mine = [e for e in cache.entries if e.device == device]
        seeded = {e.key for e in program_cache.parse_cache_file(seed or b"").entries}
        stats["programs_compiled"] = sum(e.key not in seeded for e in mine)  # by the tuner or the engine
        tuning = _own_tuning(_read(storage / tuning_file.FILE_NAME), engine.device.identity)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return {"host": socket.gethostname(), "device": engine.device_name, "stats": stats, "tuned": tuned,
            "cache": program_cache.encode_cache_file(mine), "tuning": tuning}


def warm_start(model: bytes, cache: bytes, tuning: bytes | None, data_type: str, kind: str = "auto") -> dict:
    """An Engine on each distinct device of this node from the merged files: programs built (0: a warm start)."""
    from ...engine import Engine

    rows, seen = [], set()
    for d in node_devices(kind)["devices"]:
        if tuple(d["record"]) in seen:
            continue
        seen.add(tuple(d["record"]))
        with tempfile.TemporaryDirectory(prefix="pymace-warm-") as folder:
            (Path(folder) / "model.pmace").write_bytes(model)
            (Path(folder) / program_cache.ProgramCache.FILE_NAME).write_bytes(cache)
            if tuning:
                (Path(folder) / tuning_file.FILE_NAME).write_bytes(tuning)
            stats = Engine(str(Path(folder) / "model.pmace"), device=d["selector"], data_type=data_type,
                           storage_dir=folder).init_stats
        rows.append({"device": d["name"], "record": d["record"], "programs_from_source": stats["programs_from_source"],
                     "programs_from_cache": stats["programs_from_cache"],
                     "first_miss": (stats.get("cache_misses") or [None])[0]})
    return {"host": socket.gethostname(), "devices": rows}


def _own_tuning(data: bytes, identity) -> bytes | None:
    """The sections of a tuning file of the class of the device with this identity, as a tuning file; None if
    there are none."""
    sections, _ = tuning_file.parse(data) if data else ([], [])
    wanted = tuning_file.device_class(identity)
    mine = [(cls, entries) for cls, entries in sections if tuning_file.same_class(cls, wanted)]
    return tuning_file.encode(mine) if mine else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


# --- where it runs: Ray tasks pinned to nodes, or this process -----------------------------------------------
class Runner:
    """Calls a node function on a node: a Ray task there, or here without Ray."""

    def __init__(self, cluster: Cluster | None):
        self.cluster = cluster

    def nodes(self, resources: dict, labels: dict) -> list[Node]:
        if self.cluster is None:
            if resources or labels:
                raise ConfigError("--fleet-resources and --fleet-labels choose Ray nodes; without Ray the build "
                                  "runs on this machine only")
            return [Node("local", socket.gethostname(), {}, {})]
        return select_nodes(self.cluster.nodes(), resources, labels)

    def submit(self, node: Node, function, *args):
        if self.cluster is None:
            return function(*args)
        remote = self.cluster.ray.remote(function)
        return remote.options(**self.cluster.on(node, num_cpus=0, num_gpus=0)).remote(*args)

    def get(self, handle, where: str):
        return handle if self.cluster is None else self.cluster.get(handle, where)

    def put(self, value):
        return value if self.cluster is None else self.cluster.ray.put(value)


def fleet_build(runner: Runner, model_path, output_dir, data_type: str, kind: str = "auto",
                selection: tuple[dict, dict] = ({}, {}), budget: float | None = None, progress=QUIET) -> dict:
    """Build (and tune) MODEL for every distinct device of the chosen nodes; merge into `output_dir`; check that
    every node starts warm from it. A JSON-able dict (docs/cluster.md)."""
    if kind not in KINDS:
        raise ConfigError(f"with --fleet, --device is one of {', '.join(KINDS)} (every device of that kind)")
    model, out, t0 = Path(model_path).read_bytes(), Path(output_dir), time.perf_counter()
    nodes = runner.nodes(*selection)
    progress.task(f"listing the OpenCL devices of {len(nodes)} nodes")
    found = [runner.get(h, f"node {n.name}") for n, h in zip(nodes, [runner.submit(n, node_devices, kind)
                                                                        for n in nodes])]
    for node, facts in zip(nodes, found):
        check_version(facts["pymace"], f"node {node.name}")
    plan = assign(nodes, found)
    if not plan:
        raise ClusterError(f"no usable OpenCL device{'' if kind == 'auto' else ' of kind ' + kind} on "
                           f"{', '.join(n.name for n in nodes)}")
    t1 = time.perf_counter()
    builds = _build(runner, plan, model, out, data_type, budget, progress)
    t2 = time.perf_counter()
    merged = merge_into(out, builds)
    t3 = time.perf_counter()
    warm = _warm_starts(runner, nodes, model, merged, (data_type, kind), progress)
    seconds = {"devices": t1 - t0, "builds": t2 - t1, "merge": t3 - t2, "warm_starts": time.perf_counter() - t3}
    return {"model": str(model_path), "mode": "ray" if runner.cluster else "local",
            "address": runner.cluster.address if runner.cluster else None, "data_type": data_type,
            "nodes": [{"node": n.name, "devices": [d["name"] for d in f["devices"]]} for n, f in zip(nodes, found)],
            "builds": builds, "merged": merged, "warm": warm, "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "all_warm": bool(warm) and all(w["programs_from_source"] == 0 for w in warm)}


def _warm_starts(runner: Runner, nodes: list[Node], model: bytes, merged: dict, how: tuple[str, str],
                 progress) -> list[dict]:
    """Every node's warm_start from the merged files (whose bytes leave `merged` here)."""
    advance = progress.task(f"starting an engine on every device of {len(nodes)} nodes from the merged files",
                            len(nodes))
    cache, tuning = runner.put(merged.pop("bytes")), runner.put(merged.pop("tuning_bytes"))
    handles = [runner.submit(n, warm_start, model, cache, tuning, *how) for n in nodes]
    rows = []
    for node, h in zip(nodes, handles):
        rows += [{"node": node.name, **row} for row in runner.get(h, f"node {node.name}")["devices"]]
        advance()
    return rows


def assign(nodes: list[Node], found: list[dict]) -> list[tuple[Node, dict]]:
    """One (node, device) per distinct device record: the device seen on the fewest nodes is placed first, on the
    node given the least work so far (ties: the earlier node), so that builds spread over the fleet."""
    where: dict[tuple, list[tuple[Node, dict]]] = {}
    for node, facts in zip(nodes, found):
        for d in facts["devices"]:
            where.setdefault(tuple(d["record"]), [])
            if node not in [n for n, _ in where[tuple(d["record"])]]:
                where[tuple(d["record"])].append((node, d))
    load = {n.id: 0 for n in nodes}
    plan = []
    for record in sorted(where, key=lambda r: (len(where[r]), r)):
        node, d = min(where[record], key=lambda nd: (load[nd[0].id], nodes.index(nd[0])))
        load[node.id] += 1
        plan.append((node, d))
    return plan


def _build(runner: Runner, plan, model: bytes, out: Path, data_type: str, budget, progress) -> list[dict]:
    existing = program_cache.parse_cache_file(_read(out / program_cache.ProgramCache.FILE_NAME))
    tuning = _read(out / tuning_file.FILE_NAME) or None
    verb = f"tuning ({budget:g} s each) and building" if budget else "building"
    advance = progress.task(f"{verb} on {len(plan)} devices", len(plan))
    handles = []
    for node, d in plan:
        device = program_cache.DeviceRecord(*d["record"])
        seed = [e for e in existing.entries if e.device == device and e.intact()]
        seed_bytes = program_cache.encode_cache_file(seed) if seed else None
        handles.append(runner.submit(node, build_for_device, model, d["record"], data_type, budget, seed_bytes,
                                     tuning))
    builds = []
    for (node, d), h in zip(plan, handles):
        b = runner.get(h, f"node {node.name} ({d['name']})")
        builds.append({"node": node.name, "record": d["record"], **b})
        advance()
    return builds


def merge_into(out: Path, builds: list[dict]) -> dict:
    """Every build's entries into `out`'s cache file and its tuning into `out`'s tuning file, by the files' own
    writers (under their locks, merged with what is on disk, replaced atomically). Pops the bytes from
    `builds`; returns the merged cache file's bytes and facts."""
    entries = []
    for b in builds:
        cache = program_cache.parse_cache_file(b.pop("cache"))
        if cache.problems:
            raise ClusterError(f"the cache sent by {b['node']} is damaged: {'; '.join(cache.problems)}")
        entries += cache.entries
        b["entries"] = len(cache.entries)
    path = out / program_cache.ProgramCache.FILE_NAME
    if not program_cache.merge_into_file(path, entries):
        raise ClusterError(f"could not write {path} (see the warning above)")
    tuning_path = out / tuning_file.FILE_NAME
    for b in builds:
        raw = b.pop("tuning")
        if raw:
            _merge_tuning(tuning_path, raw, b["node"])
    data = path.read_bytes()
    merged = program_cache.parse_cache_file(data)
    return {"cache_file": str(path), "bytes": data, "size": len(data), "entries": len(merged.entries),
            "devices": [d.name for d in merged.devices],
            "tuning_file": str(tuning_path) if tuning_path.exists() else None,
            "tuning_bytes": _read(tuning_path) or None}


def _merge_tuning(path: Path, raw: bytes, node: str) -> None:
    sections, problems = tuning_file.parse(raw)
    if problems:
        raise ClusterError(f"the tuning file sent by {node} is damaged: {'; '.join(problems[:3])}")
    for cls, records in sections:
        target = tuning_file.TuningFile(path, cls, {}, None)
        for key, record in records.items():
            target.put(key, record)
        if not target.save():
            raise ClusterError(f"could not write {path} (see the warning above)")
