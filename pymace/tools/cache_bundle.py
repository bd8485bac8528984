"""`pymace cache build | export | import`: fill a storage dir with every cache a warm start needs, and carry it.

build   compile every program a model needs on the device into the program cache, then run the model once on
        seeded random inputs, so that the drivers' own caches (runtime/driver_caches.py: PoCL's work-group
        functions, NVIDIA's PTX → machine code) hold what the first inference compiles.
export  build, then write a bundle: a folder laid out as a storage dir — the program-cache entries the model
        uses on this device, the tuning records its plan uses, this device's driver cache, and a manifest
        (`pymace-bundle.json`). An app can use the folder as its storage dir as it is.
import  merge a bundle into a storage dir (program entries and tuning records merged with what is there, driver
        cache files copied where absent). Nothing is trusted on the way: pymace checks every program entry's
        checksum when it is used and every tuning record when it is read, and each driver validates its own
        cache.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import filelock

from .. import __version__
from ..errors import ConfigError
from ..runtime import driver_caches
from ..runtime import tuning_file as tuning
from ..runtime.plan import canonical_options
from ..runtime.program_cache import LOCK_TIMEOUT_S, ProgramCache, parse_cache_file
from ..runtime.programs import source_digest
from ..safe_io import write_atomically

MANIFEST = "pymace-bundle.json"


def build(model: str, device: str | None, data_type: str | None, storage_dir: str | None):
    """The engine of `model` with every program built or loaded through the cache, run once; the cache saved."""
    from ..engine import Engine
    from .benchmark import random_feeds

    engine = Engine(model, device=device, data_type=data_type, storage_dir=storage_dir)
    engine.run(random_feeds(engine.graph))
    return engine


def driver_of(platform_name: str) -> str | None:
    """The driver cache (runtime/driver_caches.py) a platform's devices use, if pymace knows one."""
    name = platform_name.lower()
    return "pocl" if "portable computing language" in name else "nvidia" if "nvidia" in name else None


