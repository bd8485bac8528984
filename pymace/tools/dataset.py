"""`pymace validate --dataset DIR`: does the compiled model keep its accuracy on real images?

DIR is an ImageFolder tree (one subfolder per class, named by class index or by the model's label) or a folder
of images with a labels file (`IMAGE LABEL` per line); images with no label count for agreement only. Every
image is preprocessed as the model records (or as the options say), run on the device and by the source
framework's runtime, and the report gives top-1/top-5 accuracy of both against the labels, their top-1
agreement and the distribution of cosine similarity between their outputs."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, PymaceError
from ..extras import require
from .images import IMAGE_SUFFIXES, load_image, preprocess, preprocessing_spec
from .metrics import classifier_like, compare, top_k
from .progress import QUIET

SUFFIXES = (*IMAGE_SUFFIXES, ".npy")


def find_images(directory, labels_file=None, class_names: list[str] | None = None) -> list[tuple[Path, int | None]]:
    """(image, class index or None) for every image under `directory`, sorted."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"--dataset {root}: not a folder")
    given = _read_labels(labels_file, class_names) if labels_file else {}
    items = [(p, given.get(p.name, given.get(p.stem))) for p in sorted(root.iterdir()) if _is_image(p)]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = class_index(folder.name, class_names)
        items += [(p, label) for p in sorted(folder.rglob("*")) if _is_image(p)]
    if not items:
        raise ConfigError(f"--dataset {root}: no images ({', '.join(SUFFIXES)}) in it or its class folders")
    return items


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in SUFFIXES


def class_index(name: str, class_names: list[str] | None) -> int:
    """A class folder's (or a labels file's) label as a class index: a number, or one of the model's labels."""
    if name.strip().isdigit():
        return int(name)
    wanted = name.strip().replace("_", " ").lower()
    for i, label in enumerate(class_names or []):
        if label.lower() == wanted:
            return i
    hint = "the model records no labels" if not class_names else "nor one of the model's labels"
    raise ConfigError(f"class {name!r} is not a class index, {hint}")


def _read_labels(path, class_names) -> dict[str, int]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise ConfigError(f"--labels {path}: cannot read ({e.strerror})") from None
    out = {}
    for number, line in enumerate(lines, 1):
        parts = line.replace(",", " ").split(maxsplit=1)
        if not parts or line.lstrip().startswith("#"):
            continue
        if len(parts) != 2:
            raise ConfigError(f"--labels {path}:{number}: expected IMAGE LABEL")
        out[parts[0]] = class_index(parts[1], class_names)
    return out


@dataclass
class DatasetJob:
    """What every image of a `validate --dataset` run shares, settled before any image is read: the model, the
    reference runtime, the images and their labels, the options."""
    model_path: str
    directory: str
    graph: object
    kind: str  # the reference runtime
    source: str | None
    note: str | None
    items: list[tuple[Path, int | None]]
    preprocessing: dict | None
    data_type: str


def plan_dataset(model_path, directory, labels=None, reference: str = "auto", source=None,
                 preprocessing: dict | None = None, limit: int | None = None, data_type: str = "fp32") -> DatasetJob:
    """Check the options and list the images; raises the one-line errors before any device or worker starts."""
    from ..ir import pmace_file
    from . import validate

    graph = pmace_file.load(str(model_path))
    kind, source, note = validate.choose_reference(graph, reference, source)
    validate.require_runtime(kind, graph)
    items = find_images(directory, labels, graph.metadata.get("labels"))[:limit]
    if any(p.suffix.lower() != ".npy" for p, _ in items):
        require("reading images", "image", "PIL")
    return DatasetJob(str(model_path), str(directory), graph, kind, source, note, items, preprocessing, data_type)


