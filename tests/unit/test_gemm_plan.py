"""A GPU plan's Gemm/MatMul kernels: transformer-shaped products (many rows) take the tiled kernel with a tile
that fills the device, classifiers the split-K kernel, the rest the plain one; the plan's kernels run right on the
OpenCL device here described as a GPU."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from pymace.ops import gemm
from pymace.ops.base import DeviceTraits
from pymace.runtime.plan import make_plan
from tests.unit.test_device_fusions import model, runs_as_gpu_plan

GPU = DeviceTraits(True, 132, 1024, (1024, 1024, 64), 49152, False, "gpu", "NVIDIA Corporation")


def _attention(rng, tokens=50, dim=32):
    """x @ Wq, x @ Wk: scores = q @ kᵀ, then scores @ v — the products of one attention head."""
    inits = {k: (rng.standard_normal((dim, dim)) * 0.2).astype(np.float32) for k in ("wq", "wk", "wv")}
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("MatMul", ["x", "wv"], ["v"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("MatMul", ["s", "v"], ["y"])]
    return model(nodes, [1, tokens, dim], ["y"], inits)


def test_transformer_products_take_the_tiled_kernel():
    launches = make_plan(_attention(np.random.default_rng(0), tokens=197, dim=768), GPU, "fp32").launches
    products = [launch for launch in launches if launch.spec.name == "gemm_tiled"]
    # 197 x 768 in 64 x 64 tiles is 48 work-groups for 132 units: the 32 x 32 tile (168) fills the device; its
    # 10752 work-items are too few to hide latency, so K = 768 is split in 4, each split summed by one more launch
    assert len(products) == 5
    assert all("-DTM=32" in launch.options and "-DTN=32" in launch.options for launch in products)
    splits = [next(o for o in launch.options if o.startswith("-DSPLIT=")) for launch in products]
    assert splits == ["-DSPLIT=4"] * 4 + ["-DSPLIT=1"]  # scores @ v has K = 197: no split
    assert sum(launch.spec.name == "gemm_sum_splits" for launch in launches) == 4


@pytest.mark.parametrize("m, n, k, batch, tiling", [
    (197, 2304, 768, 1, (32, 32, 2, 4)), (197, 768, 3072, 1, (32, 32, 4, 4)), (49, 32, 32, 192, (32, 32, 1, 4)),
    (100, 200, 200, 1, (32, 32, 1, 4)), (3136, 384, 96, 1, (32, 32, 1, 4))])
def test_the_default_tile_then_a_split_while_the_device_is_short_of_work_items(m, n, k, batch, tiling):
    assert gemm.default_tiling(m, n, k, batch, GPU) == tiling


@pytest.mark.parametrize("m, n, k, batch, tiling", [
    (197, 2304, 768, 1, (64, 64, 2, 8)), (197, 768, 3072, 1, (32, 32, 4, 4)), (49, 32, 32, 192, (128, 64, 1, 8)),
    (100, 200, 200, 1, (32, 32, 1, 4)), (3136, 384, 96, 1, (128, 64, 1, 8))])
def test_of_several_tiles_the_largest_that_fills_the_device(m, n, k, batch, tiling, monkeypatch):
    monkeypatch.setattr(gemm, "TILINGS", ((128, 64, 8), (64, 64, 8), (32, 32, 4)))
    assert gemm.default_tiling(m, n, k, batch, GPU) == tiling


def test_classifier_and_small_products_keep_their_kernels():
    assert gemm.choose_variant(1, 1000, 1280, 1, True, GPU) == "gemm_splitk"
    assert gemm.choose_variant(8, 8, 8, 4, True, GPU) == "gemm"
    cpu = DeviceTraits(False, 2, 4096, (4096, 4096, 4096), 1 << 20, False, "cpu", "The pocl project")
    assert gemm.choose_variant(197, 768, 768, 1, True, cpu) == "gemm_tiled"  # a CPU: large N and K only
    assert gemm.choose_variant(197, 197, 64, 12, True, cpu) == "gemm_rows_cpu"  # B's rows contiguous, N >= 16
    assert gemm.choose_variant(197, 64, 197, 12, True, cpu) == "gemm_rows_cpu"
    assert gemm.choose_variant(197, 64, 197, 12, False, cpu) == "gemm"  # B read down its columns
    assert gemm.choose_variant(197, 8, 197, 12, True, cpu) == "gemm"  # too few columns for a 16-wide block


def test_attention_runs_as_a_gpu_plan(monkeypatch, tmp_path):
    steps = runs_as_gpu_plan(_attention(np.random.default_rng(1)), monkeypatch, tmp_path)
    assert sum(s.kernel_name == "gemm_tiled" for s in steps) == 5


def test_token_dims_fold_into_rows():
    """[1, 7, 7, C] @ [C, N] (ConvNeXt's pointwise layers) is one 49-row GEMM, not 7 batches of 7 rows."""
    folded = gemm.product((1, 7, 7, 96), (96, 384))
    assert (folded.m, folded.n, folded.k, folded.batch, folded.a_strides) == (49, 384, 96, 1, (96, 1))
    batched = gemm.product((2, 5, 8), (2, 8, 3))  # B batched: no fold
    assert (batched.m, batched.batch, batched.a_offsets.tolist(), batched.b_offsets.tolist()) == (5, 2, [0, 40],
                                                                                                [0, 24])


def _heads(rng, tokens=20, heads=2, dim=8):
    """Attention's heads as torch exports them: q, k, v of [T, H·D] reshaped to [T, H, D] and permuted to
    [H, T, D] (kᵀ to [H, D, T]) right before their products."""
    inits = {"w": (rng.standard_normal((heads * dim, 3 * heads * dim)) * 0.3).astype(np.float32),
             "shape": np.array([tokens, 3, heads, dim], np.int64)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["qkv"]), helper.make_node("Reshape", ["qkv", "shape"], ["r"]),
             helper.make_node("Split", ["r"], ["q", "k", "v"], axis=1, num_outputs=3)]
    for name, perm in (("q", [2, 1, 0, 3]), ("k", [2, 1, 3, 0]), ("v", [2, 1, 0, 3])):
        nodes.append(helper.make_node("Transpose", [name], [f"{name}t"], perm=perm))
    nodes += [helper.make_node("MatMul", ["qt", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "vt"], ["y"])]
    return model(nodes, [tokens, heads * dim], ["y"], inits, opset=18)


