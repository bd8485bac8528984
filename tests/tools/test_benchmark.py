"""benchmark: cold init builds every program in a fresh process, warm init loads them all from the cache; the
latency, profile, cost and memory fields hold together."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pymace.ir import pmace_file
from pymace.tools import benchmark

RUNS = 6


@pytest.fixture(scope="module")
def result(small_pmace, storage) -> dict:
    return json.loads(json.dumps(benchmark.benchmark(small_pmace, runs=RUNS, warmup=1, storage_dir=storage)))


def test_cold_builds_and_warm_loads_every_program(result):
    cold, warm = result["init"]["cold"], result["init"]["warm"]
    assert cold["programs_from_cache"] == 0 and cold["programs_from_source"] == 3  # conv, unary, binary
    assert [m["reason"] for m in cold["cache_misses"]] == ["not in cache"] * 3  # an empty storage dir
    assert warm["programs_from_cache"] == 3 and warm["programs_from_source"] == 0 and warm["cache_misses"] == []
    assert cold["build_seconds"] > 0 and warm["build_seconds"] == 0
    assert result["init"]["speedup"] == pytest.approx(cold["init_seconds"] / warm["init_seconds"], rel=1e-2)
    assert len(cold["samples"]) == result["init"]["processes"] == 1


def test_latency_fields(result):
    lat = result["latency_ms"]
    assert len(lat["samples"]) == RUNS
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]
    assert result["throughput_per_s"] == pytest.approx(1e3 / lat["mean"], rel=1e-2)


def test_profile_covers_every_node_with_its_cost(result):
    prof = result["profile"]
    rows = {r["node"]: r for r in prof["nodes"]}
    assert set(rows) == {"conv", "relu", "add"}
    conv = rows["conv"]
    assert conv["flops"] == 2 * (3 * 8 * 8) * (3 * 3 * 3)  # outputs × (C_in · kh · kw) MACs × 2
    assert conv["bytes"] == 4 * (3 * 64 + 81 + 3 + 3 * 64)  # x, weights, bias, y in fp32
    assert rows["relu"]["flops"] == 3 * 64 and rows["add"]["bytes"] == 4 * 3 * 3 * 64
    assert all(r["time_ms"] > 0 and r["gflops"] > 0 and r["gbps"] > 0 for r in rows.values())
    assert sum(r["percent"] for r in rows.values()) == pytest.approx(100, abs=0.1)
    assert {g["op_type"]: g["nodes"] for g in prof["by_op_type"]} == {"Conv": 1, "Relu": 1, "Add": 1}
    assert prof["top"] == prof["nodes"][:10]


def test_memory_programs_tuning_model(result):
    assert result["memory"]["weights_bytes"] >= 4 * (81 + 3)  # kernels may repack (and pad) weights
    assert result["memory"]["peak_device_bytes"] >= result["memory"]["activation_bytes"] > 0
    assert result["programs"]["programs_from_cache"] + result["programs"]["programs_from_source"] == 3
    assert result["tuning"] == {"tuned_nodes": 0, "kernel_nodes": 3, "tuned_steps": 0, "steps": 3}
    assert result["model"]["params"] == 84 and result["model"]["macs"] == 3 * 64 * 27
    assert result["model"]["nodes"] == 3 and result["device"]["name"]


def test_render_text(result):
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(benchmark.render_text(result))
    text = console.export_text()
    assert "init cold" in text and "p99" in text and "conv" in text


def test_init_only_entry_point_prints_json(small_pmace, tmp_path):
    out = subprocess.run([sys.executable, "-m", "pymace.tools.benchmark", "--init-only", small_pmace,
                          "--storage-dir", str(tmp_path)], capture_output=True, text=True, check=True)
    row = json.loads(out.stdout)
    assert row["programs_from_source"] == 3 and row["init_seconds"] > 0
    assert (tmp_path / "mace_cl_compiled_program.bin").exists()


def test_cost_of_gemm_and_conv_transpose():
    from pymace.ir.graph import Graph, Node, Tensor

    t = {"a": Tensor("a", (2, 5)), "b": Tensor("b", (7, 5)), "y": Tensor("y", (2, 7)),
         "x": Tensor("x", (1, 4, 3, 3)), "w": Tensor("w", (4, 2, 2, 2)), "z": Tensor("z", (1, 2, 6, 6))}
    gemm = Node("g", "Gemm", ["a", "b"], ["y"], {"transB": 1})
    deconv = Node("d", "ConvTranspose", ["x", "w"], ["z"], {"strides": [2, 2]})
    graph = Graph("g", [gemm, deconv], t, ["a", "b", "x", "w"], ["y", "z"])
    assert benchmark.node_macs(graph, gemm) == 2 * 7 * 5
    assert benchmark.node_macs(graph, deconv) == 36 * 8
    assert benchmark.node_cost(graph, gemm, 2) == (2 * 70, 2 * (10 + 35 + 14))


def test_bad_arguments(small_pmace):
    with pytest.raises(Exception, match="runs >= 1"):
        benchmark.benchmark(small_pmace, runs=0)
    assert pmace_file.load(small_pmace).name == "small"
