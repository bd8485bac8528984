"""torchvision's MobileNetV2 from its state dict — no torch needed, and no onnx to convert it.

The state dict holds weights only; the topology is torchvision's `mobilenet_v2` (features.0–18,
classifier.1): ConvBNReLU6 stem, 17 inverted residuals (expand 1x1 → depthwise 3x3 → project 1x1, a residual
add where stride is 1 and channels are kept), a 1x1 ConvBNReLU6 head, global average pooling, Dropout
(identity at inference) and a Linear layer. BatchNormalization stays a node (eps 1e-5) so the model is what
torch runs; folding it into the convolutions is the passes' job. Channel counts are read from the weights;
strides come from torchvision's table because a state dict does not record them.

The builder writes a list of nodes with ONNX op types and attributes spelled out as pymace's ONNX importer
spells them. `to_graph` turns it into the IR directly (what `pymace convert` uses, so a core install converts
it); `to_onnx` into an ONNX model (onnx needed) that onnxruntime runs as the reference."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from .torch_reader import read_state_dict

OPSET = 13
BN_EPS = 1e-5
INPUT_SHAPE = (1, 3, 224, 224)
# torchvision's inverted residual settings (expand ratio t, channels c, repeats n, first stride s).
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]
STRIDES = [2] + [s if i == 0 else 1 for _, _, n, s in SETTINGS for i in range(n)] + [1]  # features.0–18

# ImageNet preprocessing as data, so tools can record it and apply it.
PREPROCESS = {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NCHW",
              "color": "RGB", "scale": 1 / 255, "resize": "bilinear"}


@dataclass
class Spec:
    """The model as data: (op_type, inputs, outputs, attrs, name) nodes and the weights they read."""
    nodes: list[tuple[str, list[str], list[str], dict, str]] = field(default_factory=list)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    classes: int = 0


class _Builder:
    """Accumulates nodes and weights; each method returns the name of the tensor it produced."""

    def __init__(self, sd: dict[str, np.ndarray]):
        self.sd, self.spec = sd, Spec()

    def add(self, op_type: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.spec.nodes.append((op_type, inputs, [output], attrs, name))
        return output

    def weight(self, key: str, ndim: int) -> str:
        w = self.sd.get(key)
        if w is None or w.ndim != ndim or w.dtype != np.float32:
            raise ModelError(f"state dict lacks a float32 {ndim}-d {key!r}: not torchvision's MobileNetV2")
        self.spec.weights[key] = w
        return key

    def conv(self, x: str, prefix: str, stride: int, groups: int = 1) -> str:
        w = self.weight(f"{prefix}.weight", 4)
        k = self.sd[w].shape[2]
        return self.add("Conv", [x, w], prefix, prefix, kernel_shape=[k, k], strides=[stride, stride],
                        pads=[k // 2] * 4, dilations=[1, 1], group=groups)

    def bn(self, x: str, prefix: str) -> str:
        params = ("weight", "bias", "running_mean", "running_var")
        ins = [x] + [self.weight(f"{prefix}.{p}", 1) for p in params]
        # float32, as an ONNX attribute stores it: the IR is the same as the ONNX model's, bit for bit
        return self.add("BatchNormalization", ins, prefix, prefix, epsilon=float(np.float32(BN_EPS)))

    def conv_bn_relu6(self, x: str, prefix: str, stride: int, depthwise: bool = False) -> str:
        w = self.sd.get(f"{prefix}.0.weight")
        groups = w.shape[0] if depthwise and w is not None else 1  # depthwise: one group per channel
        y = self.bn(self.conv(x, f"{prefix}.0", stride, groups), f"{prefix}.1")
        return self.add("Clip", [y], f"{prefix}.2", f"{prefix}.2", min=0.0, max=6.0)

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
            return self.add("Add", [x, y], f"features.{i}", f"features.{i}.add")
        return y


def build(sd: dict[str, np.ndarray]) -> Spec:
    b = _Builder(sd)
    try:
        x = b.conv_bn_relu6("input", "features.0", STRIDES[0])
        for i in range(1, 18):
            x = b.inverted_residual(x, i, STRIDES[i])
        x = b.conv_bn_relu6(x, "features.18", STRIDES[18])
    except KeyError as e:
        raise ModelError(f"state dict lacks {e}: not torchvision's MobileNetV2") from None
    w, bias = b.weight("classifier.1.weight", 2), b.weight("classifier.1.bias", 1)
    b.spec.classes = sd[w].shape[0]
    b.add("GlobalAveragePool", [x], "pooled", "avgpool")
    b.add("Flatten", ["pooled"], "flat", "flatten", axis=1)
    b.add("Gemm", ["flat", w, bias], "logits", "classifier.1", alpha=1.0, beta=1.0, transA=0, transB=1)
    return b.spec


def to_graph(path: str | os.PathLike):
    """The IR graph (input "input" [1,3,224,224], output "logits" [1,classes]) with every shape inferred."""
    from ..ir.graph import Graph, Node, Tensor
    from ..ir.shapes import infer_shapes
    from ..tools.zoo import sha256_file

    spec = build(read_state_dict(path))  # first: it refuses a FIFO or /dev/zero, which the digest would block on
    digest = sha256_file(path)
    tensors = {"input": Tensor("input", INPUT_SHAPE)}
    tensors |= {n: Tensor(n, tuple(w.shape), str(w.dtype), w) for n, w in spec.weights.items()}
    nodes = []
    for op_type, inputs, outputs, attrs, name in spec.nodes:
        nodes.append(Node(name, op_type, list(inputs), list(outputs), dict(attrs)))
        tensors |= {o: Tensor(o) for o in outputs}
    graph = Graph("mobilenet_v2", nodes, tensors, ["input"], ["logits"], {
        "framework": "torch-mobilenet_v2", "source_file": str(path), "source_sha256": digest, "opset": OPSET,
        "producer": "pymace", "input_shapes": {"input": list(INPUT_SHAPE)}})
    infer_shapes(graph)
    graph.verify()
    return graph


def to_onnx(path: str | os.PathLike):
    """The same model as an onnx.ModelProto, for onnxruntime (needs the onnx package)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = build(read_state_dict(path))
    nodes = []
    for op_type, inputs, outputs, attrs, name in spec.nodes:
        if op_type == "Clip":  # opset 11+: the bounds are inputs
            inputs, attrs = [*inputs, "relu6_min", "relu6_max"], {}
        nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))
    inits = [numpy_helper.from_array(w, n) for n, w in spec.weights.items()]
    inits += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("relu6_min", 0.0), ("relu6_max", 6.0))]
    graph = helper.make_graph(
        nodes, "mobilenet_v2", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(INPUT_SHAPE))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, spec.classes])], inits)
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