def test_transposes_before_products_become_strides(monkeypatch, tmp_path):
    from pymace import passes

    graph = _heads(np.random.default_rng(2))
    fused = passes.for_device(graph, GPU)
    assert "Transpose" in [n.op_type for n in graph.nodes] and "Transpose" not in [n.op_type for n in fused.nodes]
    views = [(n.attrs.get("a_view"), n.attrs.get("b_view")) for n in fused.nodes if n.op_type == "MatMul"][1:]
    assert views == [({"shape": [2, 1, 20, 8], "strides": [8, 16, 16, 1], "offset": 0},
                      {"shape": [2, 1, 8, 20], "strides": [8, 16, 1, 16], "offset": 0}),
                     (None, {"shape": [2, 1, 20, 8], "strides": [8, 16, 16, 1], "offset": 0})]
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert not any(s.kernel_name.startswith("transpose") for s in steps)
    monkeypatch.setenv("PYMACE_NO_TRANSPOSE_FUSION", "1")
    assert "Transpose" in [n.op_type for n in passes.for_device(graph, GPU).nodes]


def _vit_attention(rng, tokens=12, heads=2, dim=4):
    """torchvision ViT's attention as torch exports it: the packed q·k·v product reshaped, unsqueezed, transposed,
    squeezed and split by three scalar Gathers, each head-permuted, kᵀ transposed once more, the context permuted
    back for the output projection (Gemm)."""
    e = heads * dim
    inits = {"w": (rng.standard_normal((e, 3 * e)) * 0.3).astype(np.float32),
             "wo": (rng.standard_normal((e, e)) * 0.3).astype(np.float32),
             "s1": np.array([tokens, 1, 3, e], np.int64), "s2": np.array([tokens, heads, dim], np.int64),
             "s3": np.array([1, heads, tokens, dim], np.int64), "s4": np.array([tokens, e], np.int64),
             "ax0": np.array([0], np.int64), "ax3": np.array([3], np.int64),
             **{f"i{k}": np.array(k, np.int64) for k in range(3)}}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["qkv"]), helper.make_node("Reshape", ["qkv", "s1"], ["r"]),
             helper.make_node("Unsqueeze", ["r", "ax0"], ["u"]),
             helper.make_node("Transpose", ["u"], ["t"], perm=[3, 1, 2, 0, 4]),
             helper.make_node("Squeeze", ["t", "ax3"], ["sq"])]
    for k, name in enumerate("qkv"):
        nodes += [helper.make_node("Gather", ["sq", f"i{k}"], [f"g{name}"], axis=0),
                  helper.make_node("Reshape", [f"g{name}", "s2"], [f"h{name}"]),
                  helper.make_node("Transpose", [f"h{name}"], [f"p{name}"], perm=[1, 0, 2]),
                  helper.make_node("Reshape", [f"p{name}", "s3"], [name])]
    nodes += [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
              helper.make_node("MatMul", ["q", "kt"], ["scores"]),
              helper.make_node("Softmax", ["scores"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["c"]),
              helper.make_node("Transpose", ["c"], ["ct"], perm=[2, 0, 1, 3]),
              helper.make_node("Reshape", ["ct", "s4"], ["c2"]), helper.make_node("MatMul", ["c2", "wo"], ["y"])]
    return model(nodes, [tokens, 1, e], ["y"], inits, opset=17)


def test_the_packed_qkv_split_and_head_transposes_are_read_through_views(monkeypatch, tmp_path):
    """ViT-B/16's seven copies a layer (one Transpose of the packed product, three Gathers, the head Transposes)
    go: the products read the packed q·k·v product through strides and offsets. The context's Transpose stays
    (its Reshape merges dims that are not contiguous: no strides express it)."""
    from pymace import passes

    graph = _vit_attention(np.random.default_rng(4))
    fused = passes.for_device(graph, GPU)
    assert sorted(n.op_type for n in graph.nodes if n.op_type in ("Transpose", "Gather")) == \
        ["Gather"] * 3 + ["Transpose"] * 6
    assert [n.op_type for n in fused.nodes if n.op_type in ("Transpose", "Gather")] == ["Transpose"]
    scores = next(n for n in fused.nodes if n.op_type == "MatMul" and "a_view" in n.attrs)
    assert scores.attrs["a_view"] == {"shape": [1, 2, 12, 4], "strides": [8, 4, 24, 1], "offset": 0}
    assert scores.attrs["b_view"] == {"shape": [1, 2, 4, 12], "strides": [8, 4, 1, 24], "offset": 8}
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert sum(s.kernel_name.startswith(("transpose", "gather")) for s in steps) == 1


def test_views_follow_numpy(tmp_path):
    """A chain's view reads what NumPy's reshapes, transposes and indexing make, and a reshape that no strides
    express is refused."""
    from pymace.ops import strided

    rng = np.random.default_rng(5)
    for _ in range(200):
        shape = tuple(int(d) for d in rng.integers(1, 4, rng.integers(2, 5)))
        x = rng.standard_normal(shape).astype(np.float32)
        perm = [int(p) for p in rng.permutation(len(shape))]
        view = {"shape": [shape[p] for p in perm], "strides": [strided.contiguous_strides(shape)[p] for p in perm],
                "offset": 0}
        want = x.transpose(perm)
        new = tuple(int(d) for d in rng.permutation([*want.shape, 1]))
        merged = strided.reshape_strides(view["shape"], view["strides"], new)
        try:
            reshaped = want.view()
            reshaped.shape = new  # NumPy's own no-copy reshape: AttributeError when it needs a copy
        except AttributeError:
            assert merged is None or np.array_equal(strided.read(x, {**view, "shape": list(new), "strides": merged}),
                                                    want.reshape(new))
            continue
        assert merged is not None
        np.testing.assert_array_equal(strided.read(x, {"shape": list(new), "strides": merged, "offset": 0}),
                                      reshaped)


@pytest.mark.parametrize("view", [
    {"shape": [4, 5], "strides": [5, 1]}, {"shape": [4, 5], "strides": [5, 1], "offset": 1},
    {"shape": [4, 5], "strides": [5], "offset": 0}, {"shape": [4, 0], "strides": [5, 1], "offset": 0},
    {"shape": [4, 5], "strides": [-5, 1], "offset": 0}, {"shape": ["4", 5], "strides": [5, 1], "offset": 0},
    {"shape": [4, 5], "strides": [5, 1], "offset": True}, [4, 5], {"shape": [40, 5], "strides": [1, 1], "offset": 0}])
def test_a_crafted_view_is_refused(view):
    from pymace.errors import ConvertError
    from pymace.ops.base import TensorInfo

    with pytest.raises(ConvertError, match="a_view"):
        gemm.infer(TensorInfo((4, 5)), TensorInfo((5, 3)), _op_type="MatMul", a_view=view)


@pytest.mark.parametrize("tiling", [[32], [32, 32, 1, 4, 9], "32,32", [32, 32.5], [48, 32]])
def test_a_crafted_tiling_is_refused_in_one_line(tiling):
    from pymace.errors import ConvertError

    graph = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [1, 40, 32], ["y"],
                  {"w": np.random.default_rng(3).standard_normal((32, 40)).astype(np.float32)})
    graph.nodes[0].attrs |= {"kernel_variant": "gemm_tiled", "tiling": tiling}
    with pytest.raises(ConvertError, match="gemm tiling"):
        make_plan(graph, GPU, "fp32")
