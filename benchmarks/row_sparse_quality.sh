#!/usr/bin/env bash
# Does a row-sparse optimizer train TransE as well as dense Adam? (issue 19's MRR target)
#
#   benchmarks/row_sparse_quality.sh                 # 3 optimizers x 3 seeds, FB15k-237, 50 epochs
#   EPOCHS=2 SEEDS="0" benchmarks/row_sparse_quality.sh --out /tmp/check   # a short check of the script
#
# The quality.sh setting (TransE L2, d=128, 32768 x (1 + 4) Bernoulli negatives, margin 0.5, weight decay 1e-5,
# 2 threads), framework sparse[fused], with --optimizer adam-fused (dense, the paper's), adam-lazy and
# adagrad-rowwise, each at the same lr 0.01 and adagrad-rowwise also at lr 0.1 (Adagrad's usual scale: PBG and
# DGL-KE default to 0.1), seeds 0-2. Records go to OUT/row-sparse-quality.jsonl; the summary (test MRR per
# optimizer: median and 95% CI over seeds, paired difference to adam-fused) is printed and written to
# OUT/row-sparse-quality.md by `python -m harness.report.quality_compare OUT/row-sparse-quality.jsonl`.
set -euo pipefail
OUT=reports/row-sparse-quality
DATA_DIR=${SPTX_DATA_DIR:-../shared/datasets}
EPOCHS=${EPOCHS:-50}
SEEDS=${SEEDS:-"0 1 2"}
PYTHON=${PYTHON:-python}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"; exit 0 ;;
    *) echo "row_sparse_quality.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
RECORDS="$OUT/row-sparse-quality.jsonl"
mkdir -p "$OUT"
COMMON=(--model transe --dissimilarity L2 --dataset FB15k-237 --framework sparse --dim 128 --negatives 4
        --sampler bernoulli --threads 2 --allocator pinned --margin 0.5 --weight-decay 1e-5 --batch-size 32768
        --epochs "$EPOCHS" --eval-every 10 --eval-triples 2000 --data-dir "$DATA_DIR" --out "$RECORDS")
for seed in $SEEDS; do
  for opt_lr in adam-fused:0.01 adam-lazy:0.01 adagrad-rowwise:0.01 adagrad-rowwise:0.1; do
    "$PYTHON" -m harness train "${COMMON[@]}" --seed "$seed" --optimizer "${opt_lr%%:*}" --lr "${opt_lr##*:}"
  done
done
