"""The tuned-parameter file: round trip, merging, and every refusal named — with the engine still running."""
import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymace.engine import Engine
from pymace.reference import executor as reference
from pymace.runtime.plan import tuning_key
from pymace.runtime.tuning_file import FILE_NAME, VERSION, TuningFile, device_class, parse
from pymace.runtime.tuning_records import LocalSizeRecord, VariantRecord
from pymace.tools.tune_report import explain, explain_bytes
from tests.helpers import rel_err
from tests.tuner.common import needs_device, pool_graph

pytestmark = needs_device

RECORD = {"default_lws": [64, 1, 1], "time_us": 10.0, "default_time_us": 12.5, "complete": True,
          "candidates": [{"lws": [64, 1, 1], "time_us": 12.5}, {"lws": [16, 2, 1], "time_us": 10.0},
                         {"lws": [8192, 1, 1], "failed": "CL_INVALID_WORK_GROUP_SIZE"},
                         {"lws": [1, 1, 1], "dropped_us": 90.0}]}


def lws_record(lws, record=None) -> LocalSizeRecord:
    return LocalSizeRecord.from_json({**(record or {}), "lws": list(lws)})


def file_bytes(device, entries: dict) -> bytes:
    """A tuning file holding `entries` (JSON objects, as they are, good or bad) for the device's class."""
    doc = {"format": "pymace tuned parameters", "version": VERSION,
           "devices": [{"device": device_class(device.identity), "entries": entries}]}
    return json.dumps(doc).encode()


def other(device, **changes):
    return dataclasses.replace(device, **({"name": "Other GPU 9000", "vendor": "Initech"} | changes))


def the_key(device, graph):
    """The tuning key of the graph's only launch, as the planner computes it."""
    return Engine(graph, device=device.selector, use_cache=False, use_tuning=False).plan.steps[0].tuning_key


def engine_runs_with_defaults(device, storage, graph, feeds):
    engine = Engine(graph, device=device.selector, storage_dir=str(storage))
    assert not any(step.tuned for step in engine.plan.steps)
    want = reference.run(graph, feeds)
    got = engine.run(feeds)
    assert all(rel_err(got[name], want[name]) < 1e-4 for name in want)
    return engine


def test_round_trip(device, tmp_path):
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.load_warning is None and tuning.get("k gws=49x10x1") is None
    tuning.put("k gws=49x10x1", lws_record((16, 2, 1), RECORD))
    assert tuning.save()
    again = TuningFile.open(tmp_path, device.identity)
    assert again.load_warning is None
    assert again.get("k gws=49x10x1") == (16, 2, 1)
    assert again.record("k gws=49x10x1").to_json() == {"lws": [16, 2, 1]} | RECORD
    assert json.loads((tmp_path / FILE_NAME).read_text())["devices"][0]["entries"]["k gws=49x10x1"] == \
        {"lws": [16, 2, 1]} | RECORD  # the file's object, field for field
    assert not list(tmp_path.glob("*.tmp"))


def test_engine_uses_a_stored_local_size(device, tmp_path):
    graph, feeds = pool_graph()
    key = the_key(device, graph)
    tuning = TuningFile.open(tmp_path, device.identity)
    tuning.put(key, lws_record((2, 2, 1), {"complete": True}))
    assert tuning.save()
    engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
    step = engine.plan.steps[0]
    assert step.tuned and step.lws == (2, 2, 1)
    want = reference.run(graph, feeds)
    assert rel_err(engine.run(feeds)["y0"], want["y0"]) < 1e-4


@pytest.mark.parametrize("too_big", ["work-group", "dimension 2"])
def test_a_stored_local_size_that_cannot_launch_is_not_used(device, tmp_path, monkeypatch, too_big):
    """A tuned local size over the kernel's CL_KERNEL_WORK_GROUP_SIZE, or over the device's
    CL_DEVICE_MAX_WORK_ITEM_SIZES in one dimension (NVIDIA's dimension 2 takes 64; here the device is described
    so), falls back to the default local size, and the step does not count as tuned."""
    from pymace.runtime import device as devices

    graph, feeds = pool_graph()
    if too_big == "dimension 2":
        device = dataclasses.replace(device, max_work_item_sizes=(device.max_work_group_size,) * 2 + (64,))
        monkeypatch.setattr(devices, "select", lambda spec, storage_dir=None: device)
    default = Engine(graph, device=device.selector, use_cache=False, use_tuning=False).plan.steps[0].lws
    lws = (device.max_work_group_size * 2, 1, 1) if too_big == "work-group" else (1, 1, 128)
    tuning = TuningFile.open(tmp_path, device.identity)
    tuning.put(the_key(device, graph), lws_record(lws, {"complete": True}))
    assert tuning.save()
    engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
    step = engine.plan.steps[0]
    assert step.lws == default and not step.tuned and engine.init_stats["tuned_steps"] == 0
    assert rel_err(engine.run(feeds)["y0"], reference.run(graph, feeds)["y0"]) < 1e-4


