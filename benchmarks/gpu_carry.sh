#!/usr/bin/env bash
# On the development machine: fill the two ignored folders that benchmarks/gpu_machine.sh needs on the GPU
# machine (which has no package registry): .whl/ with cp312 manylinux wheels of what its Python lacks, and
# .gpu/storage/zoo/ with the zoo's model files (fetched here first if needed). Pass both as `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
PY=${PY:-.venv/bin/python}
version() { "$PY" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }
wheels=()
for name in pyopencl pytools siphash24 platformdirs xxhash tflite ai-edge-litert; do
  v=$(version "$name")
  wheels+=("$name${v:+==$v}")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${wheels[@]}"
storage=$("$PY" -c 'from pymace.config import default_storage_dir; print(default_storage_dir())')
for model in mobilenet_v2 blazeface; do
  "$PY" -m pymace.cli zoo fetch "$model" >/dev/null
done
mkdir -p .gpu/storage/zoo
for dir in "$storage"/zoo/*/; do
  name=$(basename "$dir")
  [[ $name == light_* ]] && continue  # made from the onnx package, which the GPU machine has
  mkdir -p ".gpu/storage/zoo/$name"
  find "$dir" -maxdepth 1 -type f ! -name '*.pmace' -exec cp {} ".gpu/storage/zoo/$name/" \;
done
du -sh .whl .gpu
