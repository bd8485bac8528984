#!/bin/bash
# Before/after of two pymace trees on the CPU: benchmarks/cpu_sweep.py, one model a process, the two trees
# alternating per model and their order flipped every round; each run times pymace and the reference
# alternately in one process, so each ratio pymace/reference carries the machine's load of that moment.
#   benchmarks/cpu_ab.sh BEFORE_TREE AFTER_TREE model1,model2,... [rounds=2] [data types=fp32] [out=/tmp/cpu-ab]
#   python benchmarks/cpu_sweep.py --compare '/tmp/cpu-ab/before-*.json' '/tmp/cpu-ab/after-*.json'
# BEFORE_TREE needs a copy of this tree's benchmarks/cpu_sweep.py (e.g. `git archive main | tar -x -C DIR`).
set -u
BEFORE="$1"; AFTER="$2"; MODELS="$3"; ROUNDS="${4:-2}"; DT="${5:-fp32}"; OUT="${6:-/tmp/cpu-ab}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
for r in $(seq 1 "$ROUNDS"); do
  for m in ${MODELS//,/ }; do
    if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
    for t in $order; do
      if [ "$t" = before ]; then dir="$BEFORE"; else dir="$AFTER"; fi
      (cd "$dir" && PYTHONPATH="$dir" timeout 900 "$PY" benchmarks/cpu_sweep.py --models "$m" --reps 5 --budget 3 \
        --data-types "$DT" --storage "$OUT/storage-$t" --json "$OUT/$t-$m-$r.json" > "$OUT/$t-$m-$r.out" 2>&1)
      echo "$(date +%T) $t $m round $r load $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/progress.log"
    done
  done
done