def test_devices_and_processes_merge(device, tmp_path):
    first, second = TuningFile.open(tmp_path, device.identity), TuningFile.open(tmp_path, device.identity)
    elsewhere = TuningFile.open(tmp_path, other(device).identity)
    first.put("a gws=8", lws_record((8,)))
    second.put("b gws=8", lws_record((4,)))
    elsewhere.put("a gws=8", lws_record((2,)))
    assert first.save() and elsewhere.save() and second.save()
    mine, theirs = TuningFile.open(tmp_path, device.identity), TuningFile.open(tmp_path, other(device).identity)
    assert (mine.get("a gws=8"), mine.get("b gws=8")) == ((8,), (4,))
    assert (theirs.get("a gws=8"), theirs.get("b gws=8")) == ((2,), None)


def test_driver_update_keeps_tuning(device, tmp_path):
    tuning = TuningFile.open(tmp_path, device.identity)
    tuning.put("a gws=8", lws_record((8,)))
    assert tuning.save()
    updated = dataclasses.replace(device, driver_version="99.0-new", platform_version="OpenCL 9.9 new")
    assert TuningFile.open(tmp_path, updated.identity).get("a gws=8") == (8,)


def test_another_devices_file_is_refused(device, tmp_path, warnings_logged):
    graph, feeds = pool_graph()
    foreign = TuningFile.open(tmp_path, other(device).identity)
    foreign.put(the_key(device, graph), lws_record((1, 1, 1)))
    assert foreign.save()
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.load_warning.startswith("tuned for another device: Other GPU 9000 (Initech")
    assert tuning.get(the_key(device, graph)) is None
    assert any("tuned for another device" in w for w in warnings_logged())
    engine_runs_with_defaults(device, tmp_path, graph, feeds)


def test_more_compute_units_is_another_device(device, tmp_path):
    TuningFile.open(tmp_path, device.identity).put("a gws=8", lws_record((8,)))
    bigger = other(device, name=device.name, vendor=device.vendor, compute_units=device.compute_units + 1)
    tuning = TuningFile.open(tmp_path, bigger.identity)
    tuning.put("a gws=8", lws_record((8,)))
    assert tuning.save()
    assert TuningFile.open(tmp_path, device.identity).load_warning.startswith("tuned for another device")


@pytest.mark.parametrize("content, reason", [
    (b"{\"format\": \"pymace tuned parameters\", \"version\": 1, \"devi", "corrupt: not JSON"),
    (b"\x00\xff garbage", "corrupt: not JSON"),
    (b"[1, 2, 3]", "corrupt: not a pymace tuned parameters file"),
    (b"{\"format\": \"pymace tuned parameters\", \"version\": \"one\", \"devices\": []}", "corrupt: version"),
    (b"{\"format\": \"pymace tuned parameters\", \"version\": 1, \"devices\": 7}", "corrupt: no list of devices"),
    (b"[" * 100000, "corrupt: not JSON"),
])
def test_corrupt_file_is_refused(device, tmp_path, warnings_logged, content, reason):
    (tmp_path / FILE_NAME).write_bytes(content)
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.load_warning.startswith(reason)
    assert any(reason in w for w in warnings_logged())
    engine_runs_with_defaults(device, tmp_path, *pool_graph())
    tuning.put("a gws=8", lws_record((8,)))  # a corrupt file is replaced by the next save
    assert tuning.save()
    assert TuningFile.open(tmp_path, device.identity).load_warning is None


def test_future_version_is_refused_and_left_alone(device, tmp_path, warnings_logged):
    graph, feeds = pool_graph()
    doc = json.loads(file_bytes(device, {the_key(device, graph): {"lws": [1, 1, 1]}}))
    path = tmp_path / FILE_NAME
    path.write_text(json.dumps(doc | {"version": VERSION + 1}))
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.load_warning.startswith(f"future version {VERSION + 1}")
    engine_runs_with_defaults(device, tmp_path, graph, feeds)
    before = path.read_bytes()
    tuning.put("a gws=8", lws_record((8,)))
    assert not tuning.save()  # a newer pymace wrote it: do not destroy its data
    assert path.read_bytes() == before
    assert any(f"future version {VERSION + 1}" in w for w in warnings_logged())


