"""`pymace tune` proves itself: the tuned plan against the default one, alternating, and the tuning file kept to the
choices that make their layers faster. The measurement is faked where a test needs one plan to win (behaviour,
not timings); one test runs the real measurement and checks only what it decided."""
import pytest

from pymace.runtime import tuner
from pymace.runtime.tuner import proof
from pymace.runtime.tuner.local_size import candidates
from pymace.runtime.tuner.measure import open_bench
from pymace.runtime.tuner.variants import choices_of
from pymace.runtime.tuning_file import TuningFile
from pymace.runtime.tuning_records import LocalSizeRecord, VariantRecord
from pymace.tools import tune_report
from tests.tuner.common import chain_graph, needs_device


def other_choices(bench) -> dict:
    """Stored as if tuning had chosen them: another variant for every node that offers one, then another local
    size for every launch of that plan whose op leaves it open. {key: the variant or local size}"""
    chosen = {}
    for choice in choices_of(bench)[0].values():
        chosen[choice.key] = next(c for c in choice.candidates if c != choice.default)
        bench.tuning.put(choice.key, VariantRecord(chosen[choice.key], choice.default, 1.0, 2.0, 0.0, True, []))
    for step in proof._bind_both(bench)[1].steps:
        if step.launch.spec.lws is not None or step.tuning_key in chosen:
            continue
        limit = step.kernel.work_group_size(bench.device.cl_device)
        others = [c for c in candidates(step.launch.spec.gws, limit, bench.device.max_work_item_sizes, step.lws)
                  if c != step.lws]
        if others:
            chosen[step.tuning_key] = others[0]
            bench.tuning.put(step.tuning_key, LocalSizeRecord(others[0], step.lws, 1.0, 2.0, True, []))
    bench.tuning.save()
    return chosen


def value(tuning: TuningFile, key: str):
    return tuning.get(key) or tuning.get_choice(key)


class FakeClock:
    """time_run's stand-in: the tuned plan's steps of `fast` nodes take 10 µs, every other step 100 µs; end to
    end, `wall` µs per side. Records which side ran, in order."""

    def __init__(self, fast: set[str], wall: dict[str, float]):
        self.fast, self.wall, self.order = fast, wall, []

    def __call__(self, side, bound, feeds):
        self.order.append(side)
        return self.wall[side], [10.0 if side == "tuned" and s.node.name in self.fast else 100.0
                                 for s in bound.steps]


@pytest.fixture
def tuned_chain(tmp_path):
    """A bench of the chain graph whose tuning file holds a non-default variant or local size wherever it can."""
    from tests.tuner.common import DEVICES

    if not DEVICES:
        pytest.skip("no usable OpenCL device")
    graph, _ = chain_graph()
    bench = open_bench(graph, DEVICES[0].selector, "fp32", str(tmp_path))
    chosen = other_choices(bench)
    groups = proof.changed_groups(bench, proof._bind_both(bench)[1])
    if len(groups) < 2:
        pytest.skip(f"the device offers another local size for {len(groups)} layer(s) only")
    return bench, chosen, groups, tmp_path


def is_default(record) -> bool:
    if isinstance(record, LocalSizeRecord):
        return record.lws == record.default_lws
    return record.choice == record.default_choice


def stored(bench, path) -> TuningFile:
    return TuningFile.open(str(path), bench.device.identity)


@needs_device
def test_choices_that_are_not_faster_go_back_and_faster_ones_stay(tuned_chain):
    bench, chosen, groups, path = tuned_chain
    clock = FakeClock(set(groups[0]["nodes"]), {"default": 1000.0, "tuned": 1000.0})
    result = proof.prove(bench, runs=3, timer=clock)
    assert clock.order[:6] == ["default", "tuned", "tuned", "default", "default", "tuned"]  # alternating
    assert len(clock.order) == 12  # then what was kept, measured again against the default
    assert result["kept"] == sorted(groups[0]["keys"])
    assert result["refused"] == sorted(set().union(*(g["keys"] for g in groups[1:])))
    assert {r["node"] for r in result["layers"] if r["kept"]} == set(groups[0]["nodes"])
    assert all(r["tuned_us"] < r["default_us"] for r in result["layers"] if r["kept"])
    on_disk = stored(bench, path)
    for key in result["kept"]:
        assert value(on_disk, key) == chosen[key]
    for key in result["refused"]:
        assert is_default(on_disk.record(key)) and on_disk.record(key).complete and value(on_disk, key) != chosen[key]
    assert "went back to the default" in result["verdict"] and result["final"]["gain"] == 1.0


@needs_device
def test_a_model_slower_end_to_end_keeps_nothing(tuned_chain):
    bench, chosen, groups, path = tuned_chain
    every = {n for g in groups for n in g["nodes"]}
    result = proof.prove(bench, runs=2, timer=FakeClock(every, {"default": 1000.0, "tuned": 2000.0}))
    assert result["kept"] == [] and set(result["refused"]) == set(chosen)
    assert "ran slower tuned" in result["verdict"] and not any(r["kept"] for r in result["layers"])
    assert all(value(stored(bench, path), k) != v for k, v in chosen.items())


@needs_device
def test_outputs_that_disagree_keep_nothing(tuned_chain, monkeypatch):
    bench, chosen, groups, path = tuned_chain
    monkeypatch.setattr(proof, "_warm_up", lambda default, tuned, feeds: 0.5)
    every = {n for g in groups for n in g["nodes"]}
    result = proof.prove(bench, runs=2, timer=FakeClock(every, {"default": 1000.0, "tuned": 500.0}))
    assert result["kept"] == [] and "outputs differ" in result["verdict"]
    assert all(value(stored(bench, path), k) != v for k, v in chosen.items())


