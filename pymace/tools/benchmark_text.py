"""`pymace benchmark`'s text: the facts, latency with a spread warning, time by op type and the slowest nodes
(numbers right-aligned, fixed decimals, node names folded rather than cut)."""
from __future__ import annotations

NOISY = 0.10  # a relative spread (stdev / mean) above this gets a warning


def init_line(init: dict) -> str:
    cold, warm = init["cold"], init["warm"]
    speedup = f"{init['speedup']:.1f}× faster" if init.get("speedup") else "no speed-up"
    return (f"cold {cold['init_seconds'] * 1e3:.1f} ms ({cold['programs_from_source']} programs built) → warm "
            f"{warm['init_seconds'] * 1e3:.1f} ms ({warm['programs_from_cache']} from cache, "
            f"{warm['programs_from_source']} built): {speedup}")


def render(result: dict):
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    init, lat, mem, prog = result["init"], result["latency_ms"], result["memory"], result["programs"]
    facts = Table.grid(padding=(0, 2))
    spread = lat.get("stdev", 0) / lat["mean"] if lat["mean"] else 0
    runs = f"{result['runs']} runs" + (f" in {result['duration_s']:g} s" if result.get("duration_s") else "")
    desc = result.get("input") or {}
    rows = [
        ("model", f"{result['model']['name']} ({result['model']['nodes']} nodes, {result['data_type']})"),
        ("device", f"{result['device']['name']} ({result['device']['platform_name']})"),
        ("input", _input(desc)),
        ("init cold → warm", init_line(init)),
        ("first inference", f"cold {init['cold']['first_inference_seconds'] * 1e3:.1f} ms, warm "
                            f"{init['warm']['first_inference_seconds'] * 1e3:.1f} ms"),
        ("latency ms", "  ".join(f"{k} {lat[k]:.3f}" for k in ("min", "p50", "p90", "p99", "max", "mean"))
         + f"  ({runs})"),
        ("throughput", f"{result['throughput_per_s']:.1f} inferences/s" if result["throughput_per_s"] else "—"),
        ("device memory", f"{mem['peak_device_bytes'] / 2**20:.1f} MiB (weights {mem['weights_bytes'] / 2**20:.1f}, "
                          f"activations {mem['activation_bytes'] / 2**20:.1f})"),
        ("programs", f"{prog['programs_from_cache']} from cache, {prog['programs_from_source']} from source"),
        ("tuned nodes", f"{result['tuning']['tuned_nodes']} of {result['tuning']['kernel_nodes']}"),
    ]
    if spread > NOISY:
        rows.append(("[yellow]warning[/yellow]", f"latency varies by {spread:.0%} (stdev / mean): another process "
                                                 "may share the device; compare medians of longer runs"))
    for k, v in rows:
        facts.add_row(k, escape(v) if k != "[yellow]warning[/yellow]" else v)
    parts = [facts, _table("time by op type (device, profiling events)", ["op type", "nodes", "ms", "%"],
                           [[g["op_type"], g["nodes"], f"{g['time_ms']:.3f}", f"{g['percent']:.1f}"]
                            for g in result["profile"]["by_op_type"]])]
    parts.append(_table("slowest nodes", ["node", "op", "kernel", "ms", "%", "GFLOP/s", "GB/s", "tuned"],
                        [[r["node"], r["op_type"], ",".join(r["kernels"]), f"{r['time_ms']:.3f}",
                          f"{r['percent']:.1f}", _num(r["gflops"]), _num(r["gbps"]), "yes" if r["tuned"] else ""]
                         for r in result["profile"]["top"]]))
    misses = init["warm"]["cache_misses"] or []
    if misses:
        parts.append(_table("warm-start cache misses", ["program", "reason"],
                            [[m["program"], m["reason"]] for m in misses]))
    return Group(*parts)


def _input(desc: dict) -> str:
    if desc.get("kind") == "files":
        return "files " + ", ".join(f"{n}={f}" for n, f in desc["files"].items())
    if desc.get("kind") == "random":
        shapes = desc.get("shapes")
        return f"random {desc['distribution']}, seed {desc['seed']}" + (f", shapes {shapes}" if shapes else "")
    return "—"


def _num(v) -> str:
    return "" if v is None else f"{v:.2f}"


def _table(title: str, columns: list[str], rows: list[list]):
    from rich.table import Table
    from rich.text import Text

    numeric = {"nodes", "ms", "%", "GFLOP/s", "GB/s"}
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c, overflow="fold", justify="right" if c in numeric else "left", highlight=False)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))  # Text: node names are not markup
    return table
