"""Process entry points for the concurrency tests (importable by spawned children)."""
from pymace.runtime.program_cache import ProgramCache
from tests.cache.common import DEVICE

SHARED = [(f"shared{k}", f"{k}" * 64, "-DSHARED", f"shared binary {k}".encode() * 50) for k in range(3)]


def own_entries(worker: int) -> list[tuple]:
    return [(f"w{worker}p{k}", f"{worker}{k}" * 32, f"-DW={worker}", f"worker {worker} program {k}".encode() * 80)
            for k in range(3)]


def store_and_save(storage: str, worker: int, start) -> None:
    """Two rounds of store + save, the second adding to what the first (and everyone else) wrote. A failed
    save is the exit status 1."""
    start.wait()
    entries = own_entries(worker) + SHARED
    for round_entries in (entries[::2], entries[1::2]):
        cache = ProgramCache(storage, DEVICE)
        for fields in round_entries:
            cache.store(*fields)
        if not cache.save():
            raise SystemExit(1)
