"""MACE's key/value files: the compiled-program cache and the tuned-parameter file (docs/mace-formats.md).

Neither has a magic number, so `read_mace_file` tries the two layouts by structure:
A (MACE ≤ v1.0.4): int64 pair count, then (int32 length, key, int32 length, value) pairs, no checksum;
B (MACE ≥ v1.1):   a protobuf PairContainer followed by the CRC-32 of its bytes.
"""
import re
import struct
import zlib
from dataclasses import dataclass

from pymace.formats import ByteReader, FormatError
from pymace.formats.protobuf import parse_pair_container

PLATFORM_KEY = "mace_opencl_precompiled_platform_info_key"
DEVICE_NAME_KEY = "mace_opencl_precompiled_device_name_key"
PROGRAM_HASH_PREFIX = "program_hash_ "
QUEUE_WINDOW_KEY = "MACE_OPENCL_QUEUE_WINDOW_SIZE"
MAX_PAIRS = 1 << 20  # far above any real file; a larger count is corruption


@dataclass
class MaceFile:
    layout: str  # "A" or "B"
    pairs: list[tuple[str, bytes | list[int]]]  # bytes values, or uint32 lists (layout B tuning files)
    integrity: str  # "ok", "no checksum in this layout", "CRC mismatch …", "truncated …"


def read_layout_a(data: bytes) -> MaceFile:
    reader = ByteReader(data)
    count = reader.i64("pair count")
    if not 0 <= count <= min(MAX_PAIRS, len(data) // 8):
        raise FormatError(f"pair count {count} does not fit a {len(data)}-byte file")
    pairs = []
    try:
        for i in range(count):
            key = reader.take(_length(reader, f"key {i} length"), f"key {i}")
            value = reader.take(_length(reader, f"value {i} length"), f"value {i}")
            pairs.append((key.decode("utf-8", "replace"), value))
    except FormatError as error:
        if not pairs or not _plausible_key(pairs[0][0]):
            raise
        return MaceFile("A", pairs, f"truncated: {len(pairs)} of {count} pairs readable ({error})")
    if reader.left:
        raise FormatError(f"{reader.left} bytes after the last of {count} pairs")
    if pairs and not _plausible_key(pairs[0][0]):
        raise FormatError("the first key is not text")
    return MaceFile("A", pairs, "no checksum in this layout")


def _length(reader: ByteReader, what: str) -> int:
    length = reader.i32(what)
    if length < 0:
        raise FormatError(f"negative {what} ({length})")
    return length


def _plausible_key(key: str) -> bool:
    return 0 < len(key) < 4096 and key.isprintable()


def read_layout_b(data: bytes) -> MaceFile:
    if len(data) < 4:
        raise FormatError("shorter than the CRC-32 trailer")
    body, (stored,) = data[:-4], struct.unpack_from("<I", data, len(data) - 4)
    pairs = parse_pair_container(body)
    if not pairs or not all(_plausible_key(p.key) for p in pairs):
        raise FormatError("no pairs with text keys")
    computed = zlib.crc32(body)
    integrity = "ok" if computed == stored else f"CRC mismatch: stored {stored:08x}, computed {computed:08x}"
    values = [(p.key, p.uint32s_value if p.uint32s_value and not p.bytes_value else p.bytes_value)
              for p in pairs]
    return MaceFile("B", values, integrity)


def salvage_layout_b(data: bytes) -> MaceFile:
    """A layout B file cut short: the whole pairs before the cut (the CRC trailer is gone with the tail), or
    FormatError when not even the first pair is whole and text-keyed."""
    from pymace.formats.protobuf import LENGTH, fields, parse_kv_pair

    pairs = []
    try:
        for number, wire, value in fields(data):
            if (number, wire) != (1, LENGTH):
                break
            pair = parse_kv_pair(value)
            if not _plausible_key(pair.key):
                break
            pairs.append(pair)
    except FormatError as error:
        if not pairs:
            raise
        values = [(p.key, p.uint32s_value if p.uint32s_value and not p.bytes_value else p.bytes_value)
                  for p in pairs]
        return MaceFile("B", values, f"truncated: {len(pairs)} whole pairs readable ({error})")
    raise FormatError("not cut short: its pairs end cleanly")


def read_mace_file(data: bytes) -> MaceFile:
    """Layout A or B (or B cut short), or FormatError saying why it is neither."""
    reasons = []
    for layout, read in (("A", read_layout_a), ("B", read_layout_b), ("B, truncated", salvage_layout_b)):
        try:
            return read(data)
        except FormatError as error:
            reasons.append(f"not MACE layout {layout} ({error})")
    raise FormatError("; ".join(reasons))


# Obfuscation (MACE's ObfuscateSymbol): character i ≥ 1 of [0-9a-zA-Z_] with index idx becomes
# DICT[(idx + i + 31) % 63]. MACE computes an upper-case letter's index as 36 + ch - 'a', which lands on the
# indices of digits and lower-case letters, so a decoded upper-case letter comes back as one of those.
_DICT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_PLAIN = "0123456789abcdefghijklmnopqrstuvwxyz"  # index 0..35 in MACE's encoding; 62 is '_'


def obfuscate(name: str) -> str:
    out = list(name)
    for i, ch in enumerate(name[1:], start=1):
        if ch in _PLAIN:
            idx = _PLAIN.index(ch)
        elif "A" <= ch <= "Z":
            idx = 36 + ord(ch) - ord("a")
        elif ch == "_":
            idx = 62
        else:
            continue
        out[i] = _DICT[(idx + i + 31) % 63]
    return "".join(out)


def deobfuscate(name: str) -> str | None:
    """The original of an obfuscated lower-case symbol, or None if `name` cannot be one."""
    out = list(name)
    for i, ch in enumerate(name[1:], start=1):
        if ch not in _DICT:
            continue
        idx = (_DICT.index(ch) - i - 31) % 63
        if idx == 62:
            out[i] = "_"
        elif idx < len(_PLAIN):
            out[i] = _PLAIN[idx]
        else:
            return None  # MACE never writes this index
    return "".join(out)


_TUNING_KEY = re.compile(r"[a-z][a-z0-9_]*?(_\d+){2,4}")


def decode_tuning_key(key: str) -> str | None:
    """`conv2d_3x3_opencl_kernel_1_112_112_32` from its obfuscated form, when the decoding looks like a kernel
    name followed by an output shape; None when it does not (a key that was never obfuscated, or a guess)."""
    if key == QUEUE_WINDOW_KEY:
        return None
    plain = deobfuscate(key)
    return plain if plain and plain != key and _TUNING_KEY.fullmatch(plain) else None


@dataclass
class ProgramKey:
    cl_file: str  # the .cl file's base name
    options: list[str]  # build options in the order MACE sorted them ("" where MACE wrote an empty option)
    kernel: str | None  # the kernel symbol, recovered from its -D<kernel>=<obfuscated> option


def split_program_key(key: str) -> ProgramKey:
    cl_file, *options = key.split(" ")
    kernel = None
    for option in options:
        symbol, _, value = option[2:].partition("=")
        if option.startswith("-D") and value and deobfuscate(value) == symbol:
            kernel = symbol
    return ProgramKey(cl_file, options, kernel)
