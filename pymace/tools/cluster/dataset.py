"""`pymace validate --dataset DIR --ray [ADDRESS]`: a dataset's images spread over Ray actors.

Each node gets engine actors — one per GPU (num_gpus=1) where the node has GPUs and --device allows them, else
one on the node's OpenCL CPU device — and CPU actors running the source framework's reference runtime. Images go
out in chunks of file bytes through the object store to the reference actors, which decode and preprocess them
with tools/dataset.py's per-image function (image_feeds) and run the reference; the feeds go on to an engine
actor; the driver scores every image with dataset.score_image and merges the rows in image order with
dataset.merge, so the counts and metrics are those of a single-process run of the same images and options."""
from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections import deque
from pathlib import Path

from ...errors import ClusterError, PymaceError
from .. import dataset
from ..progress import QUIET
from . import Cluster, Node, check_version, select_nodes

IN_FLIGHT = 2  # chunks queued per actor: the next one travels while the current one runs


class ImageWorker:
    """A Ray actor holding one model: a pymace Engine (role "engine", `run`) or the source framework's runtime
    (role "reference", `prepare`)."""

    def __init__(self, role: str, files: dict, job: dict):
        from ... import __version__

        self.folder = Path(tempfile.mkdtemp(prefix="pymace-worker-"))
        self.facts = {"role": role, "pymace": __version__, "host": socket.gethostname()}
        self.failed = None
        try:
            self._open(role, files, job)
        except PymaceError as error:  # raised by describe(), as a task's error: one line at the driver
            self.failed = error

    def _open(self, role: str, files: dict, job: dict) -> None:
        from ...ir import pmace_file

        model = self.folder / "model.pmace"
        model.write_bytes(files["model"])
        self.graph, self.preprocessing = pmace_file.load(str(model)), job["preprocessing"]
        if role == "engine":
            from ...engine import Engine

            engine = Engine(self.graph, device=job["device"], data_type=job["data_type"],
                            storage_dir=job["storage_dir"])
            self.run_feeds = engine.run
            self.facts |= {"device": engine.device_name, "programs_from_source": engine.init_stats.get(
                "programs_from_source"), "init_seconds": engine.init_stats["init_seconds"]}
        else:
            from .. import validate

            source = None
            if files.get("source") is not None:
                source = self.folder / files["source_name"]
                source.write_bytes(files["source"])
            self.run_feeds = validate.make_runner(job["kind"], str(source) if source else None, self.graph)
            self.facts["device"] = job["kind"]

    def describe(self) -> dict:
        if self.failed is not None:
            raise self.failed
        return self.facts

    def prepare(self, chunk: list[tuple[str, bytes]]) -> tuple[list[dict], tuple[list[dict], str]]:
        """A reference actor's work: each image of a chunk of (file name, bytes) decoded and preprocessed (once,
        on a CPU) and run by the reference — (the feeds, (the reference's outputs, how the feeds were made)), as
        two objects (num_returns=2) so that the feeds go on to an engine actor without passing the driver."""
        feeds, wants, how = [], [], ""
        for name, data in chunk:
            f, how = dataset.image_feeds(self.graph, name, data, self.preprocessing)
            feeds.append(f)
            wants.append(self.run_feeds(f))
        return feeds, (wants, how)

    def run(self, feeds: list[dict]) -> list[dict]:
        """An engine actor's work: the model's outputs for each image's feeds."""
        return [self.run_feeds(f) for f in feeds]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def plan_workers(nodes: list[Node], device: str) -> list[tuple[Node, str, str, dict]]:
    """(node, role, --device of an engine, actor resources) for every actor. A node with GPUs (when `device` is
    auto or gpu): an engine actor per GPU (num_gpus=1) and as many reference actors sharing its CPUs; a node
    without: one engine actor on its OpenCL CPU device and one reference actor, half its CPUs (at most 1) each."""
    plan = []
    for node in nodes:
        gpus = node.gpus if device in ("auto", "gpu") else 0
        if gpus:
            engine = (node, "engine", "gpu" if device == "auto" else device, {"num_gpus": 1, "num_cpus": 0})
            plan += [engine] * gpus
            if node.cpus > 0:
                plan += [(node, "reference", "", {"num_cpus": min(1.0, node.cpus / gpus)})] * gpus
        elif device != "gpu" and node.cpus > 0:
            share = {"num_cpus": min(1.0, node.cpus / 2)}
            plan += [(node, "engine", device, share), (node, "reference", "", share)]
    missing = {"engine", "reference"} - {role for _, role, _, _ in plan}
    if missing:
        wanted = "GPUs" if device == "gpu" and "engine" in missing else "CPUs"
        raise ClusterError(f"no node of the cluster offers {wanted} for the {' and '.join(sorted(missing))} "
                           f"actors (nodes: {'; '.join(f'{n.name} {n.resources}' for n in nodes)})")
    return plan


