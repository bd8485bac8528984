"""`pymace cache prune --model A.pmace [--model B.pmace …]`: drop from a storage dir's program cache and tuning file
what none of the named models needs.

What a model needs is planned as the engine plans it at start (runtime/shape_plans.py): the model's example shape
(its own shape for a static model), its recorded data type unless --data-type says otherwise, the device's traits,
and the tuning file's values for that device — so the programs of the variants the tuning file chose are the ones
kept. A model needs the programs its plan launches (LaunchPlan.required_programs, keyed by this pymace's source
hash, on the device's exact identity), the tuning records of its launches and variant choices, and the tuning
measurements `pymace tune` recorded for it.

Which devices are pruned: by default the device the engine would use for each model (`--device`, else the model's
recorded runtime, else auto); every entry of another device stays. `--all-devices`: every usable device of this
machine. An entry belongs to a pruned device when it names the same device (name, vendor, platform — the slot a
save replaces), whatever its driver: a binary of an older driver can never serve this device again, so it goes.
Devices that are not on this machine are never pruned (their plans depend on traits only that device can tell)
and are named in the output; prune a shared file on each machine that uses it.

Writing goes through the caches' own discipline (the file's lock, a re-read under it, temp file, fsync, atomic
replace), so an entry another process adds meanwhile is judged too and nothing is half-written. A damaged or
foreign file is left exactly as it is, with a warning and exit code 1: pruning must not make it worse."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import filelock

from ..errors import ConfigError
from ..runtime import tuning_file as tuning
from ..runtime.program_cache import (
    LOCK_TIMEOUT_S,
    MAX_FILE_BYTES,
    ProgramCache,
    parse_cache_file,
    summarize,
)
from ..runtime.programs import source_digest
from ..safe_io import read_bounded, write_atomically

log = logging.getLogger(__name__)


@dataclass
class Needs:
    """What the named models need on the devices planned."""

    devices: list = field(default_factory=list)  # DeviceInfo planned (each once)
    programs: set = field(default_factory=set)  # (device identity, program, source hash, options)
    tuning: dict = field(default_factory=dict)  # index into devices → tuning and measurement keys needed there

    def pruned_device(self, record) -> bool:
        """Whether entries of this cache device record are judged (the device, any driver, is planned)."""
        return any(_same_hardware(record, d.identity) for d in self.devices)

    def section_device(self, cls: dict) -> int | None:
        """The planned device a tuning section is for, else None (then it is not judged)."""
        return next((i for i, d in enumerate(self.devices)
                     if tuning.same_class(cls, tuning.device_class(d.identity))), None)


def _same_hardware(a, b) -> bool:
    return (a.name, a.vendor, a.platform_name) == (b.name, b.vendor, b.platform_name)


def model_plan(graph, traits, data_type: str, tuned):
    """The launch plan the engine makes first for `graph`: its example shape, with the tuning file's values."""
    from ..ir import symbolic
    from ..ir.verify import check_device_dtypes
    from ..runtime.plan import make_plan

    if symbolic.is_symbolic(graph):
        example = symbolic.example_shapes(graph)
        if len(example) != len(graph.inputs):
            raise ConfigError(f"{graph.name}: dynamic inputs without an example shape; the engine plans no shape "
                              "at start, so what it needs cannot be known")
        graph = symbolic.specialize(graph, example)
    check_device_dtypes(graph)
    return make_plan(graph, traits, data_type, tuned)


