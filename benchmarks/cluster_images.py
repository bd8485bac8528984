"""A folder of ≥ 500 real photos for `validate --dataset` (benchmarks/cluster.py), from registry packages.

    python benchmarks/cluster_images.py OUT_DIR

- foolbox 3.3.4's wheel (pinned, sha256 checked): 20 ImageNet validation images with their class index (the file
  name's last number) and 40 CIFAR-10/100 images (their labels are CIFAR's, not ImageNet's: kept unlabelled);
- scikit-image's photos (astronaut, chelsea, coffee, rocket, …; unlabelled).
Augmented deterministically to reach the count: each photo, its mirror image, and five crops (four corners keeping
80% of each side, the centre keeping 70%) with their mirrors — 12 images per photo (CIFAR: the image and its
mirror). Labels only where real: an ImageNet photo and its mirror go in the class folder (`OUT/243/…`); crops
may cut the object out, so they go unlabelled, beside the class folders, with everything else."""
from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FOOLBOX = ("foolbox==3.3.4", "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb")
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
          "camera", "coins", "moon", "brick", "grass", "gravel", "page", "text", "horse"]


def foolbox_images() -> dict[str, bytes]:
    """{file name: bytes} of foolbox's sample images, from its pinned wheel."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder, FOOLBOX[0]],
                       check=True)
        wheel = next(Path(folder).glob("foolbox-*.whl"))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != FOOLBOX[1]:
            raise SystemExit(f"{wheel.name}: sha256 {digest}, expected {FOOLBOX[1]}")
        with zipfile.ZipFile(wheel) as z:
            return {Path(n).name: z.read(n) for n in z.namelist()
                    if n.startswith("foolbox/data/") and n.endswith((".jpg", ".png"))}


def variants(img: np.ndarray, crops: bool = True) -> list[tuple[str, np.ndarray, bool]]:
    """(suffix, image, label still real) for the photo, its mirror, and (crops) five crops with mirrors."""
    out = [("orig", img, True), ("flip", img[:, ::-1], True)]
    if crops:
        h, w = img.shape[:2]
        ch, cw = int(h * 0.8), int(w * 0.8)
        boxes = {"tl": (0, 0), "tr": (0, w - cw), "bl": (h - ch, 0), "br": (h - ch, w - cw)}
        windows = {k: img[t:t + ch, s:s + cw] for k, (t, s) in boxes.items()}
        windows["centre"] = img[int(h * 0.15):int(h * 0.85), int(w * 0.15):int(w * 0.85)]
        for k, crop in windows.items():
            out += [(k, crop, False), (f"{k}_flip", crop[:, ::-1], False)]
    return out


def save(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(img)).save(path, quality=95) if path.suffix == ".jpg" else \
        Image.fromarray(np.ascontiguousarray(img)).save(path)


def build(out: Path) -> dict:
    import skimage.data
    from PIL import Image

    counts = {"labelled": 0, "unlabelled": 0}

    def add(stem: str, img: np.ndarray, label: int | None, crops: bool = True) -> None:
        for suffix, v, keeps_label in variants(img, crops):
            labelled = label is not None and keeps_label
            save(v, (out / str(label) if labelled else out) / f"{stem}_{suffix}.png")
            counts["labelled" if labelled else "unlabelled"] += 1

    for name, data in sorted(foolbox_images().items()):
        img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        stem = Path(name).stem
        if name.startswith("imagenet_"):
            add(stem, img, int(stem.rsplit("_", 1)[1]))
        elif name.startswith("cifar"):
            add(stem, img, None, crops=False)
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        add(f"skimage_{name}", img[..., :3] if img.ndim == 3 else img, None)
    return counts


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "cluster-images")
    counts = build(target)
    print(f"{target}: {counts['labelled']} labelled + {counts['unlabelled']} unlabelled images")
