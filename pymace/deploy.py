"""The deployment YAML (MACE's keys, docs/yaml.md): parsing with line numbers, and `convert_config`.

The file is composed into YAML nodes (never constructed into arbitrary objects), so every error can name the
key and its line, and an unknown key — usually a typo — stops the run instead of being ignored."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError, PymaceError
from .safe_io import read_text_bounded

log = logging.getLogger(__name__)

PLATFORMS = ("onnx", "tflite", "pytorch")
RUNTIMES = ("gpu", "cpu")
DATA_TYPES = ("fp32_fp32", "fp16_fp32")
TOP_KEYS = ("library_name", "models", "storage_dir")
MODEL_KEYS = ("platform", "model_file_path", "model_sha256_checksum", "subgraphs", "runtime", "data_type",
              "limit_opencl_kernel_time", "validation_threshold")
SUBGRAPH_KEYS = ("input_tensors", "input_shapes", "input_data_formats", "output_tensors", "output_shapes")
# MACE keys that only steer MACE's own build, packaging or test harness (docs/yaml.md): accepted, one warning.
BUILD_ONLY_KEYS = ("target_abis", "target_socs", "model_graph_format", "model_data_format", "build_type",
                   "linkshared", "embed_model_data", "obfuscate", "winograd", "nnlib_graph_mode", "backend",
                   "input_ranges", "validation_inputs_data", "cl_mem_type", "opencl_binary_paths",
                   "opencl_parameter_path")
_INT_TAG = "tag:yaml.org,2002:int"  # an unquoted integer (a quoted "4" is a one-dimensional shape)
MAX_YAML_BYTES = 4 << 20
MODEL_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


@dataclass
class Subgraph:
    input_tensors: list[str] = field(default_factory=list)
    input_shapes: list[list[int]] = field(default_factory=list)
    input_data_formats: list[str] = field(default_factory=list)
    output_tensors: list[str] = field(default_factory=list)
    output_shapes: list[list[int]] = field(default_factory=list)


@dataclass
class ModelConfig:
    name: str
    platform: str
    model_file_path: Path
    model_sha256_checksum: str | None = None
    subgraphs: list[Subgraph] = field(default_factory=list)
    runtime: str = "gpu"
    data_type: str = "fp32_fp32"
    limit_opencl_kernel_time: int = 0
    validation_threshold: dict[str, float] = field(default_factory=dict)

    def input_shapes(self) -> dict[str, list[int]]:
        return {n: s for sg in self.subgraphs for n, s in zip(sg.input_tensors, sg.input_shapes)}


@dataclass
class DeployConfig:
    path: Path
    library_name: str
    models: dict[str, ModelConfig]
    storage_dir: Path | None = None


class _Reader:
    """Typed access to composed YAML nodes; every error names the file, the key and its line."""

    def __init__(self, path: Path):
        self.path = path
        self.unknown: list[tuple[int, str, str, tuple[str, ...]]] = []  # (line, key, where, known keys)
        self.build_only: list[tuple[int, str]] = []  # (line, key)

    def fail(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {message}")

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None) -> dict[str, tuple]:
        """{key: (key node, value node)}; unknown and repeated keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.fail(k, f"a key of {what} is not a plain name")
            key = str(k.value)
            if "\0" in key:
                raise self.fail(k, f"a key of {what} holds a NUL character")
            if allowed is not None and key not in allowed:
                self._set_aside(k, key, what, allowed)
                continue
            if key in out:
                raise self.fail(k, f"key {key!r} appears twice in {what}")
            out[key] = (k, v)
        return out

    def _set_aside(self, key_node: yaml.Node, key: str, what: str, allowed: tuple[str, ...]) -> None:
        """A key pymace does not read: MACE's build-only keys are noted for one warning, the rest for one error."""
        line = key_node.start_mark.line + 1
        if key in BUILD_ONLY_KEYS:
            self.build_only.append((line, key))
        else:
            self.unknown.append((line, key, what, allowed))

    def report_set_aside(self) -> None:
        """One warning naming the build-only keys; one error listing every unknown key with its line."""
        if self.build_only:
            keys = ", ".join(f"{key} (line {line})" for line, key in self.build_only)
            log.warning("%s: MACE build-only keys accepted and ignored (pymace builds for the device at run time): "
                        "%s", self.path, keys)
        if self.unknown:
            listed = "; ".join(f"{key!r} in {what} (line {line})" for line, key, what, _ in self.unknown)
            known = {what: allowed for _, _, what, allowed in self.unknown}
            raise ConfigError(f"{self.path}:{self.unknown[0][0]}: unknown key{'s' if len(self.unknown) > 1 else ''} "
                              f"{listed}. Known keys: " + "; ".join(f"{what}: {', '.join(keys)}"
                                                                    for what, keys in known.items()))

    def scalar(self, node: yaml.Node, key: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{key} must be a single value")
        if "\0" in str(node.value):  # a "\0" escape: no path or name may hold a NUL
            raise self.fail(node, f"{key} holds a NUL character")
        return str(node.value)

    def choice(self, node: yaml.Node, key: str, choices: tuple[str, ...]) -> str:
        value = self.scalar(node, key).lower()
        if value not in choices:
            raise self.fail(node, f"{key} is {value!r}; expected one of {', '.join(choices)}")
        return value

    def number(self, node: yaml.Node, key: str, kind=float):
        try:
            return kind(self.scalar(node, key))
        except ValueError:
            raise self.fail(node, f"{key} must be a number, not {node.value!r}") from None

    def names(self, node: yaml.Node, key: str) -> list[str]:
        """A list of names, as a YAML list or MACE's comma-separated string."""
        if isinstance(node, yaml.SequenceNode):
            return [self.scalar(n, key) for n in node.value]
        return [s.strip() for s in self.scalar(node, key).split(",") if s.strip()]

    def shapes(self, node: yaml.Node, key: str) -> list[list[int]]:
        """Shapes as MACE writes them ("1,224,224,3" per tensor, alone or in a list) or as YAML lists of ints:
        [1, 224, 224, 3] is one shape, [[1, 4], [1, 2]] two."""
        one_list = isinstance(node, yaml.SequenceNode) and node.value and all(
            isinstance(d, yaml.ScalarNode) and d.tag == _INT_TAG for d in node.value)
        items = node.value if isinstance(node, yaml.SequenceNode) and not one_list else [node]
        out = []
        for item in items:
            try:
                if isinstance(item, yaml.SequenceNode):
                    out.append([int(self.scalar(d, key)) for d in item.value])
                else:
                    out.append([int(d) for d in self.scalar(item, key).split(",")])
            except ValueError:
                raise self.fail(item, f"{key}: {item.value!r} is not a shape (e.g. 1,3,224,224)") from None
        return out


def load_config(path: str | Path) -> DeployConfig:
    """Parse and check a deployment YAML; paths in it are relative to the YAML file."""
    path = Path(path)
    try:
        root = yaml.compose(read_text_bounded(path, MAX_YAML_BYTES), Loader=yaml.SafeLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a deployment file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if root is None:
        raise ConfigError(f"{path}: empty deployment file")
    r = _Reader(path)
    top = r.mapping(root, "the deployment file", TOP_KEYS)
    if "models" not in top:
        r.report_set_aside()  # a misspelt `models` is named with the other unknown keys
        raise ConfigError(f"{path}: no `models:` section")
    models = {_model_name(r, name, k): _model(r, path.parent, name, k, v)
              for name, (k, v) in r.mapping(top["models"][1], "models", None).items()}
    if not models:
        raise r.fail(top["models"][0], "models is empty")
    library = r.scalar(top["library_name"][1], "library_name") if "library_name" in top else path.stem
    storage = path.parent / r.scalar(top["storage_dir"][1], "storage_dir") if "storage_dir" in top else None
    r.report_set_aside()
    return DeployConfig(path, library, models, storage)


def _model_name(r: _Reader, name: str, key_node) -> str:
    """A model's name becomes the file `<out>/<name>.pmace`: letters, digits, `_`, `.`, `-`, not starting with a
    dot, so that it can name no other folder (`../x`, `/abs/x`) and no hidden file."""
    if not MODEL_NAME.fullmatch(name):
        raise r.fail(key_node, f"model name {name[:60]!r}: use letters, digits, '_', '.' and '-', not starting "
                               "with '.'")
    return name


def _model(r: _Reader, base: Path, name: str, key_node, node) -> ModelConfig:
    m = r.mapping(node, f"model {name!r}", MODEL_KEYS)
    for required in ("platform", "model_file_path"):
        if required not in m:
            r.report_set_aside()  # a misspelt required key is named with the other unknown keys
            raise r.fail(key_node, f"model {name!r} needs `{required}`")
    cfg = ModelConfig(name, r.choice(m["platform"][1], "platform", PLATFORMS),
                      base / r.scalar(m["model_file_path"][1], "model_file_path"))
    if "model_sha256_checksum" in m:
        cfg.model_sha256_checksum = r.scalar(m["model_sha256_checksum"][1], "model_sha256_checksum").lower()
    if "runtime" in m:
        cfg.runtime = r.choice(m["runtime"][1], "runtime", RUNTIMES)
    if "data_type" in m:
        cfg.data_type = r.choice(m["data_type"][1], "data_type", DATA_TYPES)
    if "limit_opencl_kernel_time" in m:
        cfg.limit_opencl_kernel_time = r.number(m["limit_opencl_kernel_time"][1], "limit_opencl_kernel_time", int)
    if "validation_threshold" in m:
        cfg.validation_threshold = _thresholds(r, m["validation_threshold"][1])
    if "subgraphs" in m:
        cfg.subgraphs = _subgraphs(r, m["subgraphs"][1])
    return cfg


def _thresholds(r: _Reader, node) -> dict[str, float]:
    """MACE writes {CPU: 0.999, GPU: 0.995}; a single number applies to every runtime."""
    if isinstance(node, yaml.ScalarNode):
        value = r.number(node, "validation_threshold")
        return {rt.upper(): value for rt in RUNTIMES}
    items = r.mapping(node, "validation_threshold", None)
    return {k.upper(): r.number(v, f"validation_threshold.{k}") for k, (_, v) in items.items()}


def _subgraphs(r: _Reader, node) -> list[Subgraph]:
    if not isinstance(node, yaml.SequenceNode):
        raise r.fail(node, "subgraphs must be a list")
    out = []
    for item in node.value:
        s = r.mapping(item, "a subgraph", SUBGRAPH_KEYS)
        sg = Subgraph()
        for key in ("input_tensors", "output_tensors", "input_data_formats"):
            if key in s:
                setattr(sg, key, r.names(s[key][1], key))
        for key in ("input_shapes", "output_shapes"):
            if key in s:
                setattr(sg, key, r.shapes(s[key][1], key))
        for side in ("input", "output"):
            tensors, shapes = getattr(sg, f"{side}_tensors"), getattr(sg, f"{side}_shapes")
            if len(shapes) not in (0, len(tensors)):
                raise r.fail(s[f"{side}_shapes"][1], f"{len(tensors)} {side}_tensors but {len(shapes)} {side}_shapes")
        out.append(sg)
    return out


def check_model_file(m: ModelConfig) -> None:
    """The model file exists and, when the YAML pins it, has the pinned sha256."""
    from .tools.zoo import sha256_file

    if not m.model_file_path.is_file():
        raise ConfigError(f"model {m.name!r}: model_file_path {m.model_file_path} does not exist")
    if m.model_sha256_checksum:
        digest = sha256_file(m.model_file_path)
        if digest != m.model_sha256_checksum:
            raise ConfigError(f"model {m.name!r}: {m.model_file_path.name} has sha256 {digest}, the YAML pins "
                              f"{m.model_sha256_checksum}")


def convert_config(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Convert every model of a deployment YAML to `<out_dir>/<name>.pmace` (default: beside the YAML)."""
    from .ir import pmace_file
    from .tools.convert import convert

    config = load_config(path)
    out_dir = Path(out_dir) if out_dir is not None else config.path.parent
    written = []
    for m in config.models.values():
        check_model_file(m)
        meta = {"library_name": config.library_name, "model_name": m.name, "runtime": m.runtime,
                **_storage_metadata(config.storage_dir),
                "data_type": m.data_type, "limit_opencl_kernel_time": m.limit_opencl_kernel_time,
                "validation_threshold": m.validation_threshold,
                "input_data_formats": {n: f for sg in m.subgraphs
                                       for n, f in zip(sg.input_tensors, sg.input_data_formats)}}
        outputs = [o for sg in m.subgraphs for o in sg.output_tensors]
        try:
            graph = convert(m.model_file_path, input_shapes=m.input_shapes() or None, metadata=meta,
                            outputs=outputs or None)
        except PymaceError as e:
            raise type(e)(f"model {m.name!r}: {e}") from None
        _check_output_shapes(graph, m)
        target = out_dir / f"{m.name}.pmace"
        pmace_file.save(graph, str(target))
        log.info("model %s → %s (%d nodes)", m.name, target, len(graph.nodes))
        written.append(target)
    return written


def _storage_metadata(storage_dir: Path | None) -> dict:
    """The YAML's storage_dir as the model records it, with this user's tag (pymace/trust.py): only this user's
    own conversions can choose where caches are loaded from."""
    if storage_dir is None:
        return {"storage_dir": None}
    from .trust import storage_dir_tag

    path = str(storage_dir.resolve())
    return {"storage_dir": path, "storage_dir_tag": storage_dir_tag(path)}


def _check_output_shapes(graph, m: ModelConfig) -> None:
    for sg in m.subgraphs:
        for name, want in zip(sg.output_tensors, sg.output_shapes):
            got = graph.tensors[name].shape
            if got is not None and list(got) != list(want):
                raise ConfigError(f"model {m.name!r}: output {name!r} has shape {list(got)}, the YAML says {want}")
