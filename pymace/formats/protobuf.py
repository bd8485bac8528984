"""A bounds-checked reader for the two protobuf messages of MACE ≥ v1.1's key/value files:

    message KVPair { optional string key = 1; optional bytes bytes_value = 2;
                     repeated uint32 uint32s_value = 3; }
    message PairContainer { repeated KVPair pairs = 1; }

Only what those messages need: varints, length-delimited fields, and skipping the fixed-width and unknown
fields a newer writer might add. Groups (wire types 3 and 4) are refused: neither message has one.
"""
from dataclasses import dataclass, field

from pymace.formats import ByteReader, FormatError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


@dataclass
class KVPair:
    key: str = ""
    bytes_value: bytes = b""
    uint32s_value: list[int] = field(default_factory=list)


def read_varint(reader: ByteReader) -> int:
    value = 0
    for shift in range(0, 70, 7):  # at most 10 bytes encode 64 bits
        byte = reader.take(1, "varint")[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF
    raise FormatError(f"varint longer than 10 bytes ending at offset {reader.offset}")


def fields(data: bytes):
    """Yield (field number, wire type, value): an int for varints and fixed fields, else bytes."""
    reader = ByteReader(data)
    while reader.left:
        tag = read_varint(reader)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise FormatError(f"field number 0 at offset {reader.offset}")
        if wire == VARINT:
            yield number, wire, read_varint(reader)
        elif wire == LENGTH:
            yield number, wire, reader.take(read_varint(reader), f"field {number}")
        elif wire == FIXED64:
            yield number, wire, int.from_bytes(reader.take(8, f"field {number}"), "little")
        elif wire == FIXED32:
            yield number, wire, int.from_bytes(reader.take(4, f"field {number}"), "little")
        else:
            raise FormatError(f"wire type {wire} (field {number}) before offset {reader.offset}")


def parse_kv_pair(data: bytes) -> KVPair:
    pair = KVPair()
    for number, wire, value in fields(data):
        if (number, wire) == (1, LENGTH):
            pair.key = value.decode("utf-8", "replace")
        elif (number, wire) == (2, LENGTH):
            pair.bytes_value = value
        elif (number, wire) == (3, VARINT):  # MACE writes one tag per element
            pair.uint32s_value.append(value & 0xFFFFFFFF)
        elif (number, wire) == (3, LENGTH):  # the packed form, which other protobuf writers choose
            packed = ByteReader(value)
            while packed.left:
                pair.uint32s_value.append(read_varint(packed) & 0xFFFFFFFF)
        elif number in (1, 2, 3):
            raise FormatError(f"KVPair field {number} has wire type {wire}")
    return pair


def parse_pair_container(data: bytes) -> list[KVPair]:
    pairs = []
    for number, wire, value in fields(data):
        if number == 1:
            if wire != LENGTH:
                raise FormatError(f"PairContainer field 1 has wire type {wire}")
            pairs.append(parse_kv_pair(value))
    return pairs
