#!/usr/bin/env bash
# RotatE on WN18RR within 30 minutes of `sptx train` on a 2-core CPU (issue 20): the recipe, for `sparse` and for
# PyKEEN on the same recipe (identical work: same batches, negatives, initial parameters, loss and optimizer).
# d = 256 real parameters per entity row (128 complex), B = 1,024 positives x 64 uniform negatives, RotatE's
# self-adversarial loss (gamma 6, alpha 0.5), Adam lr 2e-3 without weight decay, 20 epochs (85 steps each),
# test filtered MRR over every entity at the end. RotatE paper: .476 at d = 1000 (500 complex) on a GPU.
#   SEEDS="0 1 2" FRAMEWORKS="sparse pykeen" DISSIMILARITY=L1 bash benchmarks/rotate_wn18rr.sh
set -euo pipefail
OUT=${OUT:-reports/beyond-translation/rotate-wn18rr.jsonl}
SEEDS=${SEEDS:-0}
FRAMEWORKS=${FRAMEWORKS:-sparse pykeen}
DISSIMILARITY=${DISSIMILARITY:-L1}
for seed in $SEEDS; do
  for framework in $FRAMEWORKS; do
    sptx train --framework "$framework" --model rotate --dissimilarity "$DISSIMILARITY" --dataset WN18RR \
      --dim 256 --batch-size 1024 --negatives 64 --sampler uniform --loss nssa --margin 6 \
      --adversarial-temperature 0.5 --optimizer adam-fused --lr 0.002 --weight-decay 0 --epochs 20 \
      --eval-every 0 --seed "$seed" --threads 2 --out "$OUT"
  done
done
