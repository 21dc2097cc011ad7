#!/usr/bin/env bash
# The GPU path in one short prepared run (issue 15): lens % of the GPU's own GEMM, a cold default
# `pytest claims/` on the device with its wall time, every verdict against the CPU baseline, and the
# expected cost of the hub panel from that cold time.
#
#   bash bench/gpu_check.sh                      # on a GPU machine with lmclaims + the offline models installed
#   DEVICE=cpu SKIP_LENS=1 PYTEST_ARGS="-k wv_wo" bash bench/gpu_check.sh   # the plumbing on CPU, one family
#   (with PYTEST_ARGS selecting a subset, the verdicts not run are listed "only in OLD" and step 3 exits 1)
#
# Output goes to $OUT (default /tmp/gpu_check). Tolerance for estimates: RTOL (default 1e-3 relative,
# floor 1). Why 1e-3: cuBLAS and MKL sum in different orders, which moves a float32 logit by ~1e-6
# relative and a per-text statistic by ~1e-5; the bootstrap is seeded, so the same measurements give the
# same intervals. 1e-3 leaves two orders of margin over that and still catches a wrong kernel. Statuses
# must match exactly. Exit status: that of the comparison (0 = every verdict equal within RTOL).
set -u
DEVICE=${DEVICE:-cuda}
RTOL=${RTOL:-1e-3}
OUT=${OUT:-/tmp/gpu_check}
PYTEST_ARGS=${PYTEST_ARGS:-}
SKIP_LENS=${SKIP_LENS:-}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."

echo "## environment"
date -u
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python - <<'PY' || { echo "lmclaims or torch missing: run 'bash setup.sh' (GPU: install your CUDA torch first)"; exit 3; }
import torch, lmclaims
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
PY

echo "## 1. lens readouts vs the device's own GEMM"
if [ -z "$SKIP_LENS" ]; then
    python bench/bench_lens.py --tables 0 --device "$DEVICE" --readout-baselines none --reps 5 | tee "$OUT/bench_lens_$DEVICE.txt"
fi

echo "## 2. cold default pytest claims/ on $DEVICE (fresh measurement cache)"
rm -rf "$OUT/cache" "$OUT/report"
start=$(date +%s)
# shellcheck disable=SC2086
python -m pytest claims/ -q -p no:cacheprovider --claims-device "$DEVICE" --claims-cache "$OUT/cache" \
    --claims-report-dir "$OUT/report" --durations=10 $PYTEST_ARGS > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? (1 = refuted claims, by design) in $(( $(date +%s) - start )) s"
tail -25 "$OUT/pytest.txt"

echo "## 3. every verdict vs the CPU baseline (statuses equal, estimates within rtol $RTOL)"
python -m lmclaims compare claims/baseline.json "$OUT/report/claims.json" --rtol "$RTOL" | tee "$OUT/compare.txt"
rc=${PIPESTATUS[0]}

echo "## 4. expected cost of the hub panel from this cold run"
python bench/panel_cost.py --report "$OUT/report/claims.json" --device-label "$DEVICE" | tee "$OUT/panel_cost.txt"
exit "$rc"