# --- the work of one image: the single-process run and the Ray workers (tools/cluster) call these -------------
def read_image(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise PymaceError(f"cannot read image {path}: {error.strerror or error}") from None


def image_feeds(graph, name: str, data: bytes, preprocessing: dict | None = None) -> tuple[dict, str]:
    """The model's feeds from an image file's bytes (`name` gives the kind: .npy or a Pillow format), and how
    they were made."""
    x, how = preprocess(graph, load_image(_decode(name, data)), preprocessing)
    return {graph.inputs[0]: x}, how


def _decode(name: str, data: bytes) -> np.ndarray:
    try:
        if name.lower().endswith(".npy"):
            return np.load(io.BytesIO(data), allow_pickle=False)
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as error:  # PIL's UnidentifiedImageError is an OSError
        raise PymaceError(f"cannot read image {name}: {error}") from None


def score_image(path, label, got: dict, want: dict, outputs: list[str]) -> dict:
    """One image's row: top-5 of pymace and of the reference on the classifier-like output, their cosine."""
    from .validate import match_outputs

    want = match_outputs(outputs, want)
    name = next((n for n in outputs if classifier_like(want[n])), outputs[0])
    g5, w5 = top_k(got[name]), top_k(want[name])
    return {"image": str(path), "label": label, "top5": g5, "top5_reference": w5,
            "cosine": compare(got[name], want[name])["cosine"]}


def merge(parts: dict[int, list[dict]]) -> tuple[list[dict], dict]:
    """(rows in image order, summary) from rows computed in parts (part index → its rows, in image order): the
    same numbers however the images were split, since the summary sees the rows in one order."""
    rows = [row for index in sorted(parts) for row in parts[index]]
    return rows, summarise(rows)


def summarise(rows: list[dict]) -> dict:
    labelled = [r for r in rows if r["label"] is not None]
    cos = np.array([r["cosine"] for r in rows], np.float64)

    def accuracy(key: str, k: int):
        return sum(r["label"] in r[key][:k] for r in labelled) / len(labelled) if labelled else None

    return {"images": len(rows), "labelled": len(labelled),
            "top1": {"pymace": accuracy("top5", 1), "reference": accuracy("top5_reference", 1)},
            "top5": {"pymace": accuracy("top5", 5), "reference": accuracy("top5_reference", 5)},
            "top1_agreement": sum(r["top5"][0] == r["top5_reference"][0] for r in rows) / len(rows),
            "top5_overlap_mean": float(np.mean([len(set(r["top5"]) & set(r["top5_reference"])) for r in rows])),
            "cosine": {"min": float(cos.min()), "p5": float(np.percentile(cos, 5)),
                       "median": float(np.median(cos)), "mean": float(cos.mean())}}



def dataset_result(job: DatasetJob, device: str, merged: tuple[list[dict], dict], how: str, timing: dict) -> dict:
    """The JSON-able result of `validate --dataset` (docs/benchmark.md) from `merge`'s rows and summary, however
    the images were run."""
    rows, summary = merged
    return {"model": job.model_path, "device": device, "data_type": job.data_type, "reference": job.kind,
            "reference_source": job.source, "reference_note": job.note,
            "input": {"kind": "dataset", "dataset": job.directory, "images": len(rows), "preprocessing": how,
                      "spec": preprocessing_spec(job.graph, job.preprocessing)},
            "summary": summary, "timing": timing, "images": rows}


def timing(images: int, setup_seconds: float, images_seconds: float) -> dict:
    """Seconds to set up (engines, reference sessions, workers) and to run the images; images per second."""
    rate = images / images_seconds if images_seconds > 0 else None
    return {"setup_seconds": round(setup_seconds, 3), "images_seconds": round(images_seconds, 3),
            "images_per_second": round(rate, 2) if rate else None}


def validate_dataset(model_path, directory, labels=None, reference: str = "auto", source=None,
                     device: str = "auto", data_type: str = "fp32", storage_dir=None,
                     preprocessing: dict | None = None, limit: int | None = None, progress=QUIET) -> dict:
    """Every image of `directory` on the device and on the reference runtime, in this process."""
    job = plan_dataset(model_path, directory, labels, reference, source, preprocessing, limit, data_type)
    return run_dataset(job, device, storage_dir, progress)


def run_dataset(job: DatasetJob, device: str = "auto", storage_dir=None, progress=QUIET) -> dict:
    """A planned dataset run in this process: one Engine, one reference session, the images in order."""
    from .. import Engine
    from . import validate

    t0 = time.perf_counter()
    graph = job.graph
    reference_run = validate.make_runner(job.kind, job.source, graph)
    engine = Engine(graph, device=device, data_type=job.data_type, storage_dir=storage_dir)
    rows, how = [], ""
    advance = progress.task(f"{len(job.items)} images on {engine.device_name} and {job.kind}", len(job.items))
    t1 = time.perf_counter()
    for path, label in job.items:
        feeds, how = image_feeds(graph, path.name, read_image(path), job.preprocessing)
        rows.append(score_image(path, label, engine.run(feeds), reference_run(feeds), graph.outputs))
        advance()
    t2 = time.perf_counter()
    return dataset_result(job, engine.device_name, merge({0: rows}), how, timing(len(rows), t1 - t0, t2 - t1))


def render_text(result: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    s = result["summary"]
    head = (f"{Path(result['model']).name} on {result['device']} ({result['data_type']}) vs {result['reference']}: "
            f"{s['images']} images from {result['input']['dataset']}, {s['labelled']} labelled; "
            f"{result['input']['preprocessing']}")
    table = Table(title="accuracy and agreement", title_justify="left")
    for c in ("", "pymace", result["reference"]):
        table.add_column(c, justify="right" if c else "left")
    for key in ("top1", "top5"):
        table.add_row(f"{key[:3]}-{key[3]} accuracy ({s['labelled']} labelled)",
                      *(_pct(s[key][w]) for w in ("pymace", "reference")))
    cos = s["cosine"]
    agreement = (f"top-1 agreement {s['top1_agreement']:.1%} ({s['images']} images), top-5 overlap "
                 f"{s['top5_overlap_mean']:.2f} of 5; cosine min {cos['min']:.6f}, p5 {cos['p5']:.6f}, "
                 f"median {cos['median']:.6f}")
    parts = [Text(head), table, agreement]
    t = result.get("timing") or {}
    if t.get("images_per_second"):
        parts.append(Text(f"{t['images_per_second']:.1f} images/s ({s['images']} images in {t['images_seconds']:.1f} s,"
                          f" after {t['setup_seconds']:.1f} s of setup)"))
    differ = [r for r in result["images"] if r["top5"][0] != r["top5_reference"][0]]
    if differ:
        parts.append(Text(f"top-1 differs on: {', '.join(Path(r['image']).name for r in differ[:10])}"
                          + (" …" if len(differ) > 10 else "")))
    if not s["labelled"]:
        parts.append("no image has a label: accuracy is not measured, only agreement")
    return Group(*parts)


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"
