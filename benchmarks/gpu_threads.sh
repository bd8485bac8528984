#!/usr/bin/env bash
# Issue 11's GPU figures from one call on the lent NVIDIA machine: one Engine shared by 1, 2, 4, 8 threads under
# each way concurrent runs can reach the device (docs/threads.md; PYMACE_SUBMIT_LOCK, PYMACE_SHARED_QUEUE,
# PYMACE_SUBMIT_THREAD), the
# thread test on the GPU under each, then benchmarks/gpu.py. Here first: `bash benchmarks/gpu_carry.sh`; there,
# with carry [".whl", ".gpu"]:
#     bash benchmarks/gpu_machine.sh bash benchmarks/gpu_threads.sh OUTDIR
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/pymace-threads}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
for mode in own:0:0:0 lock:1:0:0 shared:0:1:0 lock+shared:1:1:0 thread+shared:1:1:1; do
  IFS=: read -r name lock shared thread <<< "$mode"
  for dt in fp32 fp16; do
    echo "== threads: $name $dt =="
    PYMACE_SUBMIT_LOCK=$lock PYMACE_SHARED_QUEUE=$shared PYMACE_SUBMIT_THREAD=$thread \
      timeout 120 python3 benchmarks/threads.py --device gpu --data-type "$dt" --no-onnxruntime --seconds 2 2>&1 | tee "$out/threads-$name-$dt.txt"
  done
  echo "== test_threads: $name =="
  PYMACE_SUBMIT_LOCK=$lock PYMACE_SHARED_QUEUE=$shared PYMACE_SUBMIT_THREAD=$thread \
    timeout 120 python3 -m pytest -q -p no:cacheprovider \
    tests/runtime/test_threads.py 2>&1 | tail -3 | tee "$out/test-threads-$name.txt"
done
echo "== gpu.py =="
timeout 300 python3 benchmarks/gpu.py 2>&1 | tee "$out/gpu.txt"
echo "done in $SECONDS s"
