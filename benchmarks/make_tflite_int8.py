"""Writes torchvision's MobileNetV2 (the zoo's weights) as a full-integer TFLite model made by TensorFlow's own
converter: int8 per-channel weights, int8 activations, float input and output (QUANTIZE / DEQUANTIZE at the ends),
calibrated on the same scikit-image crops as the ONNX QDQ models. TensorFlow is no pymace dependency, so this runs
in two steps:

    python benchmarks/make_tflite_int8.py prepare /tmp/mnv2.npz           # pymace's environment
    /path/to/tf-venv/bin/python benchmarks/make_tflite_int8.py convert /tmp/mnv2.npz /tmp/mobilenet_v2_int8.tflite

The Keras model mirrors torchvision's layer for layer (explicit zero padding of 1 where torch pads, so the
geometry is torch's, not Keras' SAME), input NHWC [1, 224, 224, 3] normalised as torchvision's."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]  # torchvision's (expand ratio, channels, repeats, first stride)


def prepare(out: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pymace.frontends.torch_reader import read_state_dict
    from pymace.tools import zoo
    from tests.models import quantized

    sd = read_state_dict(zoo.source("mobilenet_v2"))
    calibration = np.concatenate([b.transpose(0, 2, 3, 1) for b in quantized.calibration_batches()])
    np.savez(out, calibration=calibration, **{f"w:{k}": v for k, v in sd.items() if v.dtype == np.float32})


def _build(tf, sd):
    layers = tf.keras.layers

    def conv_bn(x, prefix, stride=1, depthwise=False, relu6=True, bn=None):
        w = sd[f"{prefix}.weight"]
        k = w.shape[2]
        if k > 1:
            x = layers.ZeroPadding2D(k // 2)(x)
        if depthwise:
            conv = layers.DepthwiseConv2D(k, stride, use_bias=False)
            x = conv(x)
            conv.set_weights([w.transpose(2, 3, 0, 1)])  # [C, 1, kH, kW] → [kH, kW, C, 1]
        else:
            conv = layers.Conv2D(w.shape[0], k, stride, use_bias=False)
            x = conv(x)
            conv.set_weights([w.transpose(2, 3, 1, 0)])  # [O, I, kH, kW] → [kH, kW, I, O]
        norm = layers.BatchNormalization(epsilon=1e-5)
        x = norm(x)
        bn = bn or prefix.rsplit(".", 1)[0] + f".{int(prefix.rsplit('.', 1)[1]) + 1}"
        norm.set_weights([sd[f"{bn}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")])
        return layers.ReLU(6.0)(x) if relu6 else x

    inp = tf.keras.Input((224, 224, 3), batch_size=1)
    x = conv_bn(inp, "features.0.0", 2)
    i = 1
    for t, c, n, s in SETTINGS:
        for r in range(n):
            p, stride, y = f"features.{i}.conv", s if r == 0 else 1, x
            if t != 1:
                y = conv_bn(y, f"{p}.0.0", 1)
            y = conv_bn(y, f"{p}.{int(t != 1)}.0", stride, depthwise=True)
            j = 1 + int(t != 1)
            y = conv_bn(y, f"{p}.{j}", relu6=False, bn=f"{p}.{j + 1}")
            x = layers.Add()([x, y]) if stride == 1 and x.shape[-1] == c else y
            i += 1
    x = conv_bn(x, "features.18.0", 1)
    x = layers.GlobalAveragePooling2D()(x)
    fc = layers.Dense(sd["classifier.1.weight"].shape[0])
    out = fc(x)
    fc.set_weights([sd["classifier.1.weight"].T, sd["classifier.1.bias"]])
    return tf.keras.Model(inp, out)


def convert(npz: str, out: str) -> None:
    import tensorflow as tf

    data = np.load(npz, allow_pickle=False)
    sd = {k[2:]: data[k] for k in data.files if k.startswith("w:")}
    model = _build(tf, sd)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([b[None]] for b in data["calibration"])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    Path(out).write_bytes(conv.convert())
    float_out = Path(out).with_name(Path(out).stem + "_float.tflite")
    float_out.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    print(f"wrote {out} and {float_out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"]:
        prepare(sys.argv[2])
    else:
        convert(sys.argv[2], sys.argv[3])
