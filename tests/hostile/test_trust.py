"""The trust boundary (docs/security.md): a model file cannot choose where caches are loaded from unless this
user's own conversion recorded it (findings/reliability.md §11), and storage dirs others can write are named."""
import json
import os

import pytest

from pymace import trust
from pymace.ir import pmace_file
from tests.hostile.conftest import rewrite, run_cli


@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.delenv("PYMACE_STORAGE_DIR", raising=False)
    return tmp_path


def _with_storage(small, dst, storage_dir, tag=None):
    def edit(doc):
        doc["metadata"]["storage_dir"] = str(storage_dir)
        if tag is not None:
            doc["metadata"]["storage_dir_tag"] = tag
    rewrite(small, dst, edit)
    return str(dst)


def test_a_downloaded_models_storage_dir_is_ignored(small_model, private_dirs):
    elsewhere = private_dirs / "any" / "where" / "deep"
    path = _with_storage(small_model[0], private_dirs / "m.pmace", elsewhere)
    assert "storage_dir" not in pmace_file.load(path).metadata
    env = {**os.environ}
    rc, out, err = run_cli("run", path, "--device", "cpu", "--input", f"x={small_model[0].parent / 'x.npy'}",
                           "--output-dir", private_dirs / "o", "--json", env=env)
    assert rc == 0, err
    assert not elsewhere.exists()
    assert json.loads(out)["init"]["cache_file"].startswith(str(private_dirs / "cache-home"))
    assert "storage_dir" in err  # the warning says what was ignored


def test_a_tag_from_another_key_is_ignored(small_model, private_dirs):
    d = str(private_dirs / "deploy" / "caches")
    forged = trust._tag(b"k" * 32, d)
    assert "storage_dir" not in pmace_file.load(_with_storage(small_model[0], private_dirs / "m.pmace", d,
                                                              forged)).metadata


def test_this_users_tag_and_the_cache_dir_are_honoured(small_model, private_dirs):
    d = str(private_dirs / "deploy" / "caches")
    path = _with_storage(small_model[0], private_dirs / "m.pmace", d, trust.storage_dir_tag(d))
    assert pmace_file.load(path).metadata["storage_dir"] == d
    inside = str(private_dirs / "cache-home" / "pymace" / "team")
    assert pmace_file.load(_with_storage(small_model[0], private_dirs / "n.pmace", inside)).metadata[
        "storage_dir"] == inside


def test_a_key_others_can_read_is_no_key(private_dirs):
    assert trust.user_key(create=True) is not None
    os.chmod(trust.key_path(), 0o644)
    assert trust.user_key() is None and trust.storage_dir_tag("x") is None


@pytest.mark.parametrize("mode,owner,problem", [(0o700, None, None), (0o755, None, None), (0o775, None, "group"),
                                                (0o777, None, "group and others"), (0o757, None, "others"),
                                                (0o700, 12345, "owned by uid 12345")])
def test_storage_dir_problems(tmp_path, mode, owner, problem):
    d = tmp_path / "st"
    d.mkdir()
    os.chmod(d, mode)
    if owner is not None:
        if os.getuid() != 0:
            pytest.skip("changing a folder's owner needs root")
        os.chown(d, owner, -1)
    found = trust.storage_dir_problem(d)
    assert (found is None) if problem is None else (problem in found)
    assert trust.storage_dir_problem(tmp_path / "missing") is None
