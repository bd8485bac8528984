"""`pymace validate`'s text: the verdict, what input it used, the outputs, and where a divergence starts."""
from __future__ import annotations

from pathlib import Path


def input_text(desc: dict) -> str:
    """The input in words (the text, the report)."""
    kind = desc.get("kind")
    if kind == "image":
        return f"image {desc['image']} ({desc['preprocessing']})"
    if kind == "files":
        return "files " + ", ".join(f"{n}={f}" for n, f in desc["files"].items())
    if kind == "dataset":
        return f"dataset {desc['dataset']} ({desc['images']} images; {desc['preprocessing']})"
    n = desc.get("samples", 1)
    return (f"random {desc['distribution']}, seed {desc['seed']}, {n} sample{'s' if n != 1 else ''} "
            "(not real data: class labels on noise mean nothing)")


def render(result: dict):
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    verdict = "[green]PASS[/green]" if result["passed"] else "[red]FAIL[/red]"
    source = f" ({result['reference_source']})" if result.get("reference_source") else ""
    head = (f"{verdict}  " + escape(f"{Path(result['model']).name} on {result['device']} ({result['data_type']}) vs "
                                     f"{result['reference']}{source}; cosine ≥ {result['threshold']['value']}"))
    parts = [head, Text(f"input: {input_text(result['input'])}")]
    parts += [Text(f"note: {result['reference_note']}")] if result.get("reference_note") else []
    table = Table(title="outputs" + (" (worst sample)" if result["input"].get("samples", 1) > 1 else ""),
                  title_justify="left")
    for c in ("output", "shape", "cosine", "SQNR dB", "max |err|", "top-1 (ref)", "top-5 overlap"):
        table.add_column(c)
    for o in result["outputs"]:
        top1 = f"{o['top1']} ({o['top1_reference']})" if "top1" in o else ""
        if o.get("top1_label"):
            top1 += f" {o['top1_label']}"
        table.add_row(Text(o["name"]), str(o["shape"]), f"{o['cosine']:.6f}", _db(o["sqnr_db"]),
                      f"{o['max_abs_error']:.3g}", top1, str(o.get("top5_overlap", "")))
    parts.append(table)
    diff = result.get("diff")
    if diff:
        first = diff["first_divergent"]
        parts.append(f"first divergent node: [bold]{escape(first['node'])}[/bold] ({first['op_type']}), tensor "
                     f"{escape(first['tensor'])}, cosine {first['cosine']:.6f}, max |err| {first['max_abs_error']:.3g}"
                     if first else "node by node, every node stays above the threshold (the difference is "
                                   "between the reference runtime and pymace's reference executor)")
    if result.get("layers"):
        parts.append(layers_table(result["layers"]))
    return Group(*parts)


def layers_table(layers: dict):
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    first = layers["first_divergent"]
    line = (f"first divergent node vs {layers['reference']}: [bold]{escape(first['node'])}[/bold] "
            f"({first['op_type']}), tensor {escape(first['tensor'])}, cosine {first['cosine']:.6f}" if first else
            f"every one of the {len(layers['nodes'])} compared tensors stays above the threshold vs "
            f"{layers['reference']}")
    table = Table(title=f"layers: {len(layers['nodes'])} tensors compared, {layers['unmatched']} without a twin "
                        "in the source (fused)", title_justify="left")
    for c in ("node", "op", "tensor", "cosine", "max |err|", ""):
        table.add_column(c, overflow="fold")
    for r in layers["nodes"]:
        table.add_row(Text(r["node"]), r["op_type"], Text(r["tensor"]), f"{r['cosine']:.6f}",
                      f"{r['max_abs_error']:.3g}", "[red]diverges[/red]" if r["diverges"] else "")
    return Group(line, table)


def _db(v) -> str:
    return "exact" if v is None else f"{v:.1f}"
