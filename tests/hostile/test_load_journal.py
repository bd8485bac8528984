"""The load journal (pymace/runtime/load_journal.py): what a process that died while handing binaries to the
driver was loading is found by the next start; a live process's journal and a clean exit leave nothing."""
import subprocess
import sys

from pymace.runtime.load_journal import LoadJournal

CHILD = """
import os, sys, time
from pymace.runtime.load_journal import LoadJournal
j = LoadJournal(sys.argv[1])
j.begin(bytes.fromhex("aa" * 32)); j.begin(bytes.fromhex("bb" * 32))
print("ready", flush=True)
{how}
"""


def _child(tmp_path, how):
    return subprocess.Popen([sys.executable, "-c", CHILD.format(how=how), str(tmp_path / "cache.bin")],
                            stdout=subprocess.PIPE, text=True)


def test_a_process_that_died_loading_is_found(tmp_path):
    p = _child(tmp_path, "os.abort()")
    assert p.stdout.readline().strip() == "ready"
    assert p.wait() < 0
    found, paths = LoadJournal(tmp_path / "cache.bin").stale()
    assert found == {bytes.fromhex("aa" * 32), bytes.fromhex("bb" * 32)} and len(paths) == 1
    LoadJournal.clear(paths)
    assert LoadJournal(tmp_path / "cache.bin").stale() == (set(), [])


def test_a_live_process_is_left_alone(tmp_path):
    p = _child(tmp_path, "time.sleep(30)")
    try:
        assert p.stdout.readline().strip() == "ready"
        assert LoadJournal(tmp_path / "cache.bin").stale() == (set(), [])
        assert len(list(tmp_path.glob("cache.bin.loading.*"))) == 1
    finally:
        p.kill()
        p.wait()
    assert len(LoadJournal(tmp_path / "cache.bin").stale()[0]) == 2  # killed: now it is stale


def test_a_clean_exit_and_end_leave_nothing(tmp_path):
    p = _child(tmp_path, "pass")
    p.stdout.readline()
    assert p.wait() == 0
    assert not list(tmp_path.glob("cache.bin.loading.*"))
    j = LoadJournal(tmp_path / "cache.bin")
    j.begin(b"\x01" * 32)
    assert j.path.exists() and LoadJournal(tmp_path / "cache.bin").stale() == (set(), [])
    j.end()
    j.end()
    assert not list(tmp_path.glob("cache.bin.loading.*"))


def test_an_unwritable_dir_costs_nothing(tmp_path):
    j = LoadJournal(tmp_path / "missing" / "cache.bin")
    j.begin(b"\x01" * 32)
    assert j.path is None
