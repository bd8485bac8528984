"""What `pymace tune` measures and the tuning file keeps, as types shared by both.

A Candidate is one thing tried for a key — a local size (`lws`) or a variant (`choice`) — with exactly one outcome:
`time_us`, `dropped_us` or `failed`. A key's record is a LocalSizeRecord or a VariantRecord. `to_json` writes the
file's objects (docs/tuning-format.md) and `from_json` reads them back; the file is untrusted input, so
`from_json` checks every field and raises TuningError naming the first bad one."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

MAX_LWS = 1 << 16  # per dimension; no OpenCL device allows a larger work-group
MAX_CANDIDATES = 1024
MAX_TEXT = 1000
MAX_PARAM = 1 << 20
MAX_LAUNCHES = 64  # a variant's launches
_VARIANT = re.compile(r"[a-z0-9_]{1,64}")
_PARAM = re.compile(r"[a-z_][a-z0-9_]{0,31}")


class TuningError(ValueError):
    """A field of the file is not what the format says; the message names the field."""


@dataclass
class Candidate:
    """One local size or variant tried, and what came of it (exactly one of time_us, dropped_us, failed)."""

    lws: tuple[int, ...] | None = None
    choice: dict | None = None
    time_us: float | None = None  # the fastest timed run, µs of device time
    dropped_us: float | None = None  # clearly slower than the best so far after two runs: not timed further
    failed: str | None = None  # an OpenCL or build error, or an output that differs from the default's
    launches: int | None = None  # a variant's launches (with time_us)

    def cost(self, launch_us: float = 0.0) -> float:
        """Device time plus the host's enqueue cost per launch (a local size does not change the launches)."""
        return self.time_us + (self.launches or 0) * launch_us

    def to_json(self) -> dict:
        out = {"lws": list(self.lws)} if self.lws is not None else {"choice": dict(self.choice)}
        for name in ("time_us", "dropped_us", "failed", "launches"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_json(cls, value, what: str, kind: str) -> Candidate:
        expect(isinstance(value, dict), f"{what} is not an object")
        found = cls(lws=_lws(value.get("lws"), f"{what}.lws")) if kind == "lws" else \
            cls(choice=_choice(value.get("choice"), f"{what}.choice"))
        for name in ("time_us", "dropped_us"):
            if name in value:
                setattr(found, name, _time(value[name], f"{what}.{name}"))
        if "failed" in value:
            found.failed = check_text(value["failed"], f"{what}.failed")
        outcomes = sum(getattr(found, name) is not None for name in ("time_us", "dropped_us", "failed"))
        expect(outcomes == 1, f"{what} needs exactly one of time_us, dropped_us, failed")
        if kind == "choice" and "launches" in value:
            launches = value["launches"]
            expect(type(launches) is int and 1 <= launches <= MAX_LAUNCHES,
                    f"{what}.launches is not 1..{MAX_LAUNCHES}")
            found.launches = launches
        return found


@dataclass
class LocalSizeRecord:
    """A tuning key's record: the local size the engine uses, and how it was found."""

    lws: tuple[int, ...]
    default_lws: tuple[int, ...] | None = None
    time_us: float | None = None
    default_time_us: float | None = None
    complete: bool = False  # every candidate measured (false: the budget or an interruption stopped the run)
    candidates: list[Candidate] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"lws": list(self.lws)}
        if self.default_lws is not None:
            out["default_lws"] = list(self.default_lws)
        return out | _common_json(self)

    @classmethod
    def from_json(cls, value, what: str = "record") -> LocalSizeRecord:
        expect(isinstance(value, dict), f"{what} is not an object")
        found = cls(_lws(value.get("lws"), f"{what}.lws"))
        if "default_lws" in value:
            found.default_lws = _lws(value["default_lws"], f"{what}.default_lws")
        return _common_from_json(found, value, what, ("time_us", "default_time_us"), "lws")


@dataclass
class VariantRecord:
    """A choice key's record: the variant the engine uses, and how it was found."""

    choice: dict
    default_choice: dict | None = None
    time_us: float | None = None
    default_time_us: float | None = None
    launch_us: float | None = None  # the host's cost of one enqueue when the record was made
    complete: bool = False
    candidates: list[Candidate] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"choice": dict(self.choice)}
        if self.default_choice is not None:
            out["default_choice"] = dict(self.default_choice)
        return out | _common_json(self)

    @classmethod
    def from_json(cls, value, what: str = "record") -> VariantRecord:
        expect(isinstance(value, dict), f"{what} is not an object")
        found = cls(_choice(value.get("choice"), f"{what}.choice"))
        if "default_choice" in value:
            found.default_choice = _choice(value["default_choice"], f"{what}.default_choice")
        return _common_from_json(found, value, what, ("time_us", "default_time_us", "launch_us"), "choice")


