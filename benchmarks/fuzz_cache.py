"""Fuzz the cache readers: mutate valid files (structural edits and random damage) and check that no exception
escapes, no parse hangs, and every pymace entry that comes back is byte-identical to the one written.

    .venv/bin/python benchmarks/fuzz_cache.py [--cases 12000] [--seed 1]
"""
import argparse
import hashlib
import random
import struct
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pymace.formats import FormatError
from pymace.formats.mace import read_mace_file
from pymace.runtime.program_cache import (
    HEADER,
    DeviceRecord,
    ProgramCache,
    encode_cache_file,
    make_entry,
    parse_cache_file,
)
from pymace.tools.inspect import inspect

SLOW_S = 0.5  # a parse slower than this counts as a hang
DEVICES = [DeviceRecord("GPU A", "ACME", "1.0", "ACME CL", "OpenCL 3.0", "OpenCL C 1.2"),
           DeviceRecord("GPU B", "Initech", "2.0", "Initech CL", "OpenCL 2.0", "OpenCL C 2.0")]


def valid_pymace(rng: random.Random) -> tuple[bytes, dict]:
    entries = [make_entry(rng.choice(DEVICES), f"prog{i}", f"{i:064x}", rng.choice(["", "-DA", "-DB=2 -DC"]),
                          rng.randbytes(rng.randint(0, 300))) for i in range(rng.randint(1, 6))]
    return encode_cache_file(entries), {e.key: e.binary for e in entries}


def valid_mace(rng: random.Random) -> bytes:
    pairs = [(f"key{i} -DX={i}".encode(), rng.randbytes(rng.randint(0, 100))) for i in range(rng.randint(1, 5))]
    if rng.random() < 0.5:
        return struct.pack("<q", len(pairs)) + b"".join(
            struct.pack("<i", len(k)) + k + struct.pack("<i", len(v)) + v for k, v in pairs)
    body = b"".join(_len_field(1, _len_field(1, k) + _len_field(2, v)) for k, v in pairs)
    return body + struct.pack("<I", zlib.crc32(body))


def _len_field(number: int, payload: bytes) -> bytes:
    n, size = len(payload), bytearray()
    while True:
        size.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes([number << 3 | 2]) + bytes(size) + payload


def _put_u32(data: bytes, offset: int, value: int) -> bytes:
    offset = min(offset, max(len(data) - 4, 0))
    return data[:offset] + struct.pack("<I", value & 0xFFFFFFFF) + data[offset + 4:]


def _rehash(data: bytes) -> bytes:  # damage that a whole-file hash cannot see: only entry checksums can
    return data[:-32] + hashlib.sha256(data[:-32]).digest() if len(data) > 32 else data


MUTATIONS = {
    "truncate": lambda d, r: d[:r.randrange(len(d) + 1)],
    "bit flip": lambda d, r: _flip(d, r, 1),
    "byte flips": lambda d, r: _flip(d, r, r.randint(2, 20)),
    "header field": lambda d, r: _put_u32(d, r.choice(range(4, HEADER.size, 4)),
                                          r.choice([0, 1, len(d), 0xFFFFFFFF, r.getrandbits(32)])),
    "header field, rehashed": lambda d, r: _rehash(_put_u32(d, r.choice(range(4, HEADER.size, 4)),
                                                            r.getrandbits(r.choice([2, 8, 32])))),
    "u32 anywhere, rehashed": lambda d, r: _rehash(_put_u32(d, r.randrange(len(d)), r.choice(
        [0, 1, 0xFFFFFFFF, r.getrandbits(16)]))),
    "insert": lambda d, r: (lambda at: d[:at] + r.randbytes(r.randint(1, 64)) + d[at:])(r.randrange(len(d) + 1)),
    "delete": lambda d, r: (lambda at: d[:at] + d[at + r.randint(1, 64):])(r.randrange(len(d) + 1)),
    "splice": lambda d, r: (lambda a, b: d[:a] + d[b:])(*sorted(r.sample(range(len(d) + 1), 2))),
    "random bytes": lambda d, r: r.randbytes(r.randint(0, 400)),
    "future version": lambda d, r: _rehash(_put_u32(d, 4, r.choice([0x00020000, 0x00010001, 0]))),
}


