#!/usr/bin/env bash
# The paper's GPU comparison in one command (issue 22), for one GPU in about 10 minutes:
#   1. verify: `sptx verify` for every model x CUDA backend of sparse (fused = the Triton kernels on CUDA,
#      triton-sorted, torch, segment, dgl where it imports), one process (benchmarks/gpu_verify.py);
#   2. compare: `sptx sweep gpu --scale paper` (harness/grids/gpu.toml): every framework on FB15k-237 at the
#      paper's GPU settings (TransE d=1024 B=393,216 clamped to the split; TransR d=128 B=65,536; TransH d=128
#      B=32,768; TorusE d=1024 B=393,216), one fresh process per cell as `sptx compare` measures them, with
#      CUDA-event step times and peak GPU memory; cells that run out of memory are recorded as oom;
#   3. report: `sptx report --paper-gpu` into reports/gpu-DATE/ (speedups and memory ratios beside the paper's GPU
#      figures, the verification table as a section).
# Without a CUDA device (or with --dry-run) it runs the same three stages on CPU at tiny sizes (a synthetic graph
# of 40 entities, d=8; the `dry` scale of the grid; the Triton backend through its interpreter), into
# reports/gpu-dry-DATE/: about 5 minutes on 2 cores, well under one for a subset (the suite's test).
# --budget SECONDS (default 570) bounds verify and the sweep together: at the budget the sweep is interrupted
# (the cells done are kept; --resume measures the rest later) and the report is written from what finished.
#
#   bash benchmarks/gpu.sh [--dry-run] [--data-dir DIR] [--out DIR] [--results FILE] [--models a,b]
#                          [--frameworks a,b] [--budget SECONDS] [--resume]
# Exit status: 0 when every verification passed and every stage ran (cells may be oom: that is a result), 1 when
# a verification failed or the report could not be written, 2 on a usage error.
set -uo pipefail

DRY=0
DATA_DIR=""
OUT=""
RESULTS=""
MODELS=""
FRAMEWORKS=""
RESUME=""
BUDGET=570
PYTHON=${PYTHON:-python}
SPTX=${SPTX:-sptx}

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --data-dir) DATA_DIR=$2; shift ;;
    --out) OUT=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --models) MODELS=$2; shift ;;
    --frameworks) FRAMEWORKS=$2; shift ;;
    --resume) RESUME=--resume ;;
    --budget) BUDGET=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

HAS_CUDA=$($PYTHON -c "import torch; print(int(torch.cuda.is_available()))") || { echo "gpu.sh: torch does not import" >&2; exit 2; }
if [ "$DRY" = 0 ] && [ "$HAS_CUDA" = 0 ]; then
  echo "gpu.sh: no CUDA device here: running the dry run (the same stages on CPU at tiny sizes)"
  DRY=1
fi

DATE=$(date -u +%Y-%m-%d)
if [ "$DRY" = 1 ]; then
  DEVICE=cpu SCALE=dry TAG=gpu-dry-$DATE
  VERIFY_ARGS=(--dataset "synthetic:entities=40,relations=5,triples=400" --dim 8 --batch-size 32)
  # the Triton backend's kernels through Triton's interpreter (must be set before they are imported)
  if $PYTHON -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('triton') is None)"; then
    export TRITON_INTERPRET=1
  fi
else
  DEVICE=cuda SCALE=paper TAG=gpu-$DATE
  VERIFY_ARGS=(--dataset FB15k-237 --dim 128 --batch-size 4096)
fi
OUT=${OUT:-reports/$TAG}
RESULTS=${RESULTS:-results/$TAG.jsonl}
DATA_ARGS=()
[ -n "$DATA_DIR" ] && DATA_ARGS=(--data-dir "$DATA_DIR")
SWEEP_FILTERS=()
[ -n "$MODELS" ] && SWEEP_FILTERS+=(--models "$MODELS")
[ -n "$FRAMEWORKS" ] && SWEEP_FILTERS+=(--frameworks "$FRAMEWORKS")
mkdir -p "$OUT" "$(dirname "$RESULTS")"
case "$BUDGET" in ''|*[!0-9]*) echo "gpu.sh: --budget takes whole seconds" >&2; exit 2 ;; esac
STARTED=$(date +%s)
elapsed() { echo "$(( $(date +%s) - STARTED )) s"; }
left() { echo $(( BUDGET - ($(date +%s) - STARTED) )); }
# SIGINT at the limit (sptx and gpu_verify keep what they finished), SIGKILL 30 s later
bounded() { local limit=$1; shift; [ "$limit" -lt 10 ] && limit=10; timeout --signal=INT --kill-after=30 "$limit" "$@"; }

echo "== 1/3 verify on $DEVICE ($(elapsed), budget ${BUDGET} s)"
VERIFY_MODELS=()
[ -n "$MODELS" ] && VERIFY_MODELS=(--models "$MODELS")
bounded $(( BUDGET / 4 )) $PYTHON benchmarks/gpu_verify.py --device "$DEVICE" "${VERIFY_ARGS[@]}" "${DATA_ARGS[@]}" \
  "${VERIFY_MODELS[@]}" --out "$OUT/verify.md"
VERIFY_STATUS=$?

echo "== 2/3 compare: sptx sweep gpu --scale $SCALE --device $DEVICE ($(elapsed), $(left) s of the budget left)"
bounded "$(left)" $SPTX sweep gpu --scale "$SCALE" --device "$DEVICE" "${DATA_ARGS[@]}" "${SWEEP_FILTERS[@]}" \
  --out "$RESULTS" $RESUME
SWEEP_STATUS=$?  # 1 when a cell failed (oom at the paper's sizes is a result, not a failure of this script)
if [ $SWEEP_STATUS = 124 ] || [ $SWEEP_STATUS = 130 ]; then
  echo "gpu.sh: the time budget ran out during the sweep: the report covers the cells that finished; rerun with" \
       "--resume (and --results $RESULTS) to measure the rest"
fi

echo "== 3/3 report ($(elapsed))"
TITLE="GPU comparison (benchmarks/gpu.sh) on $DEVICE, $DATE"
[ "$DRY" = 1 ] && TITLE="GPU comparison, dry run on CPU at tiny sizes (benchmarks/gpu.sh --dry-run), $DATE"
SECTIONS=()
[ -f "$OUT/verify.md" ] && SECTIONS=(--section "$OUT/verify.md")
$SPTX report "$RESULTS" --out "$OUT" --paper-gpu --title "$TITLE" "${SECTIONS[@]}"
REPORT_STATUS=$?

echo "gpu.sh: $TAG in $(elapsed): verify $([ $VERIFY_STATUS = 0 ] && echo passed || echo FAILED), sweep status" \
     "$SWEEP_STATUS (1 = some cells not ok, see the report), report $([ $REPORT_STATUS = 0 ] && echo written || echo FAILED)" \
     "-> $OUT/README.md, records $RESULTS"
if [ $VERIFY_STATUS != 0 ] || [ $REPORT_STATUS != 0 ]; then
  exit 1
fi
exit 0