def test_bad_entries_are_skipped_and_named(device, tmp_path):
    good = {"lws": [8, 2]}
    bad = {"k1 gws=8x8": {"lws": [0, 2]}, "k2 gws=8x8": {"lws": [8]}, "k3 gws=8x8": {"lws": "8x2"},
           "k4 gws=8x8": {"lws": [8, 2], "time_us": -1}, "k5 gws=8x8": {"lws": [8, 2], "candidates": [{}]},
           "k6 gws=8x8": {"lws": [8, 2], "time_us": float("nan")}}
    (tmp_path / FILE_NAME).write_bytes(file_bytes(device, {"ok gws=8x8": good, **bad}))
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.get("ok gws=8x8") == (8, 2)
    assert all(tuning.get(key) is None for key in bad)
    assert tuning.load_warning.startswith("corrupt: ") and "k1" in tuning.load_warning
    assert "(and 1 more)" in tuning.load_warning


def test_unwritable_dir_is_a_warning(device, tmp_path, warnings_logged):
    (tmp_path / "file").write_text("a file where the storage dir's parent should be")  # fails even for root
    tuning = TuningFile.open(tmp_path / "file" / "storage", device.identity)
    assert tuning.load_warning and "cannot read" in tuning.load_warning
    tuning.put("a gws=8", lws_record((8,)))
    assert not tuning.save()
    assert any("could not save" in w for w in warnings_logged())


def test_explain(device, tmp_path):
    tuning = TuningFile.open(tmp_path, device.identity)
    tuning.put("k gws=49x10x1", lws_record((16, 2, 1), RECORD))
    tuning.save()
    report = explain(tuning.path, device.identity)
    assert report["format"] == "pymace tuned parameters" and report["version"] == VERSION
    assert report["integrity"] == "ok" and report["for_this_device"] == "tuned for this device"
    row = report["devices"][0]["entries"][0]
    assert row["lws"] == [16, 2, 1] and row["speedup"] == 1.25 and row["failed"] == 1 and row["candidates"] == 4
    assert explain(tuning.path, other(device).identity)["for_this_device"].startswith("tuned for another device")
    assert explain(tmp_path / "missing.json")["format"] == "unreadable"


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_parse_never_raises_on_bytes(data):
    sections, problems = parse(data)
    assert sections or problems


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4), max_leaves=20)


@given(entries=st.dictionaries(st.text(max_size=20), JSON, max_size=4), units=JSON)
@settings(max_examples=300, deadline=None)
def test_parse_never_raises_on_json(entries, units):
    device = {"name": "d", "vendor": "v", "platform": "p", "compute_units": units}
    doc = {"format": "pymace tuned parameters", "version": VERSION, "devices": [{"device": device, "entries": entries}]}
    data = json.dumps(doc).encode()
    sections, problems = parse(data)
    for _, good in sections:
        for record in good.values():
            if isinstance(record, LocalSizeRecord):
                assert all(isinstance(v, int) and v >= 1 for v in record.lws)
            else:
                assert isinstance(record.choice["variant"], str)
    explain_bytes(data)


GEMM = {"variant": "conv_gemm", "tm": 64, "tn": 64, "tk": 32, "split": 2}
CHOICE = {"choice": GEMM | {"tn": 32, "split": 4}, "default_choice": GEMM,
          "time_us": 8.0, "default_time_us": 11.0, "complete": True,
          "candidates": [{"choice": GEMM, "time_us": 11.0},
                         {"choice": {"variant": "conv_direct", "px": 1}, "failed": "output differs"}]}


def test_variant_choices_round_trip_and_explain(device, tmp_path):
    tuning = TuningFile.open(tmp_path, device.identity)
    tuning.put("Conv x=1x8x7x7 fp32", VariantRecord.from_json(CHOICE))
    tuning.put("k gws=49x10x1", lws_record((16, 2, 1), RECORD))
    assert tuning.save()
    again = TuningFile.open(tmp_path, device.identity)
    assert again.load_warning is None and again.get_choice("Conv x=1x8x7x7 fp32") == CHOICE["choice"]
    assert again.get("Conv x=1x8x7x7 fp32") is None and again.get_choice("k gws=49x10x1") is None
    rows = {r["key"]: r for r in explain(tuning.path, device.identity)["devices"][0]["entries"]}
    assert rows["Conv x=1x8x7x7 fp32"]["choice"] == CHOICE["choice"] and rows["k gws=49x10x1"]["lws"] == [16, 2, 1]


