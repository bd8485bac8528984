"""`pymace cache prune`: a storage dir that served two real models (built and tuned on PoCL), plus another device's
entries and a stale driver's, pruned to one model — what it needs is kept and served with nothing built, what it
does not is gone, other devices stay, a dry run and a damaged file change nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from pymace.ir import pmace_file
from pymace.ir.graph import Graph, Node, Tensor
from pymace.runtime import tuning_file
from pymace.runtime.identity import DeviceIdentity
from pymace.runtime.program_cache import ProgramCache, make_entry, merge_into_file, parse_cache_file
from pymace.runtime.tuner.proof import proof_key
from pymace.runtime.tuning_records import LocalSizeRecord, MeasuredRecord

from .conftest import SHAPE

OTHER = DeviceIdentity("Other GPU", "Initech", "1.2.3", "Initech CL", "OpenCL 2.0", "OpenCL C 2.0", 40)
CACHE, TUNING = ProgramCache.FILE_NAME, tuning_file.FILE_NAME


def pymace(*args, timeout=600):
    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "250"})
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def other_pmace(tmp_path_factory) -> str:
    """sigmoid → mul(sigmoid, x): programs and a tuning record the small model has none of."""
    t = {"x": Tensor("x", SHAPE), "s": Tensor("s", SHAPE), "y": Tensor("y", SHAPE)}
    nodes = [Node("sig", "Sigmoid", ["x"], ["s"]), Node("mul", "Mul", ["s", "x"], ["y"])]
    path = tmp_path_factory.mktemp("other") / "other.pmace"
    pmace_file.save(Graph("other", nodes, t, ["x"], ["y"]), str(path))
    return str(path)


@pytest.fixture(scope="module")
def served(small_pmace, other_pmace, tmp_path_factory):
    """A storage dir where both models were tuned (their programs built through the cache on the way), then
    another device's entry and section, and this device's binary of an older driver, merged in."""
    storage = tmp_path_factory.mktemp("served")
    for model in (small_pmace, other_pmace):
        code, _, err = pymace("tune", model, "--budget", 5, "--runs", 0, "--storage-dir", storage, "--json")
        assert code == 0, err
    here = parse_cache_file((storage / CACHE).read_bytes()).entries[0].device
    stale = replace(here, driver_version=here.driver_version + "-old")
    assert merge_into_file(storage / CACHE, [make_entry(OTHER, "conv", "a" * 64, "-DKERNEL_conv", b"other" * 50),
                                             make_entry(stale, "conv", "b" * 64, "-DKERNEL_conv", b"stale" * 50)])
    tuned = tuning_file.TuningFile.open(storage, here)
    for model in (small_pmace, other_pmace):  # what tune's proof records for a model whose tuning changed its plan
        tuned.put(proof_key(pmace_file.load(model), "fp32"), MeasuredRecord(model, 1500.0, 1000.0, 7, 1, 0))
    assert tuned.save()
    other = tuning_file.TuningFile.open(storage, OTHER)
    other.put("elementwise/unary gws=64", LocalSizeRecord((16,), (64,), 1.0, 2.0, True))
    assert other.save()
    return storage


@pytest.fixture
def storage(served, tmp_path):
    copy = tmp_path / "storage"
    shutil.copytree(served, copy, ignore=shutil.ignore_patterns("*.lock"))
    return copy


def _programs(storage) -> set:
    return {(e.device.name, e.device.driver_version, e.program, e.options)
            for e in parse_cache_file((storage / CACHE).read_bytes()).entries}


def _records(storage) -> dict:
    sections, problems = tuning_file.parse((storage / TUNING).read_bytes())
    assert not problems
    return {cls["name"]: set(entries) for cls, entries in sections}


def _init(model, storage) -> dict:
    code, out, err = pymace("run", model, "--storage-dir", storage, "--output-dir", storage / "out", "--json")
    assert code == 0, err
    return json.loads(out)["init"]


def test_keeps_what_the_model_needs_and_it_starts_with_nothing_built(small_pmace, other_pmace, storage):
    before_programs, before_records = _programs(storage), _records(storage)
    code, out, err = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", storage, "--json")
    assert code == 0, err
    result = json.loads(out)
    after = _programs(storage)
    here = next(iter({name for name, *_ in before_programs} - {OTHER.name}))
    ours = {p for p in after if p[0] == here and not p[1].endswith("-old")}
    assert result["programs"]["kept"] == len(after) and result["programs"]["dropped"] == len(before_programs - after)
    assert (OTHER.name, "1.2.3", "conv", "-DKERNEL_conv") in after  # another device's entry stays
    assert not any(p[1].endswith("-old") for p in after)  # a binary of this device's older driver never serves again
    assert result["programs"]["devices_not_planned"] == [f"{OTHER.name} ({OTHER.platform_name})"]
    records = _records(storage)
    assert records[OTHER.name] == before_records[OTHER.name]  # another device's section stays
    assert records[here] < before_records[here] and records[here]  # the other model's records went
    assert result["tuning"]["dropped"] == len(before_records[here] - records[here])
    assert proof_key(pmace_file.load(small_pmace), "fp32") in records[here]  # its measured gain stays
    assert proof_key(pmace_file.load(other_pmace), "fp32") not in records[here]

    init = _init(small_pmace, storage)  # the next start: every program from the cache, the tuned plan as before
    assert init["programs_from_source"] == 0 and init["programs_from_cache"] == len(ours)
    assert init["tuning_warning"] is None
    dropped = _init(other_pmace, storage)
    assert dropped["programs_from_source"] > 0  # what only the other model needed is gone


def test_text_says_what_was_kept_and_dropped_and_a_dry_run_changes_nothing(small_pmace, storage):
    files = {name: (storage / name).read_bytes() for name in (CACHE, TUNING)}
    code, out, err = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", storage, "--dry-run")
    assert code == 0, err
    assert "would keep" in out and "would drop" in out and "KiB" in out and "dry run: nothing written" in out
    assert {name: (storage / name).read_bytes() for name in files} == files
    code, out, err = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", storage, "--all-devices")
    assert code == 0, err
    assert "program cache" in out and " kept " in out and " dropped " in out and "not planned here: Other GPU" in out
    again = (storage / CACHE).read_bytes()
    code, out, _ = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", storage)
    assert code == 0 and "dropped 0 " in out and (storage / CACHE).read_bytes() == again  # nothing left to drop


def test_both_models_named_keep_both(small_pmace, other_pmace, storage):
    code, out, err = pymace("cache", "prune", "--model", small_pmace, "--model", other_pmace,
                            "--storage-dir", storage, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["programs"]["dropped"] == 1 and result["tuning"]["dropped"] == 0  # only the stale driver's binary
    for model in (small_pmace, other_pmace):
        assert _init(model, storage)["programs_from_source"] == 0


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_damaged_or_foreign_file_is_left_as_it_is(small_pmace, storage, damage):
    path = storage / CACHE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"MACE-like binary cache\x00" * 40)
    bad, records = path.read_bytes(), _records(storage)
    code, out, err = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", storage)
    assert code == 1 and "left alone" in out and "Traceback" not in err
    assert ("damaged" if damage == "truncated" else "not a pymace cache") in out
    assert path.read_bytes() == bad and not (storage / (CACHE + ".bak")).exists()
    count = sum(map(len, _records(storage).values()))
    assert count < sum(map(len, records.values()))  # the intact tuning file was still pruned


def test_a_damaged_tuning_file_is_left_as_it_is(small_pmace, storage):
    path = storage / TUNING
    doc = json.loads(path.read_text())
    other = next(d for d in doc["devices"] if d["device"]["name"] == OTHER.name)
    other["entries"]["elementwise/unary gws=64"]["lws"] = [0]  # one bad record: a rewrite would lose it
    text = json.dumps(doc)
    path.write_text(text)
    code, out, _ = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", storage)
    assert code == 1 and "tuning file" in out and "left alone" in out and path.read_text() == text


def test_bad_requests_are_one_line(small_pmace, storage, tmp_path):
    for args, says in [((), "cache prune needs --model M"),
                       (("--model", tmp_path / "missing.pmace"), "missing.pmace"),
                       (("--model", small_pmace, "--device", "reference"), "needs an OpenCL device")]:
        code, _, err = pymace("cache", "prune", *args, "--storage-dir", storage)
        assert code == 1 and says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    code, _, err = pymace("cache", "prune", "--model", small_pmace, "--storage-dir", tmp_path / "nowhere")
    assert code == 1 and "does not exist" in err
    code, _, err = pymace("cache", "prune", "extra.pmace", "--model", small_pmace)
    assert code == 2 and "unrecognized arguments: extra.pmace" in err  # models are named with --model
