#!/usr/bin/env bash
# Issue 16's tables from one call on the lent NVIDIA machine, within about 8 minutes (the GPU tool's per-command
# limit is 10). Here first: `bash benchmarks/gpu_carry.sh` (fills .whl/ and .gpu/); then on the GPU machine, with
# carry [".whl", ".gpu"]:
#     bash benchmarks/gpu_machine.sh bash benchmarks/gpu_issue16.sh [total seconds, default 450]
# 1. gpu_sweep over every torchvision architecture (benchmarks/gpu_sweep.py MODELS: the 11 of the baseline and
#    ConvNeXt-T, ViT-B/16, Swin-T), fp32 and fp16, the default GPU plan and "before" (the baseline's plan:
#    SeparableConv only): ms, ÷ CUDA graph, ÷ eager, launches, ÷ convs, cosine, geomeans.
# 2. split_last_check: are the in-kernel split-K sums safe here (PTX fences, bit-exact runs)?
# 3. gpu_sweep fp32 with each device fusion off in turn and the split-K sums on, on the models they touch
#    (a variant whose plan equals the default's is not timed again), each against the default plan.
# SPLIT_LAST_CHECK=0 skips step 2; ABLATION_MODELS and ABLATION_VARIANTS replace step 3's lists.
# Each step starts no model past its share of the time, and a step stopped by `timeout` still prints its tables.
set -uo pipefail
cd "$(dirname "$0")/.."
total=${1:-450}
work=/tmp/pymace-gpu-sweep
storage=$work/storage  # one program cache for all three steps: later steps reuse the programs built before
mkdir -p "$storage"
left() { echo $((total - SECONDS)); }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader || true
git log -1 --format='pymace %h %s' 2>/dev/null || true

echo "== 1. sweep: default and before, fp32 and fp16 =="
timeout -k 15 $(( $(left) - 120 )) python3 benchmarks/gpu_sweep.py --work "$work" --storage-dir "$storage" \
  --variants default,before --data-types fp32,fp16 --runs 100 --rounds 3 --budget-s $(( $(left) - 190 ))

if [[ ${SPLIT_LAST_CHECK:-1} == 1 ]]; then
  echo "== 2. split_last_check ($(left) s left) =="
  timeout -k 15 $(( $(left) > 160 ? 60 : $(left) / 3 )) python3 benchmarks/split_last_check.py --runs 300
fi

echo "== 3. each fusion off, split-K sums on, fp32 ($(left) s left) =="
models=efficientnet_b0,densenet121,shufflenet_v2_x1_0,googlenet,mobilenet_v3_large,regnet_y_400mf,squeezenet1_1
models=${ABLATION_MODELS:-$models,mobilenet_v2,resnet50}
variants=${ABLATION_VARIANTS:-default,no-silu,no-se,no-prologue,no-concat,no-shuffle,split-last}
timeout -k 15 $(( $(left) - 5 )) python3 benchmarks/gpu_sweep.py --work "$work" --storage-dir "$storage" \
  --models "$models" --variants "$variants" --data-types fp32 --runs 100 --rounds 3 --budget-s $(( $(left) - 60 ))
echo "done in $SECONDS s"