def test_a_version_3_file_reads_whole(device, tmp_path):
    entries = {"k args=1280 gws=49x10x1": RECORD | {"lws": [16, 2, 1]}, "Conv x=1x8x7x7 fp32": CHOICE}
    doc = {"format": "pymace tuned parameters", "version": 3,
           "devices": [{"device": device_class(device.identity), "entries": entries}]}
    (tmp_path / FILE_NAME).write_text(json.dumps(doc))
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.load_warning is None and tuning.get("k args=1280 gws=49x10x1") == (16, 2, 1)
    assert tuning.get_choice("Conv x=1x8x7x7 fp32") == CHOICE["choice"]


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_file_keeps_its_variants_not_its_local_sizes(device, tmp_path, version):
    """Before version 3 a local-size key lacked the kernel's integer arguments (a gemm's K), so one record could
    stand for launches of different work: those records are named and not used; variant records still are."""
    entries = {"k gws=49x10x1": RECORD | {"lws": [16, 2, 1]}, "j gws=8": {"lws": [8]}}
    if version == 2:
        entries["Conv x=1x8x7x7 fp32"] = CHOICE
    doc = {"format": "pymace tuned parameters", "version": version,
           "devices": [{"device": device_class(device.identity), "entries": entries}]}
    (tmp_path / FILE_NAME).write_text(json.dumps(doc))
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.get("k gws=49x10x1") is None and tuning.get("j gws=8") is None
    assert tuning.load_warning == (f"version {version}: its 2 local sizes are keyed without the kernels' integer "
                                   f"arguments and are not used (pymace tune measures them again)")
    if version == 2:
        assert tuning.get_choice("Conv x=1x8x7x7 fp32") == CHOICE["choice"]
    tuning.put("k args=7 gws=49x10x1", lws_record((7, 1, 1)))
    assert tuning.save()  # rewritten as the current version, without the stale records
    again = TuningFile.open(tmp_path, device.identity)
    assert again.load_warning is None and again.get("k args=7 gws=49x10x1") == (7, 1, 1)
    assert json.loads((tmp_path / FILE_NAME).read_text())["version"] == VERSION


@pytest.mark.parametrize("bad, reason", [
    ({"variant": "conv gemm; rm -rf"}, "variant is not a kernel name"),
    ({"variant": "conv_gemm", "tm": -1}, "tm is not an integer"),
    ({"variant": "conv_gemm", "tm": 2.5}, "tm is not an integer"),
    ({"variant": "conv_gemm", "Bad Name": 1}, "bad parameter name"),
    ({"tm": 64}, "variant is not a kernel name"),
    ([], "is not an object"),
])
def test_bad_choices_are_skipped_and_named(device, tmp_path, bad, reason):
    entries = {"good": CHOICE, "bad": CHOICE | {"choice": bad}}
    doc = {"format": "pymace tuned parameters", "version": VERSION,
           "devices": [{"device": device_class(device.identity), "entries": entries}]}
    (tmp_path / FILE_NAME).write_text(json.dumps(doc))
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.get_choice("good") == CHOICE["choice"] and tuning.get_choice("bad") is None
    assert "'bad'" in tuning.load_warning and reason in tuning.load_warning


def test_a_record_with_both_kinds_is_refused(device, tmp_path):
    doc = {"format": "pymace tuned parameters", "version": VERSION,
           "devices": [{"device": device_class(device.identity), "entries": {"k": CHOICE | {"lws": [1]}}}]}
    (tmp_path / FILE_NAME).write_text(json.dumps(doc))
    tuning = TuningFile.open(tmp_path, device.identity)
    assert tuning.get_choice("k") is None and "both lws and choice" in tuning.load_warning


def test_a_tuning_key_holds_the_launch_integer_arguments():
    """Two classifier gemms (K 1280 and 2048) share kernel, options and global size; their keys must differ."""
    from pymace.runtime.plan import LaunchSpec

    def key(k):
        args = [np.int32(1000), np.int32(k), np.float32(1.0)]
        return tuning_key(LaunchSpec("gemm", "gemm_tiled", (1000, 1), args, ("-DACT=0",), None), ("-DACT=0",))

    assert key(1280) == "gemm/gemm_tiled -DACT=0 args=1000,1280 gws=1000x1"
    assert key(1280) != key(2048)