def export(model: str, out_dir: str, device: str | None = None, data_type: str | None = None,
           storage_dir: str | None = None) -> dict:
    """Write the bundle of `model` on `device` into `out_dir` (created; existing files are replaced)."""
    engine = build(model, device, data_type, storage_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = engine.plan.steps
    programs = _export_programs(engine.session.cache, steps, out)
    records = _export_tuning(engine, steps, out)
    driver = driver_of(engine.device.platform_name)
    copied = _export_driver_cache(driver, out) if driver else {}
    manifest = {"format": "pymace cache bundle", "pymace": __version__, "model": Path(model).name,
                "device": engine.device.name, "platform": engine.device.platform_name,
                "driver_version": engine.device.driver_version, "data_type": engine.plan.prepared.plan.data_type,
                "programs": programs, "tuning_records": records, "driver_cache": copied}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    for lock in out.glob("*.lock"):  # the writers' lock files: nothing an app needs
        lock.unlink(missing_ok=True)
    return manifest


def _export_programs(cache: ProgramCache, steps, out: Path) -> int:
    wanted = {(s.program, source_digest(s.program), canonical_options(s.launch.options))
              for s in steps}
    bundle = ProgramCache(out, cache.device)
    entries = [e for key, e in cache.entries().items() if key[0] == cache.device and key[1:] in wanted]
    bundle.add_entries(entries)
    if not bundle.save():
        raise ConfigError(f"cannot write the program cache into {out}")
    return len(entries)


def _export_tuning(engine, steps, out: Path) -> int:
    source = engine.session.tuning
    if source is None:
        return 0
    keys = {s.tuning_key for s in steps} | {c.key for c in engine.plan.prepared.plan.choices}
    target = tuning.TuningFile.open(out, engine.device.identity)
    for key in sorted(keys):
        record = source.record(key)
        if record is not None:
            target.put(key, record)
    count = target.unsaved
    if not target.save():
        raise ConfigError(f"cannot write the tuning records into {out}: {target.save_warning}")
    return count


def _export_driver_cache(driver: str, out: Path) -> dict:
    where = driver_caches.active()[driver]["folder"]
    if not where or not Path(where).is_dir():
        return {}
    target = driver_caches.folder(out, driver)
    if Path(where).resolve() != target.resolve():
        shutil.copytree(where, target, dirs_exist_ok=True)
    files = [p for p in target.rglob("*") if p.is_file()]
    return {"driver": driver, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def command(a, print_json) -> int:
    """`pymace cache export --model M DIR`, `cache import DIR`, `cache prune --model M …` (arguments parsed by
    pymace/cli.py)."""
    from .. import config
    from . import cli_args
    from .progress import Progress

    if a.action == "prune":
        from . import cache_prune

        return cache_prune.command(a, print_json)
    if a.action == "import":
        storage = a.storage_dir or config.default_storage_dir()
        result = unpack(a.model, storage)
        line = (f"{result['programs']} programs, {result['tuning_sections']} tuning sections, "
                f"{result['driver_files']} driver cache files → {storage}")
        print_json(result) if a.json else print(line)
        return 0
    if not a.bundle_model:
        raise ConfigError("cache export needs --model M: the model whose caches the bundle carries")
    with Progress(cli_args.show_progress(a)) as progress:
        progress.task(f"building and exporting the caches {Path(a.bundle_model).name} needs")
        manifest = export(a.bundle_model, a.model, a.device, a.data_type, a.storage_dir)
    line = (f"bundle {a.model}: {manifest['programs']} programs, {manifest['tuning_records']} tuning records, "
            f"driver cache {manifest['driver_cache'] or 'none'}")
    print_json(manifest) if a.json else print(line)
    return 0


def unpack(bundle_dir: str, storage_dir: str) -> dict:
    """Merge the bundle in `bundle_dir` into `storage_dir`; returns what came in."""
    bundle, storage = Path(bundle_dir), Path(storage_dir)
    if not (bundle / MANIFEST).is_file():
        raise ConfigError(f"{bundle_dir} is not a pymace cache bundle (no {MANIFEST}; make one with "
                          "`pymace cache export --model M DIR`)")
    storage.mkdir(parents=True, exist_ok=True)
    result = {"programs": _import_programs(bundle, storage), "tuning_sections": _import_tuning(bundle, storage),
              "driver_files": 0}
    for cache in driver_caches.DRIVER_CACHES:
        result["driver_files"] += _copy_absent(driver_caches.folder(bundle, cache.driver),
                                               driver_caches.folder(storage, cache.driver))
    return result


def _import_programs(bundle: Path, storage: Path) -> int:
    path = bundle / ProgramCache.FILE_NAME
    if not path.is_file():
        return 0
    entries = [e for e in parse_cache_file(path.read_bytes()).entries if e.intact()]
    for device in {e.device for e in entries}:
        target = ProgramCache(storage, device)
        target.add_entries([e for e in entries if e.device == device])
        if not target.save():
            raise ConfigError(f"cannot write the program cache into {storage}")
    return len(entries)


def _import_tuning(bundle: Path, storage: Path) -> int:
    path = bundle / tuning.FILE_NAME
    if not path.is_file():
        return 0
    sections, problems = tuning.parse(path.read_bytes())
    if problems:
        raise ConfigError(f"the bundle's tuning file {path}: {problems[0]}")
    target = storage / tuning.FILE_NAME
    with filelock.FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT_S):
        merged, _ = tuning.parse(target.read_bytes()) if target.is_file() else ([], [])
        for cls, records in sections:
            same = next((entries for stored, entries in merged if tuning.same_class(stored, cls)), None)
            if same is None:
                merged.append((cls, dict(records)))
            else:
                same.update(records)
        write_atomically(target, tuning.encode(merged))
    return len(sections)


def _copy_absent(source: Path, target: Path) -> int:
    """Copy the files under `source` that `target` lacks; the count copied. A bundle is untrusted: its symlinks
    are not followed (one would copy any file the user can read into the storage dir), and nothing is written
    over a name `target` has, a dangling symlink included (lexists: copy2 would write through it)."""
    copied = 0
    for path in source.rglob("*") if source.is_dir() else []:
        if not path.is_symlink() and path.is_file() and not os.path.lexists(target / path.relative_to(source)):
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(source))
            copied += 1
    return copied


__all__ = ["build", "export", "unpack", "command", "driver_of", "MANIFEST"]
