"""BatchNormalization's NumPy reference against onnxruntime on single-node models, fresh random inputs."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from pymace.ops import batch_norm
from pymace.ops.base import TensorInfo


def run_onnx(arrays, attrs):
    names = [f"in{i}" for i in range(len(arrays))]
    node = helper.make_node("BatchNormalization", names, ["y"], **attrs)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in zip(names, arrays,
                                                                                          strict=True)]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", 15)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(names, arrays, strict=True)))[0]


@pytest.mark.parametrize("shape, epsilon", [((2, 6, 9, 11), 1e-5), ((3, 10), 1e-3), ((1, 4, 13), 1e-5),
                                            ((1, 3, 2, 4, 5), 0.01)])
def test_matches_onnxruntime(shape, epsilon):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    arrays = [rng.standard_normal(shape).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32),
              rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
              rng.uniform(0.1, 3, c).astype(np.float32)]
    got = batch_norm.reference(*arrays, _op_type="BatchNormalization", epsilon=epsilon)[0]
    want = run_onnx(arrays, dict(epsilon=epsilon))
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    infos = [TensorInfo(a.shape) for a in arrays]
    assert batch_norm.infer(*infos, _op_type="BatchNormalization", epsilon=epsilon)[0][0] == shape


def test_default_epsilon_and_fused_relu():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((1, 5, 4, 4)).astype(np.float32)] + [
        rng.uniform(0.2, 2, 5).astype(np.float32) for _ in range(4)]
    got = batch_norm.reference(*arrays, _op_type="BatchNormalization", activation="Relu")[0]
    np.testing.assert_allclose(got, np.maximum(run_onnx(arrays, {}), 0), atol=1e-5)
