#!/usr/bin/env bash
# The aict-cpu (or ict-cpu) training chain of docs/aict.md, "Training at CPU size":
#   lambda 0.001 for 5,824 steps from the shipped swint-hyperprior-cpu v4 q2 (paper B.1: the
#   transforms and hyper prior; the slice networks and the scale module start fresh), then
#   forks of the whole model to lambda 0.003 and 0.0003 (1,500 steps each).
#
#   experiments/recipes/aict_cpu.sh [MODEL] [RUNS]        (defaults: aict-cpu runs)
#
# Every stage resumes its run folder if it has checkpoints, and is a no-op once done, so the
# chain can be re-run after an interruption. When the lambda-0.001 run folder is gone (a new
# machine) but its model was exported, INIT_001=zoo/aict-cpu/2/q1 skips that stage and starts
# the forks from the export.
# Environment: DATA (../shared/data), THREADS (1), PYTHON (python).
set -euo pipefail
MODEL=${1:-aict-cpu}
RUNS=${2:-runs}
PREFIX=${MODEL%-cpu}
DATA=${DATA:-../shared/data}
PYTHON=${PYTHON:-python}
COMMON=(--model "$MODEL" --data "$DATA/train" --patch_size 128 --lr_schedule cosine
        --warmup_steps 100 --learning_rate 1e-4 --final_learning_rate 1e-5 --clip_norm 1.0
        --eval_data "$DATA/kodak" --eval_every 500 --checkpoint_every 250
        --threads "${THREADS:-1}" --xla_elementwise)

START=${INIT_001:-$RUNS/$PREFIX-0.001}
if [ -z "${INIT_001:-}" ]; then
  "$PYTHON" experiments/train.py "${COMMON[@]}" --lmbda 0.001 --run_dir "$START" --steps 5824 \
      --init_from zoo/swint-hyperprior-cpu/4/q2
fi
for LMBDA in 0.003 0.0003; do
  "$PYTHON" experiments/train.py "${COMMON[@]}" --lmbda "$LMBDA" --run_dir "$RUNS/$PREFIX-$LMBDA" \
      --steps 1500 --init_from "$START"
done
