"""BatchNormalization's NumPy reference against onnxruntime on single-node models, fresh random inputs."""
import numpy as np
import pytest

from pymace.ops import batch_norm
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


@pytest.mark.parametrize("shape, epsilon", [((2, 6, 9, 11), 1e-5), ((3, 10), 1e-3), ((1, 4, 13), 1e-5),
                                            ((1, 3, 2, 4, 5), 0.01)])
def test_matches_onnxruntime(shape, epsilon):
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    arrays = [rng.standard_normal(shape).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32),
              rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
              rng.uniform(0.1, 3, c).astype(np.float32)]
    got = batch_norm.reference(*arrays, _op_type="BatchNormalization", epsilon=epsilon)[0]
    want = ort_run("BatchNormalization", arrays, dict(epsilon=epsilon), opset=15)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    infos = [TensorInfo(a.shape) for a in arrays]
    assert batch_norm.infer(*infos, _op_type="BatchNormalization", epsilon=epsilon)[0][0] == shape


def test_default_epsilon_and_fused_relu():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((1, 5, 4, 4)).astype(np.float32)] + [
        rng.uniform(0.2, 2, 5).astype(np.float32) for _ in range(4)]
    got = batch_norm.reference(*arrays, _op_type="BatchNormalization", activation="Relu")[0]
    np.testing.assert_allclose(got, np.maximum(ort_run("BatchNormalization", arrays, {}, opset=15)[0], 0), atol=1e-5)
