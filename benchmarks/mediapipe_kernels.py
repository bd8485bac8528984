"""LiteRT with MediaPipe's own custom-op kernels, for models that use them (face_landmark_with_attention): the
reference the sweep and tests compare pymace with.

LiteRT does not ship MediaPipe's ops (Landmarks2TransformMatrix, TransformTensorBilinear, TransformLandmarks).
The pinned mediapipe wheel's `_framework_bindings` library holds their CPU kernels (and keeps its symbol table);
this module loads it, calls its `Register*V2()` functions for the kernels' TfLiteRegistration, and adds them to
LiteRT's op resolver through `tflite::MutableOpResolver::AddCustom` in LiteRT's own library, found the same way.
Both are local symbols, read from the ELF symbol tables here. Nothing of MediaPipe's is imported as Python.

    interp = interpreter("face_landmark_with_attention.tflite", bindings_path)  # a LiteRT Interpreter
"""
from __future__ import annotations

import ctypes
import os
import struct
import zipfile
from pathlib import Path

BINDINGS = "mediapipe/python/_framework_bindings.cpython-311-x86_64-linux-gnu.so"
LIBS = "mediapipe.libs/"
REGISTRATIONS = {  # custom op name → (version, MediaPipe's registration function, mangled)
    "Landmarks2TransformMatrix": (2, "_ZN9mediapipe17tflite_operations36RegisterLandmarksToTransformMatrixV2Ev"),
    "TransformTensorBilinear": (2, "_ZN9mediapipe17tflite_operations33RegisterTransformTensorBilinearV2Ev"),
    "TransformLandmarks": (2, "_ZN9mediapipe17tflite_operations28RegisterTransformLandmarksV2Ev"),
}
ADD_CUSTOM = "_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi"
CUSTOM_OPS = {f"CUSTOM:{k}" for k in REGISTRATIONS}


def extract(wheel: str | os.PathLike, into: str | os.PathLike) -> Path:
    """The kernels' library (and the GL libraries it links) unpacked from the mediapipe wheel into `into`."""
    into = Path(into)
    target = into / BINDINGS
    if not target.exists():
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name == BINDINGS or name.startswith(LIBS):
                    z.extract(name, into)
    return target


def symbols(path: str | os.PathLike, wanted: set[str]) -> dict[str, int]:
    """Values (offsets from the load address) of the named symbols in an ELF64 shared object's .symtab."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise RuntimeError(f"{path}: not an ELF64 file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize) for k in range(shnum)]
    found = {}
    for sec in sections:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sec[6]]
        names_at, size, entsize = strtab[4], sec[5], sec[9]
        for off in range(sec[4], sec[4] + size, entsize):
            name_off, _, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", names_at + name_off)
            name = data[names_at + name_off:end].decode(errors="replace")
            if name in wanted:
                found[name] = value
    missing = wanted - set(found)
    if missing:
        raise RuntimeError(f"{path}: no symbols {sorted(missing)}")
    return found


def _load_address(path: str | os.PathLike) -> int:
    real = os.path.realpath(path)
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and int(fields[2], 16) == 0 and os.path.realpath(fields[5]) == real:
                return int(fields[0].split("-")[0], 16)
    raise RuntimeError(f"{path} is not loaded")


def registerer(bindings: str | os.PathLike):
    """A LiteRT custom-op registerer (a callable taking the op resolver's address) adding MediaPipe's kernels."""
    import ai_edge_litert

    ctypes.CDLL(str(bindings), mode=ctypes.RTLD_LOCAL)
    mp_base = _load_address(bindings)
    regs = symbols(bindings, {sym for _, sym in REGISTRATIONS.values()})
    kernels = {name: (version, ctypes.CFUNCTYPE(ctypes.c_void_p)(mp_base + regs[sym])())
               for name, (version, sym) in REGISTRATIONS.items()}
    litert = os.path.join(os.path.dirname(ai_edge_litert.__file__), "libpywrap_litert_common.so")
    add = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)(
        _load_address(litert) + symbols(litert, {ADD_CUSTOM})[ADD_CUSTOM])
    names = {name: ctypes.c_char_p(name.encode()) for name in kernels}  # alive as long as the registerer

    def register(resolver: int) -> None:
        for name, (version, registration) in kernels.items():
            add(resolver, names[name], registration, version)

    register.names = names
    return register


def interpreter(model_path: str | os.PathLike, bindings: str | os.PathLike, num_threads: int | None = None):
    """A LiteRT Interpreter for `model_path` that runs MediaPipe's custom ops with MediaPipe's kernels."""
    from ai_edge_litert.interpreter import InterpreterWithCustomOps

    return InterpreterWithCustomOps(model_path=str(model_path), custom_op_registerers=[registerer(bindings)],
                                    num_threads=num_threads)