def plan_needs(models: list[str], device_spec: str | None, data_type: str | None, storage_dir: str,
               all_devices: bool) -> Needs:
    from ..engine import model_defaults
    from ..ir import pmace_file
    from ..runtime import device as devices
    from ..runtime.tuner.proof import proof_key

    graphs = [pmace_file.load(m) for m in models]
    defaults = [model_defaults(g.metadata) for g in graphs]
    if all_devices:
        usable = [d for d in devices.list_devices(storage_dir=storage_dir) if d.usable]
        if not usable:
            raise ConfigError("no usable OpenCL device here: nothing can be planned")
        targets = [(g, d, usable) for g, d in zip(graphs, defaults, strict=True)]
    else:
        targets = [(g, d, [devices.select(device_spec or d[0], storage_dir)]) for g, d in
                   zip(graphs, defaults, strict=True)]
    needs = Needs()
    for graph, (_, model_type), on in targets:
        kind = data_type or model_type
        for info in on:
            index = next((i for i, d in enumerate(needs.devices) if d.identity == info.identity), None)
            if index is None:
                needs.devices.append(info)
                index = len(needs.devices) - 1
            tuned = tuning.TuningFile.open(storage_dir, info.identity)
            plan = model_plan(graph, info.traits, kind, tuned)
            needs.programs |= {(info.identity, stem, source_digest(stem), options)
                               for stem, options in plan.required_programs()}
            keys = needs.tuning.setdefault(index, set())
            keys |= {launch.tuning_key for launch in plan.launches} | {c.key for c in plan.choices}
            keys.add(proof_key(graph, kind))  # what `pymace tune` measured for it (the report's tuning section)
    return needs


# ---- the program cache ----

def _program_keep(needs: Needs, entry) -> bool:
    if not needs.pruned_device(entry.device):
        return True
    return (entry.device, entry.program, entry.source_hash, entry.options) in needs.programs


def prune_programs(path: Path, needs: Needs, dry_run: bool) -> dict:
    """Keep the entries `needs` asks for (and every entry of a device not planned); the counts and bytes."""
    from ..runtime.program_cache import encode_cache_file

    return _prune_file(path, MAX_FILE_BYTES, lambda data: _judge_programs(data, needs), encode_cache_file, dry_run)


def _prune_file(path: Path, max_bytes: int, judge, encode, dry_run: bool) -> dict:
    """Read `path` (bounded), `judge(data)` → (counts, what to keep), and unless `dry_run` write `encode(kept)` in
    its place, atomically, under the file's own lock; the counts, or why the file was left alone."""
    result = {"file": str(path)}
    if not path.exists():
        return result | {"status": "absent"}
    try:
        if dry_run:
            return result | judge(read_bounded(path, max_bytes))[0]
        with filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            # judged again under the lock: what another process saved meanwhile is judged too, never lost unseen
            counts, kept = judge(read_bounded(path, max_bytes))
            if counts["status"] == "pruned" and counts["dropped"]:
                write_atomically(path, encode(kept))
    except (OSError, filelock.Timeout) as error:
        return result | {"status": "left alone", "reason": f"cannot read or write it: {error}"}
    return result | counts


def _judge_programs(data: bytes, needs: Needs) -> tuple[dict, list]:
    cache = parse_cache_file(data)
    if cache.problems:
        what = "not a pymace cache of this version" if cache.foreign else "damaged"
        return {"status": "left alone", "reason": f"{what} ({summarize(cache.problems)})"}, []
    kept, dropped = [], []
    for entry in cache.entries:
        (kept if _program_keep(needs, entry) else dropped).append(entry)
    others = sorted({f"{e.device.name} ({e.device.platform_name})" for e in kept
                     if not needs.pruned_device(e.device)})
    counts = {"status": "pruned", "kept": len(kept), "kept_bytes": sum(len(e.binary) for e in kept),
              "dropped": len(dropped), "dropped_bytes": sum(len(e.binary) for e in dropped),
              "devices_not_planned": others, "bytes_before": len(data)}
    return counts, kept


# ---- the tuning file ----

def prune_tuning(path: Path, needs: Needs, dry_run: bool) -> dict:
    """Keep the records `needs` asks for in the sections of planned devices; other sections as they are."""
    return _prune_file(path, tuning.MAX_FILE_BYTES, lambda data: _judge_tuning(data, needs), tuning.encode, dry_run)


