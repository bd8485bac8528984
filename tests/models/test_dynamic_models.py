"""A real model with dynamic dims on the device: PP-OCR's text detector (input [N, 3, H, W], all three dynamic)
opened straight from its .onnx, without input shapes, and run by one Engine at three page sizes (one of them a
batch of two), each matching onnxruntime at that shape."""
from __future__ import annotations

import numpy as np
import pytest

from pymace import Engine
from pymace.metrics import rel_err
from pymace.tools import zoo
from tests.helpers import opencl_devices, ort_session
from tests.models.test_device_models import COSINE, cosine
from tests.models.test_onnx_models import _page_input

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
SHAPES = [(1, 3, 320, 320), (1, 3, 256, 416), (2, 3, 192, 224)]


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_ppocr_det_at_three_shapes_matches_onnxruntime(device, tmp_path_factory):
    source = zoo.source("ppocr_det")
    session = ort_session(source)
    storage = tmp_path_factory.getbasetemp() / "device-models"
    with Engine(source, device=device.selector, storage_dir=str(storage)) as engine:
        assert [d if isinstance(d, int) else "sym" for d in engine.get_inputs()[0].shape] == ["sym", 3, "sym", "sym"]
        rng = np.random.default_rng(17)
        for shape in SHAPES:
            page = _page_input((1, *shape[1:]), rng)
            x = np.concatenate([page + rng.normal(0, 0.05, page.shape).astype(np.float32)
                                for _ in range(shape[0])])
            [want] = session.run(None, {"x": x})
            [got] = engine.run(None, {"x": x})
            assert got.shape == want.shape == (shape[0], 1, *shape[2:])
            c = cosine(got, want)
            print(shape, "cosine", c, "rel_err", rel_err(got, want), engine.plans[-1].stats)
            assert c >= COSINE["fp32"], f"{shape}: cosine {c:.6f}"
        assert {(s,) for s in SHAPES} <= {p.key for p in engine.plans}  # every shape kept (max_plans 8)
