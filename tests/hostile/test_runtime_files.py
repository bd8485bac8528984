"""The tuning file and the device-probe memo against hostile files (findings/reliability.md §6, §7, §11): special
files refused without a hang, huge integers and long keys as one short warning, the memo kept in --storage-dir
and no temp file left behind."""
import json
import os

import pytest

from pymace.runtime import device, driver_caches
from pymace.runtime.identity import DeviceIdentity
from pymace.runtime.tuning_file import FILE_NAME, FORMAT, VERSION, TuningFile
from pymace.runtime.tuning_records import LocalSizeRecord
from tests.hostile.conftest import run_cli
from tests.hostile.test_safe_io import _within

DEV = DeviceIdentity("Test GPU 9000", "ACME", "580.159.04", "ACME OpenCL", "OpenCL 3.0 ACME 12.8", "OpenCL C 1.2", 8)


def _file(entries) -> bytes:
    cls = {"name": DEV.name, "vendor": DEV.vendor, "platform": DEV.platform_name, "compute_units": 8}
    return json.dumps({"format": FORMAT, "version": VERSION, "devices": [{"device": cls, "entries": entries}]})


@pytest.mark.parametrize("special", ["fifo", "dev_zero", "directory"])
def test_special_files_at_the_tuning_path(tmp_path, special):
    path = tmp_path / FILE_NAME
    if special == "fifo":
        os.mkfifo(path)
    elif special == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    opened = _within(10, TuningFile.open, tmp_path, DEV)["value"]
    assert opened.load_warning and ("regular" in opened.load_warning or "directory" in opened.load_warning)
    assert opened.entries == {}


def test_a_fifo_is_replaced_at_save(tmp_path):
    os.mkfifo(tmp_path / FILE_NAME)
    opened = _within(10, TuningFile.open, tmp_path, DEV)["value"]
    opened.put("k 4", LocalSizeRecord(lws=(4,), default_lws=(8,)))
    assert _within(10, opened.save)["value"]
    assert TuningFile.open(tmp_path, DEV).get("k 4") == (4,)


@pytest.mark.parametrize("value, reason", [(10 ** 400, "lws"), ("9" * 5000, "not JSON")])
def test_huge_integers_are_one_short_warning(tmp_path, value, reason):
    """A 400-digit local size was a traceback on every run until the file was deleted."""
    text = _file({"k 4": {"lws": [value], "default_lws": [8]}})
    if isinstance(value, str):
        text = text.replace(f'"{value}"', value)  # a bare 5000-digit number: past Python's int parsing limit
    (tmp_path / FILE_NAME).write_text(text)
    opened = TuningFile.open(tmp_path, DEV)
    assert reason in opened.load_warning and len(opened.load_warning) < 600 and opened.get("k 4") is None


def test_many_bad_entries_make_a_short_warning(tmp_path, caplog):
    entries = {f"{'k' * 4000}{i} 4": {"lws": [-1]} for i in range(500)}
    (tmp_path / FILE_NAME).write_text(_file(entries))
    opened = TuningFile.open(tmp_path, DEV)
    assert "more" in opened.load_warning and len(opened.load_warning) < 1300
    assert all(len(r.getMessage()) < 1500 for r in caplog.records)


def test_bad_tuning_file_run_exits_zero_with_one_warning(small_model, tmp_path):
    storage = tmp_path / "st"
    storage.mkdir()
    (storage / FILE_NAME).write_text(_file({"k 4": {"lws": [10 ** 400]}}))
    rc, out, err = run_cli("run", small_model[0], "--device", "cpu", "--storage-dir", storage,
                           "--input", f"x={small_model[0].parent / 'x.npy'}", "--output-dir", tmp_path / "o")
    assert rc == 0 and "Traceback" not in err, err[-2000:]


def _rediscover(monkeypatch, default_dir):
    monkeypatch.setattr(device, "_DEVICES", None)
    monkeypatch.setenv("PYMACE_STORAGE_DIR", str(default_dir))


def test_probe_memo_lives_in_the_storage_dir(tmp_path, monkeypatch):
    default, chosen = tmp_path / "default", tmp_path / "chosen"
    _rediscover(monkeypatch, default)
    if not [d for d in device.list_devices(storage_dir=str(chosen)) if d.usable]:
        pytest.skip("needs an OpenCL device")
    # the memo and, since the drivers' caches moved into the storage dir, their folder; no temp file beside them
    assert set(os.listdir(chosen)) - {driver_caches.FOLDER} == {"probed-devices.json"}
    assert not default.exists()


@pytest.mark.parametrize("memo", ["fifo", "garbage", "deep"])
def test_a_hostile_probe_memo_costs_only_the_probe(tmp_path, monkeypatch, memo):
    path = tmp_path / "probed-devices.json"
    if memo == "fifo":
        os.mkfifo(path)
    else:
        path.write_text("[" * 100_000 if memo == "deep" else "\0\xff not json")
    _rediscover(monkeypatch, tmp_path)
    found = _within(30, device.list_devices)["value"]
    if not [d for d in found if d.usable]:
        pytest.skip("needs an OpenCL device")
    assert json.loads(path.read_text())  # replaced by a good memo
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("feeds", ["list", "tuple", "array", "int_keys", "none"])
def test_engine_run_with_other_than_a_dict_is_one_input_error(small_model, feeds):
    """Engine.run([x]) was a traceback from deep inside the executor."""
    from pymace import Engine
    from pymace.errors import InputError

    path, x = small_model
    given = {"list": [x], "tuple": (x,), "array": x, "int_keys": {0: x}, "none": None}[feeds]
    engine = Engine(str(path), device="reference")
    with pytest.raises(InputError, match="dict") as caught:  # run(None) was a bare TypeError
        engine.run(given)
    assert "\n" not in str(caught.value)
