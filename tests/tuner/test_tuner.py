"""The tuner on real launches: candidates within limits, correct output before timing, records the engine uses,
an interrupted or budget-stopped run that the next run continues."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymace.engine import Engine
from pymace.reference import executor as reference
from pymace.runtime import tuner
from pymace.runtime.tuner import local_size, measure
from pymace.runtime.tuning_file import TuningFile
from pymace.runtime.tuning_records import Candidate
from pymace.tools import tune_report
from tests.helpers import rel_err
from tests.tuner.common import chain_graph, needs_device, pool_graph


@settings(deadline=None)  # a pure function: its speed on a shared machine is not what is tested
@given(gws=st.lists(st.integers(1, 5000), min_size=1, max_size=3), limit=st.sampled_from([1, 64, 256, 1024, 4096]))
def test_candidates_respect_the_limits(gws, limit):
    items = (1024, 512, 64)
    default = tuple([1] * len(gws))
    found = local_size.candidates(tuple(gws), limit, items, default)
    assert found[0] == default and len(found) == len(set(found)) <= local_size.MAX_CANDIDATES
    for lws in found:
        assert len(lws) == len(gws) and math.prod(lws) <= limit
        assert all(1 <= size <= items[d] for d, size in enumerate(lws))


def test_candidates_spread_over_sizes():
    found = local_size.candidates((56, 56, 32), 1024, (1024, 1024, 64), (64, 4, 4))
    assert 20 <= len(found) <= local_size.MAX_CANDIDATES
    sizes = {math.prod(c).bit_length() for c in found}
    assert len(sizes) >= 8  # from single work-items to the kernel's limit
    assert all(local_size.padding((56, 56, 32), c) <= local_size.MAX_PADDING for c in found[1:])


def outputs(graph, feeds, device, storage, use_tuning):
    engine = Engine(graph, device=device.selector, storage_dir=str(storage), use_tuning=use_tuning)
    return engine, engine.run(feeds)


@needs_device
@pytest.mark.parametrize("make", [pool_graph, chain_graph], ids=["pool", "chain"])
def test_tuned_engine_matches_untuned(device, tmp_path, make):
    graph, feeds = make()
    ticks = []
    result = tuner.tune(graph, device=device.selector, budget=120, storage_dir=str(tmp_path),
                        progress=lambda done, total, what: ticks.append((done, total, what)))
    assert result["launches"] >= 1 and result["complete"] == result["launches"] and not result["stopped_by_budget"]
    assert ticks[-1][0] == ticks[-1][1] and all(done <= total for done, total, _ in ticks)
    for row in result["rows"]:
        assert row["tried"] >= 10 and row["best_us"] > 0 and row["default_us"] > 0
    tuned, got = outputs(graph, feeds, device, tmp_path, True)
    plain, want = outputs(graph, feeds, device, tmp_path, False)
    assert all(step.tuned for step in tuned.plan.steps if step.tuning_key in {r["key"] for r in result["rows"]})
    assert not any(step.tuned for step in plain.plan.steps)
    for name in want:
        assert rel_err(got[name], want[name]) < 1e-5
        assert rel_err(got[name], reference.run(graph, feeds)[name]) < 1e-4
    again = tuner.tune(graph, device=device.selector, budget=120, storage_dir=str(tmp_path))
    assert again["tuned_now"] == 0 and again["complete"] == result["complete"]  # measured keys are skipped


@needs_device
def test_failing_candidates_are_recorded(device, tmp_path, monkeypatch):
    graph, _ = pool_graph()
    real = local_size.candidates

    def with_impossible(gws, limit, items, default, most=local_size.MAX_CANDIDATES):
        return real(gws, limit, items, default, most=8) + [(limit * 2,) + (1,) * (len(gws) - 1)]

    monkeypatch.setattr(local_size, "candidates", with_impossible)
    result = tuner.tune(graph, device=device.selector, budget=120, storage_dir=str(tmp_path))
    row = result["rows"][0]
    assert row["complete"] and row["failed"] == 1
    assert "INVALID_WORK" in row["failures"][0]["error"]  # _GROUP_SIZE (PoCL) or _ITEM_SIZE (NVIDIA)
    record = TuningFile.open(tmp_path, device.identity).record(row["key"])
    assert any(c.failed for c in record.candidates)
    assert math.prod(record.lws) <= device.max_work_group_size


def test_a_wrong_output_fails_the_candidate():
    import numpy as np

    want = [np.float32([1.0, 2.0, 3.0]).view(np.uint8)]
    assert measure.difference([want[0].copy()], want, np.float32, 1e-5) is None
    close = [np.float32([1.0, 2.0, 3.0 + 1e-6]).view(np.uint8)]
    assert measure.difference(close, want, np.float32, 1e-5) is None
    wrong = [np.float32([1.0, 2.5, 3.0]).view(np.uint8)]
    assert "max error 0.5" in measure.difference(wrong, want, np.float32, 1e-5)
    nan = [np.float32([1.0, np.nan, 3.0]).view(np.uint8)]
    assert "NaN" in measure.difference(nan, want, np.float32, 1e-5)


@needs_device
def test_interrupted_run_resumes(device, tmp_path):
    graph, feeds = chain_graph()
    seen = []

    def stop_after_five(done, total, what):  # in the local-size phase (the variants' is tested in test_variants)
        if what.startswith("variants"):
            return
        seen.append((done, total))
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tuner.tune(graph, device=device.selector, budget=120, storage_dir=str(tmp_path), progress=stop_after_five)
    first_total = seen[0][1]
    tuning = TuningFile.open(tmp_path, device.identity)
    partial = [r for r in tuning.entries.values() if not r.complete]
    assert len(partial) == 1 and len(partial[0].candidates) == 6  # the default and the five measured
    engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
    assert any(step.tuned for step in engine.plan.steps)  # a partial record's best is already used
    assert rel_err(engine.run(feeds)["y"], reference.run(graph, feeds)["y"]) < 1e-4

    totals = []
    result = tuner.tune(graph, device=device.selector, budget=120, storage_dir=str(tmp_path),
                        progress=lambda done, total, what: what.startswith("variants") or totals.append(total))
    assert totals[0] == first_total - 5  # the candidates measured before the interruption are not measured again
    assert result["complete"] == result["launches"]


@needs_device
def test_budget_stops_and_the_next_run_continues(device, tmp_path):
    graph, _ = chain_graph()
    stopped = tuner.tune(graph, device=device.selector, budget=0, storage_dir=str(tmp_path))
    assert stopped["stopped_by_budget"] and stopped["complete"] == 0
    finished = tuner.tune(graph, device=device.selector, budget=120, storage_dir=str(tmp_path))
    assert not finished["stopped_by_budget"] and finished["complete"] == finished["launches"]
    text = tune_report.render_text(finished)
    assert text is not None


@needs_device
def test_fp16_launches_are_tuned_with_their_own_sizes(device, tmp_path):
    """fp16 storage adds cast launches before and after the graph's: each launch is tuned with its own global
    size and buffers (a mix-up once ran kernels with their neighbours' sizes, out of bounds on NVIDIA)."""
    graph, feeds = chain_graph()
    result = tuner.tune(graph, device=device.selector, data_type="fp16", budget=120, storage_dir=str(tmp_path))
    kernels = {row["kernel"] for row in result["rows"]}
    assert {"storage/to_storage", "storage/to_float"} <= kernels
    for row in result["rows"]:
        gws = "x".join(map(str, row["gws"]))
        assert row["key"].startswith(row["kernel"] + " ") and row["key"].endswith(f"gws={gws}")
    engine = Engine(graph, device=device.selector, data_type="fp16", storage_dir=str(tmp_path))
    assert rel_err(engine.run(feeds)["y"], reference.run(graph, feeds)["y"]) < 1e-2


def test_a_candidate_must_beat_the_default_again_side_by_side():
    """A candidate timed while the device ran faster (drift) does not replace the default: both are timed again,
    alternately, and only those runs decide — a third candidate timed once does not slip in either; a real gain
    survives the second look."""
    from pymace.runtime.tuner.measure import CONFIRM_ROUNDS, confirm

    def results(default_us, *candidates_us):
        return [Candidate(lws=(64,), time_us=default_us), *(Candidate(lws=(128 * (i + 1),), time_us=t)
                                                             for i, t in enumerate(candidates_us))]

    drift = results(149.0, 74.0, 80.0)  # the default timed in a slow moment, the candidates in a fast one
    calls = []
    chosen = confirm(drift, lambda r: calls.append(r.lws) or {64: 82.0, 128: 80.0}[r.lws[0]])
    assert calls == [(64,), (128,)] * CONFIRM_ROUNDS  # alternately, the default and the best only
    assert chosen is drift[0] and drift[0].time_us == 82.0  # within 3 %: the default stays, not the 80.0 one

    real = results(149.0, 74.0)
    assert confirm(real, lambda r: {64: 150.0, 128: 75.0}[r.lws[0]]) is real[1] and real[1].time_us == 75.0

    untimed = results(149.0, 74.0)
    assert confirm(untimed, lambda r: None) is untimed[1]  # cannot be timed again: the first times decide
    assert confirm(results(100.0, 99.0), lambda r: 1 / 0) is not None  # nothing to confirm: no retiming


@needs_device
def test_tune_fails_when_nothing_could_be_saved(device, tmp_path):
    """`pymace tune` exits non-zero, naming the file and the reason, when what it measured could not be written
    (here a tuning file of a newer pymace, which is never overwritten); the library says so in `saved`."""
    import json
    import subprocess
    import sys

    from pymace.ir import pmace_file
    from pymace.runtime.tuning_file import FILE_NAME, FORMAT, VERSION

    graph, _ = pool_graph()
    model = tmp_path / "pool.pmace"
    pmace_file.save(graph, str(model))
    storage = tmp_path / "storage"
    storage.mkdir()
    future = json.dumps({"format": FORMAT, "version": VERSION + 1, "devices": []})
    (storage / FILE_NAME).write_text(future)
    result = tuner.tune(str(model), device=device.selector, budget=30, storage_dir=str(storage))
    assert result["tuned_now"] >= 1 and not result["saved"] and "future version" in result["save_warning"]
    run = subprocess.run([sys.executable, "-m", "pymace.cli", "tune", str(model), "--device", device.selector,
                          "--budget", "30", "--storage-dir", str(storage), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["saved"] is False
    assert "was not saved" in run.stderr and FILE_NAME in run.stderr and "future version" in run.stderr
    assert (storage / FILE_NAME).read_text() == future


def test_summary_tables_fold_long_names_at_80_columns():
    """A terminal of 80 columns shows every node, variant and kernel name whole (folded onto more lines), never cut
    off with an ellipsis."""
    import io

    from rich.console import Console

    names = ["features.denseblock4.denselayer16.conv2_with_a_long_export_suffix", "conv_cvec_tile_4x8_split_k_2"]
    variant = {"node": names[0], "nodes": 3, "default": names[1], "default_us": 812.5, "best": names[1] + "_dup",
               "best_us": 640.25, "speedup": 1.27, "tried": 12, "failed": 1, "complete": False}
    row = {"kernel": "conv_gemm/conv2d_gemm_tiled_fp16_storage", "gws": [1024, 196, 1], "launches": 58,
           "default_lws": [64, 4, 1], "default_us": 91.0, "best_lws": [128, 2, 1], "best_us": 80.5, "speedup": 1.13,
           "tried": 9, "failed": 0, "complete": True}
    result = {"device": "pthread-haswell-AMD EPYC 7B13 64-Core Processor", "data_type": "fp16",
              "variants": [variant], "rows": [row], "complete": 1, "launches": 1, "tuned_now": 1, "elapsed_s": 3.0,
              "budget_s": 60, "fixed_local_size": 0, "estimated_speedup": 1.1, "tuning_file": "/tmp/t.json",
              "stopped_by_budget": False}
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(tune_report.render_text(result))
    text = out.getvalue()
    assert "…" not in text
    cells = [line.split("│")[1:-1] for line in text.splitlines() if line.startswith("│")]
    column = ["".join(c[k].strip() for c in cells if len(c) > k) for k in range(3)]  # a folded cell, whole again
    assert names[0] in column[0] and row["kernel"] in column[0] and names[1] in column[2]
