"""Processes that share a storage dir merge their entries; a killed writer, a read-only dir or a full disk
costs at most a warning."""
import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import filelock
import pytest

from pymace.runtime import program_cache
from pymace.runtime.program_cache import ProgramCache, parse_cache_file
from tests.cache.cache_workers import SHARED, own_entries, store_and_save
from tests.cache.common import DEVICE, ENTRIES, fill


def test_eight_processes_merge_into_one_valid_file(tmp_path):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(8)  # all eight begin saving together
    workers = [context.Process(target=store_and_save, args=(str(tmp_path), worker, start)) for worker in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * 8
    parsed = parse_cache_file((tmp_path / ProgramCache.FILE_NAME).read_bytes())
    assert parsed.problems == []
    expected = {(DEVICE, *fields[:3]): fields[3] for w in range(8) for fields in own_entries(w) + SHARED}
    assert {e.key: e.binary for e in parsed.entries} == expected
    assert not list(tmp_path.glob("*.tmp"))


STALLED_WRITER = """
import os, sys, time
from pymace.runtime import program_cache
storage = sys.argv[1]
cache = program_cache.ProgramCache(storage, program_cache.DeviceRecord(*sys.argv[2:8]))
cache.store("victim", "v" * 64, "", b"never saved" * 1000)
def stall(fd):  # the temp file is written and the lock held: signal the test, then wait to be killed
    open(os.path.join(storage, "stalled"), "w").close()
    time.sleep(120)
program_cache.os.fsync = stall
cache.save()
"""


def test_writer_killed_mid_save_loses_nothing_and_blocks_nobody(tmp_path, warnings_logged):
    fill(tmp_path)
    before = (tmp_path / ProgramCache.FILE_NAME).read_bytes()
    child = subprocess.Popen([sys.executable, "-c", STALLED_WRITER, str(tmp_path), *DEVICE.cache_fields()])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "stalled").exists():
            assert child.poll() is None and time.monotonic() < deadline, "the writer did not reach its write"
            time.sleep(0.05)
        assert list(tmp_path.glob(ProgramCache.FILE_NAME + ".*.tmp"))  # a half-done save is on disk
        with pytest.raises(filelock.Timeout):  # and the writer holds the lock
            filelock.FileLock(str(tmp_path / ProgramCache.FILE_NAME) + ".lock", timeout=0).acquire()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    assert (tmp_path / ProgramCache.FILE_NAME).read_bytes() == before
    reader = ProgramCache(tmp_path, DEVICE)
    assert reader.load_warning is None
    assert [reader.lookup(*fields[:3]) for fields in ENTRIES] == [fields[3] for fields in ENTRIES]
    began = time.monotonic()
    reader.store("after", "f" * 64, "", b"after the crash")
    assert reader.save()
    assert time.monotonic() - began < 2  # the dead writer's lock died with it
    assert not list(tmp_path.glob("*.tmp")) and warnings_logged() == []
    keys = {e.program for e in parse_cache_file((tmp_path / ProgramCache.FILE_NAME).read_bytes()).entries}
    assert keys == {fields[0] for fields in ENTRIES} | {"after"}


@contextmanager
def tmpfs(path, size="1m"):
    """A small tmpfs at `path` (root only): the real thing for full-disk and read-only tests."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and mount for a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextmanager
def read_only(path):
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)
    else:  # root ignores permission bits: make the filesystem itself read-only
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield


def check_save_fails_gently(storage, warnings_logged):
    path = storage / ProgramCache.FILE_NAME
    before = path.read_bytes() if path.exists() else None
    cache = ProgramCache(storage, DEVICE)
    cache.store("new", "n" * 64, "", b"new binary" * 2000)
    assert cache.save() is False
    assert len(warnings_logged()) == 1 and str(cache.path) in warnings_logged()[0]
    assert (path.read_bytes() if path.exists() else None) == before  # nothing lost
    assert not list(storage.glob("*.tmp"))
    return cache


@pytest.mark.parametrize("with_file", [True, False])
def test_read_only_dir_is_a_warning(tmp_path, warnings_logged, with_file):
    storage = tmp_path / "storage"
    with tmpfs(storage) if os.geteuid() == 0 else _plain_dir(storage):
        if with_file:
            fill(storage)
        with read_only(storage):
            cache = check_save_fails_gently(storage, warnings_logged)
            if with_file:
                assert cache.lookup(*ENTRIES[0][:3]) == ENTRIES[0][3]  # reading still works


@contextmanager
def _plain_dir(path):
    path.mkdir()
    yield path


def test_full_disk_is_a_warning(tmp_path, warnings_logged):
    with tmpfs(tmp_path / "small", size="64k") as storage:
        fill(storage, entries=[("big", "b" * 64, "", b"x" * 30_000)])
        check_save_fails_gently(storage, warnings_logged)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO])
def test_failed_write_is_a_warning(tmp_path, warnings_logged, monkeypatch, error):
    fill(tmp_path)

    def failing_write(fd, data):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(program_cache.os, "write", failing_write)
    check_save_fails_gently(tmp_path, warnings_logged)
    monkeypatch.undo()
    assert ProgramCache(tmp_path, DEVICE).lookup(*ENTRIES[0][:3]) == ENTRIES[0][3]


def test_unreadable_file_is_not_overwritten(tmp_path, warnings_logged, monkeypatch):
    fill(tmp_path)
    cache = ProgramCache(tmp_path, DEVICE)
    real_read = program_cache.read_bounded

    def denied(path, limit):
        if Path(path).name == ProgramCache.FILE_NAME:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_read(path, limit)

    before = cache.path.read_bytes()
    monkeypatch.setattr(program_cache, "read_bounded", denied)
    cache.store("new", "n" * 64, "", b"new binary")
    assert cache.save() is False and len(warnings_logged()) == 1
    monkeypatch.undo()
    assert cache.path.read_bytes() == before
