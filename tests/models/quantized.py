"""Quantized ImageNet classifiers for the tests and benchmarks/quantized.py: torchvision's MobileNetV2 (the zoo's
pinned weights) quantized to an ONNX QDQ model by onnxruntime's own quantize_static, calibrated on crops of
scikit-image's photographs (never on the two test images)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import skimage.data

from pymace.frontends import torch_mobilenet
from pymace.tools import zoo

# scikit-image's RGB photographs other than the test images (its `cat` is `chelsea`, so it is not here)
CALIBRATION_IMAGES = ("astronaut", "rocket", "immunohistochemistry", "retina", "hubble_deep_field", "colorwheel")
TEST_IMAGES = ("chelsea", "coffee")


def _calibration_images() -> list[np.ndarray]:
    return [np.ascontiguousarray(getattr(skimage.data, name)()[..., :3]) for name in CALIBRATION_IMAGES]


def calibration_batches(count: int = 24, seed: int = 0) -> list[np.ndarray]:
    """Preprocessed [1, 3, 224, 224] crops (random position and size) of the calibration photographs."""
    rng, images, out = np.random.default_rng(seed), _calibration_images(), []
    for k in range(count):
        img = images[k % len(images)]
        h, w = img.shape[:2]
        size = int(rng.uniform(0.5, 1.0) * min(h, w))
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        out.append(torch_mobilenet.preprocess(img[y:y + size, x:x + size]))
    return out


def test_image(name: str) -> np.ndarray:
    return torch_mobilenet.preprocess(getattr(skimage.data, name)())


def mobilenet_v2_qdq(directory: Path, per_channel: bool = True, reduce_range: bool = True,
                     weight_type: str = "QInt8") -> Path:
    """MobileNetV2 as an ONNX QDQ model (int8 weights, uint8 activations), written under `directory`.
    reduce_range (7-bit weights) is onnxruntime's advice for x86 CPUs without VNNI, whose u8·s8 kernels
    otherwise saturate int16 sums."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    suffix = f"{weight_type}{'_pc' if per_channel else ''}{'_rr' if reduce_range else ''}"
    target = directory / f"mobilenet_v2_qdq_{suffix}.onnx"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    float_path, folded = directory / "mobilenet_v2.onnx", directory / "mobilenet_v2_folded.onnx"
    onnx.save(torch_mobilenet.to_onnx(zoo.source("mobilenet_v2")), str(float_path))
    # onnxruntime's pre-processing folds BatchNormalization into the convolutions, as its docs ask
    quant_pre_process(str(float_path), str(folded), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration_batches())

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"input": batch}

    quantize_static(str(folded), str(target), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=getattr(QuantType, weight_type),
                    per_channel=per_channel, reduce_range=reduce_range)
    return target