def validate_dataset_on_ray(cluster: Cluster, job: dataset.DatasetJob, device: str = "auto", storage_dir=None,
                            progress=QUIET) -> dict:
    """A planned dataset run (tools/dataset.plan_dataset) with the images spread over the cluster's actors; the
    result of tools/dataset.run_dataset, with `cluster` (nodes, actors, chunk size) added."""
    t0 = time.perf_counter()
    nodes = select_nodes(cluster.nodes(), {}, {})
    plan = plan_workers(nodes, (device or "auto").lower())
    progress.task(f"starting {len(plan)} workers on {len(nodes)} nodes")
    actors, facts = _start_workers(cluster, job, plan, storage_dir)
    chunk = max(1, min(16, -(-len(job.items) // (4 * len(actors)))))
    chunks = [job.items[i:i + chunk] for i in range(0, len(job.items), chunk)]
    engines = [a for a, f in zip(actors, facts) if f["role"] == "engine"]
    devices = ", ".join(sorted({f["device"] for f in facts if f["role"] == "engine"}))
    advance = progress.task(f"{len(job.items)} images on {len(engines)} engines ({devices}) and {job.kind}",
                            len(job.items))
    t1 = time.perf_counter()
    try:
        parts, how = _run_chunks(cluster, actors, plan, facts, chunks, job, advance)
    finally:
        _stop_workers(cluster, actors)
    t2 = time.perf_counter()
    result = dataset.dataset_result(job, devices, dataset.merge(parts), how,
                                    dataset.timing(len(job.items), t1 - t0, t2 - t1))
    result["cluster"] = {"address": cluster.address, "nodes": len(nodes), "chunk_images": chunk,
                         "workers": [{"node": n.name, **f} for (n, _, _, _), f in zip(plan, facts)]}
    return result


def _start_workers(cluster: Cluster, job, plan, storage_dir) -> tuple[list, list[dict]]:
    ray = cluster.ray
    files = {"model": Path(job.model_path).read_bytes(), "source": None, "source_name": None}
    if job.source:
        files |= {"source": Path(job.source).read_bytes(), "source_name": Path(job.source).name}
    spec = {"device": None, "data_type": job.data_type, "storage_dir": storage_dir, "kind": job.kind,
            "preprocessing": job.preprocessing}
    shared = ray.put(files)
    worker = ray.remote(ImageWorker)
    actors = [worker.options(**cluster.on(node, **resources)).remote(role, shared, spec | {"device": device})
              for node, role, device, resources in plan]
    try:
        facts = [cluster.get(a.describe.remote(), f"the {role} worker on {node.name}")
                 for a, (node, role, _, _) in zip(actors, plan)]
    except BaseException:
        _stop_workers(cluster, actors)
        raise
    for f, (node, _, _, _) in zip(facts, plan):
        check_version(f["pymace"], f"node {node.name}")
    return actors, facts


def _stop_workers(cluster: Cluster, actors: list) -> None:
    ray = cluster.ray
    try:
        ray.wait([a.close.remote() for a in actors], num_returns=len(actors), timeout=10)
    finally:
        for a in actors:
            ray.kill(a)


def _run_chunks(cluster: Cluster, actors: list, plan: list, facts: list[dict], chunks: list, job, advance):
    """Every chunk through a reference actor (decode, preprocess, reference run), then its feeds through an
    engine actor — one on the same node when one is free, so the feeds stay in that node's object store. Each
    actor is kept IN_FLIGHT chunks deep; at most a window of chunks is open at once, which bounds the bytes and
    feeds out in the object store. ({chunk index: rows}, how the inputs were made)."""
    ray = cluster.ray
    node_of = {id(a): node.id for a, (node, _, _, _) in zip(actors, plan)}
    refs = [a for a, f in zip(actors, facts) if f["role"] == "reference"]
    engines = [a for a, f in zip(actors, facts) if f["role"] == "engine"]
    load = {id(a): 0 for a in actors}
    todo, ready = deque(range(len(chunks))), deque()
    pending, wants, parts, how, open_chunks = {}, {}, {}, "", 0
    window = IN_FLIGHT * len(actors)

    def fill() -> None:
        nonlocal open_chunks
        for actor in refs:
            while load[id(actor)] < IN_FLIGHT and todo and open_chunks < window:
                i = todo.popleft()
                images = [(p.name, dataset.read_image(p)) for p, _ in chunks[i]]
                feeds, want = actor.prepare.options(num_returns=2).remote(images)
                pending[want] = ("reference", actor, i, feeds)
                load[id(actor)] += 1
                open_chunks += 1
        while ready and (free := [e for e in engines if load[id(e)] < IN_FLIGHT]):
            i, feeds, node = ready.popleft()
            engine = min(free, key=lambda e: (node_of[id(e)] != node, load[id(e)]))
            pending[engine.run.remote(feeds)] = ("engine", engine, i, None)
            load[id(engine)] += 1

    fill()
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        role, actor, i, feeds = pending.pop(done[0])
        load[id(actor)] -= 1
        result = cluster.get(done[0], f"a {role} worker (images {chunks[i][0][0].name} …)")
        if role == "reference":
            wants[i], how = result
            ready.append((i, feeds, node_of[id(actor)]))
        else:
            parts[i] = [dataset.score_image(p, label, g, w, job.graph.outputs)
                        for (p, label), g, w in zip(chunks[i], result, wants.pop(i))]
            open_chunks -= 1
            advance(len(chunks[i]))
        fill()
    return parts, how