def _flip(data: bytes, rng: random.Random, count: int) -> bytes:
    damaged = bytearray(data)
    for _ in range(count):
        if damaged:
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def check_pymace(data: bytes, written: dict, storage: Path) -> str:
    """Parse and load through ProgramCache; returns '' or what went wrong."""
    for entry in parse_cache_file(data).entries:
        if entry.intact() and written.get(entry.key) != entry.binary:
            return "wrong binary from the parser"
    (storage / ProgramCache.FILE_NAME).write_bytes(data)
    for device in DEVICES:
        cache = ProgramCache(storage, device)
        for key, binary in written.items():
            if key[0] == device:
                found = cache.lookup(*key[1:])
                if found is not None and found != binary:
                    return "wrong binary from lookup"
    return ""


def check_mace(data: bytes) -> str:
    try:
        read_mace_file(data)
    except FormatError:
        pass
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import logging
    logging.disable(logging.WARNING)  # every damaged file warns; the table is the output here
    rng = random.Random(args.seed)
    stats = defaultdict(lambda: {"cases": 0, "crashes": 0, "wrong": 0, "slow": 0, "max_ms": 0.0, "total_s": 0.0})
    failures = []
    with tempfile.TemporaryDirectory() as folder:
        storage = Path(folder)
        for case in range(args.cases):
            target = "pymace" if case % 4 else "mace"
            name = rng.choice(list(MUTATIONS))
            written = {}
            if target == "pymace":
                valid, written = valid_pymace(rng)
            else:
                valid = valid_mace(rng)
            damaged = MUTATIONS[name](valid, rng)
            row = stats[(target, name)]
            began = time.perf_counter()
            try:
                problem = check_pymace(damaged, written, storage) if target == "pymace" else check_mace(damaged)
                (storage / "inspected").write_bytes(damaged)
                inspect(storage / "inspected", DEVICES[0])
            except Exception as error:  # the whole point: count anything that escapes
                row["crashes"] += 1
                failures.append((target, name, case, repr(error)))
                problem = ""
            elapsed = time.perf_counter() - began
            row["cases"] += 1
            row["wrong"] += bool(problem)
            row["slow"] += elapsed > SLOW_S
            row["max_ms"] = max(row["max_ms"], elapsed * 1000)
            row["total_s"] += elapsed
            if problem:
                failures.append((target, name, case, problem))
    report(stats, failures)
    raise SystemExit(1 if failures or any(r["slow"] for r in stats.values()) else 0)


def report(stats: dict, failures: list) -> None:
    table = Table(title="cache reader fuzz: mutated files")
    for column in ("reader", "mutation", "cases", "crashes", "wrong binaries", "slow (>0.5 s)", "max ms", "mean µs"):
        table.add_column(column, justify="left" if column in ("reader", "mutation") else "right")
    for (target, name), row in sorted(stats.items()):
        table.add_row(target, name, str(row["cases"]), str(row["crashes"]), str(row["wrong"]), str(row["slow"]),
                      f"{row['max_ms']:.2f}", f"{row['total_s'] / row['cases'] * 1e6:.0f}")
    totals = {k: sum(r[k] for r in stats.values()) for k in ("cases", "crashes", "wrong", "slow")}
    table.add_row("all", "", *(str(totals[k]) for k in ("cases", "crashes", "wrong", "slow")), "", "")
    console = Console(width=max(Console().width, 110))
    console.print(table)
    for failure in failures[:20]:
        console.print("FAIL", *failure)


if __name__ == "__main__":
    main()