@dataclass
class MeasuredRecord:
    """What `pymace tune` measured for one model (key: tuner/proof.proof_key): its whole-model median host latency
    with the default plan and with what the tuning file holds after the proof, `runs` alternating turns each, and
    how many tuned choices stayed and went back (tuner/proof.py)."""

    model: str
    default_us: float
    tuned_us: float
    runs: int
    kept: int = 0
    refused: int = 0

    def to_json(self) -> dict:
        return {"measured": {"model": self.model, "default_us": self.default_us, "tuned_us": self.tuned_us,
                             "runs": self.runs, "kept": self.kept, "refused": self.refused}}

    @classmethod
    def from_json(cls, value, what: str = "record") -> MeasuredRecord:
        expect(isinstance(value, dict) and set(value) == {"measured"}, f"{what} is not a measurement")
        m, what = value["measured"], f"{what}.measured"
        expect(isinstance(m, dict), f"{what} is not an object")
        counts = [m.get(k) for k in ("runs", "kept", "refused")]
        expect(all(type(c) is int and 0 <= c <= MAX_PARAM for c in counts), f"{what} has a bad count")
        return cls(check_text(m.get("model"), f"{what}.model"), _time(m.get("default_us"), f"{what}.default_us"),
                   _time(m.get("tuned_us"), f"{what}.tuned_us"), *counts)


Record = LocalSizeRecord | VariantRecord | MeasuredRecord


def record_from_json(value, what: str = "record") -> Record:
    """A key's record as the file holds it: a measurement when it has `measured`, a variant record when it has
    `choice`, else a local-size record."""
    expect(isinstance(value, dict), f"{what} is not an object")
    if "measured" in value:
        return MeasuredRecord.from_json(value, what)
    if "choice" in value:
        expect("lws" not in value, f"{what} has both lws and choice")
        return VariantRecord.from_json(value, what)
    return LocalSizeRecord.from_json(value, what)


def _common_json(record) -> dict:
    times = ("time_us", "default_time_us", "launch_us") if isinstance(record, VariantRecord) else \
        ("time_us", "default_time_us")
    out = {name: getattr(record, name) for name in times if getattr(record, name) is not None}
    return out | {"complete": record.complete, "candidates": [c.to_json() for c in record.candidates]}


def _common_from_json(record, value: dict, what: str, times: tuple[str, ...], kind: str):
    for name in times:
        if name in value:
            setattr(record, name, _time(value[name], f"{what}.{name}"))
    if "complete" in value:
        expect(isinstance(value["complete"], bool), f"{what}.complete is not true/false")
        record.complete = value["complete"]
    candidates = value.get("candidates", [])
    expect(isinstance(candidates, list) and len(candidates) <= MAX_CANDIDATES,
            f"{what}.candidates is not a list of at most {MAX_CANDIDATES}")
    record.candidates = [Candidate.from_json(c, f"{what}.candidates[{i}]", kind) for i, c in enumerate(candidates)]
    return record


# ---- fields ----

def expect(cond: bool, what: str) -> None:
    if not cond:
        raise TuningError(what)


def check_text(value, what: str, limit: int = MAX_TEXT) -> str:
    expect(isinstance(value, str) and len(value) <= limit, f"{what} is not a string of at most {limit} chars")
    return value


def _lws(value, what: str) -> tuple[int, ...]:
    expect(isinstance(value, (list, tuple)) and 1 <= len(value) <= 3, f"{what} is not a list of 1 to 3 sizes")
    expect(all(type(v) is int and 1 <= v <= MAX_LWS for v in value), f"{what} holds a size outside 1..{MAX_LWS}")
    return tuple(value)


def _time(value, what: str) -> float:
    ok = type(value) in (int, float) and math.isfinite(value) and 0 <= value < 1e12
    expect(ok, f"{what} is not a time in microseconds")
    return float(value)


def _choice(value, what: str) -> dict:
    """A variant: {"variant": name, param: int, …} (at most 16 parameters)."""
    expect(isinstance(value, dict) and 1 <= len(value) <= 17, f"{what} is not an object of 1 to 17 fields")
    variant = value.get("variant")
    expect(isinstance(variant, str) and _VARIANT.fullmatch(variant) is not None,
            f"{what}.variant is not a kernel name")
    for name, v in value.items():
        if name != "variant":
            expect(isinstance(name, str) and _PARAM.fullmatch(name) is not None, f"{what} has a bad parameter name")
            expect(type(v) is int and 0 <= v <= MAX_PARAM, f"{what}.{name} is not an integer in 0..{MAX_PARAM}")
    return dict(value)


__all__ = ["Candidate", "LocalSizeRecord", "VariantRecord", "MeasuredRecord", "Record", "record_from_json",
           "TuningError", "expect", "check_text"]