def _judge_tuning(data: bytes, needs: Needs) -> tuple[dict, list]:
    sections, problems = tuning.parse(data)
    if problems:  # a skipped record would be lost by rewriting: the file stays as it is
        return {"status": "left alone", "reason": f"damaged or not this pymace's ({problems[0][:200]})"}, []
    kept_sections, kept, dropped, others = [], 0, 0, []
    for cls, entries in sections:
        index = needs.section_device(cls)
        if index is None:
            others.append(tuning.describe_class(cls))
            kept += len(entries)
            kept_sections.append((cls, entries))
            continue
        wanted = needs.tuning.get(index, set())
        mine = {k: r for k, r in entries.items() if k in wanted}
        kept, dropped = kept + len(mine), dropped + len(entries) - len(mine)
        kept_sections.append((cls, mine))
    after = len(tuning.encode(kept_sections)) if dropped else len(data)
    return {"status": "pruned", "kept": kept, "dropped": dropped, "bytes_before": len(data), "bytes_after": after,
            "devices_not_planned": others}, kept_sections


# ---- the command ----

def prune(models: list[str], storage_dir: str, device: str | None = None, data_type: str | None = None,
          all_devices: bool = False, dry_run: bool = False) -> dict:
    """Prune the storage dir's program cache and tuning file to what `models` need (module docstring)."""
    if not models:
        raise ConfigError("cache prune needs --model M (once per model to keep; what no named model needs goes)")
    folder = Path(storage_dir)
    if not folder.is_dir():
        raise ConfigError(f"storage dir {storage_dir} does not exist")
    needs = plan_needs(models, device, data_type, str(folder), all_devices)
    programs = prune_programs(folder / ProgramCache.FILE_NAME, needs, dry_run)
    tuned = prune_tuning(folder / tuning.FILE_NAME, needs, dry_run)
    for what, r in (("program cache", programs), ("tuning file", tuned)):
        if r["status"] == "left alone":
            log.warning("%s %s left alone: %s", what, r["file"], r["reason"])
    return {"storage_dir": str(folder), "models": list(models), "dry_run": dry_run,
            "devices": [d.name for d in needs.devices], "programs": programs, "tuning": tuned,
            "ok": all(r["status"] != "left alone" for r in (programs, tuned))}


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / 2**20:.1f} MiB"


def render_text(result: dict) -> str:
    verb = ("would keep", "would drop") if result["dry_run"] else ("kept", "dropped")
    lines = [f"planned {len(result['models'])} model(s) on {', '.join(result['devices'])}"]
    p, t = result["programs"], result["tuning"]
    for label, r in (("program cache", p), ("tuning file", t)):
        if r["status"] == "absent":
            lines.append(f"{label} {r['file']}: none")
        elif r["status"] == "left alone":
            lines.append(f"{label} {r['file']}: left alone, {r['reason']}")
        elif label == "program cache":
            lines.append(f"{label} {r['file']}: {verb[0]} {r['kept']} entries ({_size(r['kept_bytes'])}), "
                         f"{verb[1]} {r['dropped']} ({_size(r['dropped_bytes'])})")
        else:
            lines.append(f"{label} {r['file']}: {verb[0]} {r['kept']} records, {verb[1]} {r['dropped']} "
                         f"({_size(r['bytes_before'])} → {_size(r['bytes_after'])})")
        if r.get("devices_not_planned"):
            lines.append(f"  kept as they are, not planned here: {'; '.join(r['devices_not_planned'])}")
    if result["dry_run"]:
        lines.append("dry run: nothing written")
    return "\n".join(lines) + "\n"


def command(a, print_json) -> int:
    """`pymace cache prune` (arguments parsed by pymace/cli.py)."""
    from .. import config

    storage = a.storage_dir or config.default_storage_dir()
    result = prune(a.bundle_model or [], storage, a.device, a.data_type, a.all_devices, a.dry_run)
    print_json(result) if a.json else print(render_text(result), end="")
    return 0 if result["ok"] else 1


__all__ = ["prune", "plan_needs", "model_plan", "render_text", "command", "Needs"]
