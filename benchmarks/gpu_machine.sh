#!/usr/bin/env bash
# Set up pymace on the lent NVIDIA machine, then run the command given as arguments:
#     bash benchmarks/gpu_machine.sh python3 benchmarks/gpu.py --tune-budget 60
# That machine has Python with torch, numpy, onnx, onnxruntime but no pyopencl and no package registry: run
# benchmarks/gpu_carry.sh here first (it fills .whl/ with cp312 wheels of pyopencl, pytools, siphash24,
# platformdirs, xxhash, tflite, ai-edge-litert, and .gpu/storage/zoo/ with the zoo's model files) and carry both
# folders.
# NVIDIA's driver ships its OpenCL library without an .icd file; pymace's device discovery finds it, the ICD
# folder here is for pyopencl-level checks. Set CUDA_CACHE_DISABLE=1 yourself when a cold start is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p /tmp/icd
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
export OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-/tmp/icd}
export PYMACE_STORAGE_DIR=${PYMACE_STORAGE_DIR:-$PWD/.gpu/storage}
export PYMACE_TEST_DEVICE=${PYMACE_TEST_DEVICE:-gpu}
"$@"
