#!/usr/bin/env bash
# GPU checks of the video path (issue 4), about 5 minutes on one H100/H200:
#   (a) the gpu-marked tests: bf16 autocast, channels-last, float16 + scaler, torch.compile, trainer=gpu;
#   (b) training throughput of the Table 2 ConvLSTM (Moving-MNIST geometry: 10 -> 10 frames of
#       1 x 64 x 64, hidden 64, layers 2) at batch 4 and 32, fp32 vs bf16, then torch.compile
#       (default mode and reduce-overhead, i.e. CUDA graphs) at batch 4.
# Needs no download: the bench trains on generated moving squares of that geometry.
# Python: $PYTHON, else .venv/bin/python if it sees CUDA, else python3; the package runs from src/.
# Packages missing on a bare GPU image (hydra-core, omegaconf, antlr4) are read from .gpu_site/
# when that folder is present (carry it along). Results: $OUT (default outputs/gpu_check).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-outputs/gpu_check}
mkdir -p "$OUT"
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
        PYTHON=.venv/bin/python
    fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
[ -d .gpu_site ] && export PYTHONPATH="$PYTHONPATH:$PWD/.gpu_site"

"$PYTHON" - <<'PY' || { echo "gpu_check: the environment is not ready (see above)"; exit 2; }
import importlib, sys, torch
missing = [m for m in ("hydra", "omegaconf", "scipy", "matplotlib", "pytest") if importlib.util.find_spec(m) is None]
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"gpu {torch.cuda.get_device_name() if torch.cuda.is_available() else None}")
if missing or not torch.cuda.is_available():
    sys.exit(f"missing modules: {missing}; CUDA visible: {torch.cuda.is_available()}")
PY

status=0
echo "== (a) gpu-marked tests"
timeout 240 "$PYTHON" -m pytest -q -m gpu -rs -p no:cacheprovider tests/test_convlstm_gpu.py 2>&1 | tee "$OUT/gpu_tests.log" || status=1

echo "== (b) throughput, Table 2 ConvLSTM (layers 2, hidden 64, 10 -> 10 at 1x64x64)"
TABLE2=(model=convlstm data=mnist layers=2 --synthetic --frame-shape 1,64,64 --device cuda)
timeout 200 "$PYTHON" -m vidpred.bench "${TABLE2[@]}" --precision 32,bf16 --batch-size 4,32 \
    --warmup 20 --steps 300 --windows 5 --out "$OUT/bench_eager.json" 2>&1 | tee "$OUT/bench_eager.log" || status=1
echo "== (b) throughput with torch.compile, default and CUDA-graph modes (warm-up includes compiling)"
timeout 240 "$PYTHON" -m vidpred.bench "${TABLE2[@]}" --precision bf16 --compile on,reduce-overhead --batch-size 4 \
    --warmup 10 --steps 200 --windows 5 --out "$OUT/bench_compile.json" 2>&1 | tee "$OUT/bench_compile.log" || status=1
echo "gpu_check: done (status $status); results in $OUT"
exit $status
