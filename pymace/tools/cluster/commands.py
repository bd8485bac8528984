"""The cluster side of the CLI: `validate --dataset [--ray]` and `cache build [--fleet]`, from parsed arguments
(cli.py stays a thin dispatcher)."""
from __future__ import annotations

import time

from .. import cli_args
from ..progress import Progress
from . import check_address, connect


def validate_dataset(a) -> dict:
    """--dataset in this process, or with --ray over a cluster (Ray missing: in this process, said in one line)."""
    from .. import dataset

    job = dataset.plan_dataset(a.model, a.dataset, a.labels, a.reference, a.source, cli_args.preprocessing(a),
                               a.limit, a.data_type)  # the options' mistakes, before any device or cluster
    cluster, t0 = None, time.perf_counter()
    if a.ray is not None:
        check_address(a.ray, "--ray")
        cluster = connect(a.ray, "validating the dataset")
    connect_seconds = time.perf_counter() - t0
    with Progress(cli_args.show_progress(a)) as progress:
        if cluster is None:
            return dataset.run_dataset(job, a.device, a.storage_dir, progress)
        from .dataset import validate_dataset_on_ray

        try:
            result = validate_dataset_on_ray(cluster, job, a.device, a.storage_dir, progress)
        finally:
            cluster.close()
    result["timing"]["connect_seconds"] = round(connect_seconds, 3)  # joining Ray, or starting it here
    return result


def render_dataset(result: dict):
    from rich.console import Group
    from rich.text import Text

    from .. import dataset

    text = dataset.render_text(result)
    c = result.get("cluster")
    if not c:
        return text
    engines = [w for w in c["workers"] if w["role"] == "engine"]
    line = (f"on Ray ({c['address']}): {c['nodes']} nodes, {len(engines)} engine actors, "
            f"{len(c['workers']) - len(engines)} reference actors, {c['chunk_images']} images per chunk")
    return Group(text, Text(line))


def add_fleet_options(p) -> None:
    """`cache build`'s --fleet options."""
    p.add_argument("--fleet", nargs="?", const="", metavar="ADDRESS",
                   help="build for every distinct OpenCL device of a Ray cluster's nodes (host:port, auto; no "
                        "address: a local Ray instance) and merge into one cache file — docs/cluster.md")
    p.add_argument("--fleet-resources", action="append", metavar="NAME[=MIN],…",
                   help="with --fleet: only nodes that have one of these Ray resources")
    p.add_argument("--fleet-labels", action="append", metavar="KEY=VALUE,…",
                   help="with --fleet: only nodes with all of these Ray labels")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="with --fleet: the folder of the merged cache and tuning files (default: --storage-dir)")


def fleet_build(a) -> dict:
    """cache build --fleet: over a Ray cluster, or (Ray missing) for this machine's devices in this process."""
    from ...config import default_storage_dir
    from . import parse_selection
    from .fleet import Runner, fleet_build

    check_address(a.fleet, "--fleet")
    selection = parse_selection(a.fleet_resources, a.fleet_labels)
    cluster = connect(a.fleet, "building for this machine's devices")
    try:
        with Progress(cli_args.show_progress(a)) as progress:
            return fleet_build(Runner(cluster), a.model, a.output or a.storage_dir or default_storage_dir(),
                               a.data_type, (a.device or "auto").lower(), selection,
                               a.budget if a.tune else None, progress)
    finally:
        if cluster is not None:
            cluster.close()


def render_fleet(result: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    m = result["merged"]
    where = f"on Ray ({result['address']})" if result["mode"] == "ray" else "in this process"
    head = Text(f"{result['model']}: {len(result['builds'])} distinct devices on {len(result['nodes'])} nodes, "
                f"built {where}")
    builds = Table(title="builds", title_justify="left")
    for c in ("device", "node", "compiled", "entries", "seconds", "tuned"):
        builds.add_column(c, justify="left" if c in ("device", "node") else "right", no_wrap=True)
    for b in result["builds"]:
        s, t = b["stats"], b.get("tuned") or {}
        builds.add_row(Text(b["device"]), b["node"], str(s["programs_compiled"]), str(b["entries"]),
                       f"{s['seconds']:.1f}", f"{t['complete']}/{t['launches']}" if t else "—")
    warm = Table(title="warm start from the merged files", title_justify="left")
    for c in ("device", "node", "programs built", "from cache"):
        warm.add_column(c, justify="left" if c in ("device", "node") else "right", no_wrap=True)
    for w in result["warm"]:
        warm.add_row(Text(w["device"]), w["node"], str(w["programs_from_source"]), str(w["programs_from_cache"]))
    tuning = f"; tuning: {m['tuning_file']}" if m.get("tuning_file") else ""
    merged = Text(f"merged: {m['cache_file']} ({m['entries']} entries, {len(set(m['devices']))} devices, "
                  f"{m['size']} bytes){tuning}")
    verdict = Text("every device starts warm" if result["all_warm"] else
                   "NOT warm everywhere: see the programs built above", style=None if result["all_warm"] else "red")
    return Group(head, builds, merged, warm, verdict)
