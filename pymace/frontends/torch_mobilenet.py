"""torchvision's MobileNetV2 from its state dict, as an ONNX model — no torch needed.

The state dict holds weights only; the topology is torchvision's `mobilenet_v2` (features.0–18,
classifier.1): ConvBNReLU6 stem, 17 inverted residuals (expand 1x1 → depthwise 3x3 → project 1x1, a residual
add where stride is 1 and channels are kept), a 1x1 ConvBNReLU6 head, global average pooling, Dropout
(identity at inference) and a Linear layer. BatchNormalization stays a node (eps 1e-5) so the model is what
torch runs; folding it into the convolutions is the passes' job. Channel counts are read from the weights;
strides come from torchvision's table because a state dict does not record them."""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelError
from .torch_reader import read_state_dict

OPSET = 13
BN_EPS = 1e-5
# torchvision's inverted residual settings (expand ratio t, channels c, repeats n, first stride s).
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]
STRIDES = [2] + [s if i == 0 else 1 for _, _, n, s in SETTINGS for i in range(n)] + [1]  # features.0–18

# ImageNet preprocessing as data, so tools can record it and apply it.
PREPROCESS = {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NCHW",
              "color": "RGB", "scale": 1 / 255, "resize": "bilinear"}


class _Builder:
    """Accumulates nodes and initializers; each method returns the name of the tensor it produced."""

    def __init__(self, sd: dict[str, np.ndarray]):
        self.sd, self.nodes, self.inits = sd, [], {}

    def weight(self, key: str, ndim: int) -> str:
        w = self.sd.get(key)
        if w is None or w.ndim != ndim or w.dtype != np.float32:
            raise ModelError(f"state dict lacks a float32 {ndim}-d {key!r}: not torchvision's MobileNetV2")
        self.inits[key] = numpy_helper.from_array(w, key)
        return key

    def conv(self, x: str, prefix: str, stride: int, groups: int = 1) -> str:
        w = self.weight(f"{prefix}.weight", 4)
        k = self.sd[w].shape[2]
        self.nodes.append(helper.make_node("Conv", [x, w], [prefix], name=prefix, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[k // 2] * 4, group=groups))
        return prefix

    def bn(self, x: str, prefix: str) -> str:
        params = ("weight", "bias", "running_mean", "running_var")
        ins = [x] + [self.weight(f"{prefix}.{p}", 1) for p in params]
        self.nodes.append(helper.make_node("BatchNormalization", ins, [prefix], name=prefix, epsilon=BN_EPS))
        return prefix

    def conv_bn_relu6(self, x: str, prefix: str, stride: int, depthwise: bool = False) -> str:
        w = self.sd.get(f"{prefix}.0.weight")
        groups = w.shape[0] if depthwise and w is not None else 1  # depthwise: one group per channel
        y = self.bn(self.conv(x, f"{prefix}.0", stride, groups), f"{prefix}.1")
        self.nodes.append(helper.make_node("Clip", [y, "relu6_min", "relu6_max"], [f"{prefix}.2"],
                                           name=f"{prefix}.2"))
        return f"{prefix}.2"

    def inverted_residual(self, x: str, i: int, stride: int) -> str:
        p = f"features.{i}.conv"
        expand = f"{p}.3.weight" in self.sd  # expand ratio 1 has no 1x1 expansion: conv.{0,1,2} only
        y = self.conv_bn_relu6(x, f"{p}.0", 1) if expand else x
        y = self.conv_bn_relu6(y, f"{p}.{int(expand)}", stride, depthwise=True)
        j = 1 + int(expand)
        y = self.bn(self.conv(y, f"{p}.{j}", 1), f"{p}.{j + 1}")
        w_in, w_out = self.sd[f"{p}.0.0.weight"], self.sd[f"{p}.{j}.weight"]
        c_in = w_in.shape[1] if expand else w_in.shape[0]
        if stride == 1 and c_in == w_out.shape[0]:
            self.nodes.append(helper.make_node("Add", [x, y], [f"features.{i}"], name=f"features.{i}.add"))
            return f"features.{i}"
        return y


def to_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Build torchvision's MobileNetV2 (input "input" [1,3,224,224], output "logits" [1,1000]) from a .pth."""
    return build(read_state_dict(path))


def build(sd: dict[str, np.ndarray]) -> onnx.ModelProto:
    b = _Builder(sd)
    try:
        x = b.conv_bn_relu6("input", "features.0", STRIDES[0])
        for i in range(1, 18):
            x = b.inverted_residual(x, i, STRIDES[i])
        x = b.conv_bn_relu6(x, "features.18", STRIDES[18])
    except KeyError as e:
        raise ModelError(f"state dict lacks {e}: not torchvision's MobileNetV2") from None
    w, bias = b.weight("classifier.1.weight", 2), b.weight("classifier.1.bias", 1)
    n_classes = sd[w].shape[0]
    b.nodes += [helper.make_node("GlobalAveragePool", [x], ["pooled"], name="avgpool"),
                helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1),
                helper.make_node("Gemm", ["flat", w, bias], ["logits"], name="classifier.1", transB=1)]
    inits = list(b.inits.values()) + [numpy_helper.from_array(np.array(v, np.float32), n)
                                      for n, v in (("relu6_min", 0.0), ("relu6_max", 6.0))]
    graph = helper.make_graph(
        b.nodes, "mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, n_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pymace")
    model.ir_version = 8  # readable by every onnxruntime the project supports
    for k, v in {"source": "torchvision mobilenet_v2 state dict",
                 "preprocess": repr(PREPROCESS), "labels": "imagenet_labels.txt"}.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    return model


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of antialiased bilinear resampling (a triangle filter widened by the downscale
    factor, half-pixel centres): what PIL's BILINEAR resize, and so torchvision's Resize on images, does."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    x = np.arange(n_in) + 0.5
    w = np.clip(1 - np.abs(x[None, :] - centres[:, None]) / support, 0, None)
    return w / w.sum(axis=1, keepdims=True)


def preprocess(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB → [1, 3, 224, 224] float32, normalised as torchvision's ImageNet models expect."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {img.dtype} {list(img.shape)}")
    size = PREPROCESS["size"]
    rh, rw = _resize_matrix(img.shape[0], size), _resize_matrix(img.shape[1], size)
    x = np.tensordot(rh, img.astype(np.float32) * PREPROCESS["scale"], axes=(1, 0))  # [224, W, 3]
    x = np.tensordot(x, rw, axes=(1, 1)).transpose(1, 0, 2)  # [3, 224, 224]
    mean, std = (np.array(PREPROCESS[k], np.float32)[:, None, None] for k in ("mean", "std"))
    return ((x - mean) / std)[None].astype(np.float32)
