#!/usr/bin/env bash
# Produce reports/quality/: does `sparse` train to the same quality as TorchKGE, and how much sooner?
#
#   benchmarks/quality.sh                      # the full run (see the runtime estimate below)
#   benchmarks/quality.sh --epochs 2           # a short end-to-end check of the script (any N)
#   benchmarks/quality.sh --out reports/quality-check --data-dir ../shared/datasets --threads 2
#
# What it runs (records appended to OUT/quality.jsonl, then `sptx report` writes OUT/):
#  1. TransE d=128 on FB15k-237 and on WN18RR, sparse and torchkge, the same setting for both
#     (final filtered test MRR, learning curves);
#  2. time to quality, TransE d=128 on FB15k-237: target = 90% of the best validation MRR TorchKGE reached
#     in step 1; both frameworks run again with --target-mrr and stop there;
#  3. TransH and TorusE d=128 on WN18RR, sparse and torchkge.
# The setting (one for every framework): Adam, margin ranking loss, Bernoulli negatives, the values below.
# Runtime estimate on the 2-core development VM with 2 threads: see README (Quality).
# Requires: the sptx package importable (pip install -e . or PYTHONPATH=<repo>), the datasets under --data-dir.
set -euo pipefail

OUT=reports/quality
DATA_DIR=${SPTX_DATA_DIR:-../shared/datasets}
THREADS=2
EPOCHS_FB=${EPOCHS_FB:-100}      # TransE on FB15k-237
EPOCHS_WN=${EPOCHS_WN:-100}      # every model on WN18RR
OVERRIDE_EPOCHS=""
PYTHON=${PYTHON:-python}
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) OVERRIDE_EPOCHS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "quality.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$OVERRIDE_EPOCHS" ]; then EPOCHS_FB=$OVERRIDE_EPOCHS; EPOCHS_WN=$OVERRIDE_EPOCHS; fi
RECORDS="$OUT/quality.jsonl"
mkdir -p "$OUT"
if [ -s "$RECORDS" ]; then
  echo "quality.sh: $RECORDS already holds records; move it away or pass another --out" >&2
  exit 2
fi

# The documented training setting, the same for every framework and model.
COMMON=(--dim 128 --batch-size 32768 --negatives 1 --sampler bernoulli --seed 0 --threads "$THREADS"
        --allocator pinned --lr 0.01 --margin 0.5 --weight-decay 1e-5 --data-dir "$DATA_DIR" --out "$RECORDS")
EVAL=(--eval-every 5 --eval-triples 2000)

train() { "$PYTHON" -m harness train "${COMMON[@]}" "$@"; }

for framework in sparse torchkge; do
  train --model transe --dataset FB15k-237 --framework "$framework" --epochs "$EPOCHS_FB" "${EVAL[@]}"
  train --model transe --dataset WN18RR --framework "$framework" --epochs "$EPOCHS_WN" "${EVAL[@]}"
done

# 90% of the best validation MRR TorchKGE reached on FB15k-237 in the run above.
TARGET=$("$PYTHON" - "$RECORDS" <<'PY'
import json, sys
best = 0.0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r.get("record_type") == "training" and r["framework"] == "torchkge" and r["status"] == "ok"
            and r["settings"]["dataset"] == "FB15k-237" and r["settings"]["model"] == "transe"):
        best = max([best] + [e["valid"]["both_mrr"] for e in r["epochs"] if e.get("valid")])
print(f"{0.9 * best:.4f}")
PY
)
echo "quality.sh: time-to-quality target = 90% of TorchKGE's best validation MRR = $TARGET"
for framework in sparse torchkge; do
  train --model transe --dataset FB15k-237 --framework "$framework" --epochs "$EPOCHS_FB" "${EVAL[@]}" \
    --target-mrr "$TARGET"
done

for model in transh toruse; do
  for framework in sparse torchkge; do
    train --model "$model" --dataset WN18RR --framework "$framework" --epochs "$EPOCHS_WN" "${EVAL[@]}"
  done
done

"$PYTHON" -m harness report "$RECORDS" --out "$OUT" --title "sptx quality: sparse vs TorchKGE, same setting"