@needs_device
def test_nothing_tuned_measures_nothing(tmp_path):
    from tests.tuner.common import DEVICES

    graph, _ = chain_graph()
    bench = open_bench(graph, DEVICES[0].selector, "fp32", str(tmp_path))
    clock = FakeClock(set(), {"default": 1.0, "tuned": 1.0})
    result = proof.prove(bench, runs=3, timer=clock)
    assert clock.order == [] and result["layers"] == [] and result["verdict"].startswith("nothing tuned")


@needs_device
def test_tune_keeps_only_what_its_measurement_found_faster(tmp_path):
    """The real measurement: whatever it finds, the file holds a tuned value exactly where the proof kept one."""
    from tests.tuner.common import DEVICES

    graph, _ = chain_graph()
    result = tuner.tune(graph, device=DEVICES[0].selector, budget=60, storage_dir=str(tmp_path), runs=3)
    p = result["proof"]
    assert result["saved"] and p["verdict"]
    on_disk = TuningFile.open(str(tmp_path), DEVICES[0].identity)
    assert all(is_default(on_disk.record(key)) and on_disk.record(key).complete for key in p["refused"])
    assert not any(is_default(on_disk.record(key)) for key in p["kept"])
    assert {k for r in p["layers"] for k in r["keys"]} == set(p["kept"]) | set(p["refused"])
    if p["layers"]:
        assert p["end_to_end"]["default_us"] > 0 and p["end_to_end"]["tuned_us"] > 0
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(tune_report.render_text(result))
    assert p["verdict"] in console.export_text()


def test_end_to_end_needs_a_clear_loss_or_win():
    """A whole run's host time is noisy: the median alone does not decide, most turns must agree."""
    def e(default, tuned):
        return {"default_us": sorted(default)[len(default) // 2], "tuned_us": sorted(tuned)[len(tuned) // 2],
                "default_runs_us": default, "tuned_runs_us": tuned}

    mixed = e([10, 10, 10, 10, 30, 30, 30], [12, 12, 12, 12, 25, 25, 25])  # median 20% slower, 4 of 7 turns
    assert not proof.clearly(mixed, slower=True) and not proof.clearly(mixed, slower=False)
    steady = e([10, 11, 10, 12, 10, 11, 30], [13, 14, 13, 15, 13, 14, 20])  # slower in 6 of 7 turns
    assert proof.clearly(steady, slower=True) and not proof.clearly(steady, slower=False)
    assert proof.clearly(e([13, 14, 13, 15, 13, 14, 20], [10, 11, 10, 12, 10, 11, 30]), slower=False)
    assert not proof.clearly(e([10] * 7, [10.2] * 7), slower=True)  # within MIN_GAIN


@needs_device
def test_the_command_runs_the_check_unless_told_not_to(tmp_path, capsys):
    import json

    from pymace.cli import main
    from pymace.ir import pmace_file
    from tests.tuner.common import DEVICES

    graph, _ = chain_graph()
    model = tmp_path / "chain.pmace"
    pmace_file.save(graph, str(model))
    storage = tmp_path / "storage"
    argv = ["tune", str(model), "--budget", "30", "--storage-dir", str(storage), "--device", DEVICES[0].selector]
    assert main([*argv, "--runs", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["proof"]["end_to_end"] is None  # measured nothing
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "tuned against default" in text or "nothing tuned differs from the default" in text


@needs_device
def test_the_measured_gain_is_kept_in_the_tuning_file_and_the_report_shows_it(tuned_chain):
    from pymace.runtime.tuning_records import MeasuredRecord
    from pymace.tools import report_sections

    bench, _, groups, path = tuned_chain
    clock = FakeClock({n for g in groups for n in g["nodes"]}, {"default": 1500.0, "tuned": 1000.0})
    result = proof.prove(bench, runs=3, timer=clock)
    assert not result["refused"] and result["final"]["gain"] == 1.5
    key = proof.proof_key(bench.graph, "fp32")
    record = stored(bench, path).record(key)
    assert isinstance(record, MeasuredRecord) and (record.default_us, record.tuned_us) == (1500.0, 1000.0)
    assert record.runs == 3 and record.kept == len(result["kept"]) and record.refused == 0
    identity = bench.device.identity
    explained = tune_report.explain(path / "pymace_tuned_params.json", identity)
    device = {"name": identity.name, "compute_units": identity.compute_units}
    f = {"bench": {"device": device, "tuning": {"tuned_nodes": 1, "kernel_nodes": 1, "tuned_steps": 1, "steps": 1}},
         "model_path": "chain.pmace", "proof_key": key, "tuning_file": explained}
    facts = dict(report_sections.tuning(f)[2][0][2])
    assert facts["measured whole-model gain"].startswith("1.500 ms untuned → 1.000 ms tuned (1.50×), median of 3")
    assert facts["entries for this device"] == len(result["kept"])  # the measurement is not a tuning entry


@needs_device
def test_a_measurement_where_everything_went_back_says_so(tuned_chain):
    bench, _, groups, path = tuned_chain
    clock = FakeClock(set(), {"default": 1000.0, "tuned": 2000.0})
    result = proof.prove(bench, runs=4, timer=clock)
    assert not result["kept"]
    record = stored(bench, path).record(proof.proof_key(bench.graph, "fp32"))
    assert record.kept == 0 and record.tuned_us == record.default_us == 1000.0  # the file holds the default now
