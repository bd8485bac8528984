"""Images in, model inputs out: reading (Pillow, or a .npy array), resizing, normalising as the model records.

A preprocessing spec is a dict (the zoo records one in each model's metadata; `--mean/--std/--size/--layout/
--crop` override it): x = (pixel · scale − mean) / std per channel, after a centre crop (the fraction of the
shorter side kept, e.g. 0.875 = torchvision's 224 of 256) and an antialiased bilinear resize to the input's
height and width, in the input's layout (NCHW or NHWC)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, PymaceError
from ..extras import require
from ..safe_io import load_npy

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
DEMO_PHOTO = Path(__file__).resolve().parent.parent / "data" / "chelsea.npy"  # CC0, pymace/data/README.md


def load_image(image) -> np.ndarray:
    """HxWx3 uint8 RGB from a path (an image file, or a .npy HxWx3 array) or an array (grey gains channels,
    alpha is dropped)."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            if path.suffix.lower() == ".npy":
                image = load_npy(path)
            else:
                require(f"reading {path.name}", "image", "PIL")
                from PIL import Image, UnidentifiedImageError

                try:
                    with Image.open(path) as im:
                        image = np.asarray(im.convert("RGB"))
                except UnidentifiedImageError as error:
                    raise PymaceError(f"cannot read image {path}: {error}") from None
        except (OSError, ValueError) as error:
            raise PymaceError(f"cannot read image {path}: {error}") from None
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] < 3:
        raise PymaceError(f"expected an HxWx3 image, got shape {list(img.shape)}")
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return img


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of antialiased bilinear resampling (a triangle filter widened by the downscale
    factor, half-pixel centres), as PIL's BILINEAR resize computes it."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    x = np.arange(n_in) + 0.5
    w = np.clip(1 - np.abs(x[None, :] - centres[:, None]) / support, 0, None)
    return w / w.sum(axis=1, keepdims=True)


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWxC → height x width x C float32 (values kept in the input's range)."""
    x = np.tensordot(resize_matrix(img.shape[0], height), img.astype(np.float32), axes=(1, 0))
    return np.tensordot(x, resize_matrix(img.shape[1], width), axes=(1, 1)).transpose(0, 2, 1)


def centre_crop(img: np.ndarray, fraction: float) -> np.ndarray:
    """The centred square-ish window keeping `fraction` of the shorter side (1.0 keeps the whole image)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"crop fraction {fraction} must be in (0, 1]")
    if fraction == 1:
        return img
    h, w = img.shape[:2]
    side = max(1, round(min(h, w) * fraction))
    top, left = (h - side) // 2, (w - side) // 2
    return img[top:top + side, left:left + side]


def input_geometry(shape, layout: str | None = None) -> tuple[str, int, int]:
    """(layout, height, width) of a 4-d RGB input shape; NCHW when channels could be either."""
    shape = list(shape)
    if len(shape) != 4 or 3 not in (shape[1], shape[3]):
        raise ConfigError(f"an input of shape {shape} does not take an RGB image")
    layout = (layout or ("NCHW" if shape[1] == 3 else "NHWC")).upper()
    if layout not in ("NCHW", "NHWC"):
        raise ConfigError(f"unknown layout {layout!r}: use NCHW or NHWC")
    return (layout, shape[2], shape[3]) if layout == "NCHW" else (layout, shape[1], shape[2])


def preprocessing_spec(graph, overrides: dict | None = None) -> dict:
    """What the model's metadata records, with the given options (None values ignored) on top."""
    spec = dict(graph.metadata.get("preprocessing") or {})
    spec.pop("resize", None)  # the input shape decides the size
    spec.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return spec


def preprocess(graph, img: np.ndarray, overrides: dict | None = None) -> tuple[np.ndarray, str]:
    """The image as the model's single input: (array, how it was made, in words)."""
    spec = preprocessing_spec(graph, overrides)
    layout, h, w = input_geometry(graph.tensors[graph.inputs[0]].shape, spec.get("layout"))
    if spec.get("size"):
        h, w = _size(spec["size"], h, w)
    x = resize(centre_crop(img, float(spec.get("crop", 1.0))), h, w)
    scale = float(spec.get("scale", 1 / 255))
    x = (x * scale - np.asarray(spec.get("mean", 0.0), np.float32)) / np.asarray(spec.get("std", 1.0), np.float32)
    x = x.transpose(2, 0, 1) if layout == "NCHW" else x
    keys = ("crop", "scale", "mean", "std")
    how = f"resize to {h}x{w} {layout}, " + ", ".join(f"{k}={_fmt(spec[k])}" for k in keys if k in spec)
    return x[None].astype(np.float32), how.rstrip(", ")


def _size(size, h: int, w: int) -> tuple[int, int]:
    dims = [int(d) for d in (size if isinstance(size, (list, tuple)) else str(size).split(","))]
    return (dims[0], dims[0]) if len(dims) == 1 else (dims[0], dims[1])


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
