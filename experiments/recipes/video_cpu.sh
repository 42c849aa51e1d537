#!/usr/bin/env bash
# The P-frame training chain of docs/zoo.md, "Second recipe": one video config at lambda 0.001
# for 1,500 steps (flow loss on the first 500), the I-frame codec frozen at the shipped
# swint-hyperprior-cpu v4 q2 and, for SwinT residual codecs, the residual codec started from
# it; then forks of the whole P-frame model to lambda 0.003 (I frame q1) and 0.0003 (I frame
# q3), 500 steps each, no flow loss.
#
#   experiments/recipes/video_cpu.sh MODEL [RUNS] [PREFIX]
#   e.g. experiments/recipes/video_cpu.sh swint-ssf-res-cpu runs ssfres2
#
# Stages resume their run folders and are no-ops once done. Environment: DATA
# (../shared/data), THREADS (1), PYTHON (python).
set -euo pipefail
MODEL=${1:?usage: video_cpu.sh MODEL [RUNS] [PREFIX]}
RUNS=${2:-runs}
PREFIX=${3:-$MODEL}
DATA=${DATA:-../shared/data}
PYTHON=${PYTHON:-python}
ZOO_IMAGE=zoo/swint-hyperprior-cpu/4
COMMON=(--model "$MODEL" --data "$DATA/video/train" --patch_size 128 --batch_size 2 --frames 3
        --freeze_iframe --checkpoint_every 100 --threads "${THREADS:-1}" --lr_schedule cosine
        --learning_rate 1e-4 --final_learning_rate 1e-5 --clip_norm 1.0)
RESIDUAL=()
case "$MODEL" in
  conv-ssf*) ;;  # a convolutional residual codec has no image model of its shape to start from
  *) RESIDUAL=(--init_residual "$ZOO_IMAGE/q2") ;;
esac

"$PYTHON" experiments/train_video.py "${COMMON[@]}" --lmbda 0.001 --run_dir "$RUNS/$PREFIX-0.001" \
    --steps 1500 --flow_loss_steps 500 --warmup_steps 100 --init_iframe "$ZOO_IMAGE/q2" \
    "${RESIDUAL[@]}"
for FORK in 0.003:q1 0.0003:q3; do
  "$PYTHON" experiments/train_video.py "${COMMON[@]}" --lmbda "${FORK%:*}" \
      --run_dir "$RUNS/$PREFIX-${FORK%:*}" --steps 500 --flow_loss_steps 0 --warmup_steps 50 \
      --init_from "$RUNS/$PREFIX-0.001" --init_iframe "$ZOO_IMAGE/${FORK#*:}"
done
