#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go: about 8 minutes on one H200 with TRAIN_SIZE=1500 VAL_SIZE=200
# TEST_SIZE=1000 (the study's sizes, the default, train (b) about 7 times longer):
#   (a) training throughput on an idle GPU: the Table 2 ConvLSTM (10 -> 10 frames of 1 x 64 x 64,
#       hidden 64, 2 layers) at batch 4 and 32 in fp32 eager, bf16 eager and the trainer=gpu
#       default (bf16 + CUDA graphs), and the sequence LSTM in fp32 against bf16 (why trainer=gpu
#       keeps it in fp32);
#   (b) Moving MNIST, the study's Table 2 row: ConvLSTM with 1, 2 and 3 layers under trainer=gpu
#       (loss=mse) and the 2-layer cell again with loss=adversarial, in parallel; then the two
#       baselines and the report over them (tables + the mse-against-adversarial figure);
#   (c) the gpu-marked tests, while (b) trains (they check results, not speed).
# (b) needs the MNIST digits in $DATA_DIR/mnist (python -m vidpred.data download mnist); without the
# training file the training sequences come from digits 0-6999 of the test file (data.train_digits=
# test) and the test sequences are generated from the rest. Sizes: TRAIN_SIZE (sequences per epoch),
# VAL_SIZE, TEST_SIZE, EPOCHS; the study's are 10000 / 1000 / 10000 / 10 (the defaults here).
# RUN_LIMIT: seconds after which a training run is stopped (SIGTERM: last.pt saved; 0: no limit).
# Python: $PYTHON, else .venv/bin/python if it sees CUDA, else python3; the package runs from src/.
# Packages missing on a bare GPU image (hydra-core, omegaconf, antlr4) are read from .gpu_site/
# when that folder is present (carry it along). Results: $RESULTS (default outputs/gpu_check).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
RESULTS=${RESULTS:-outputs/gpu_check}
DATA_DIR=${DATA_DIR:-data}
TRAIN_SIZE=${TRAIN_SIZE:-10000} VAL_SIZE=${VAL_SIZE:-1000} TEST_SIZE=${TEST_SIZE:-10000} EPOCHS=${EPOCHS:-10} RUN_LIMIT=${RUN_LIMIT:-0}
mkdir -p "$RESULTS"
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
missing = [m for m in ("hydra", "omegaconf", "scipy", "matplotlib", "pandas", "pytest") if importlib.util.find_spec(m) is None]
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"gpu {torch.cuda.get_device_name() if torch.cuda.is_available() else None}")
if missing or not torch.cuda.is_available():
    sys.exit(f"missing modules: {missing}; CUDA visible: {torch.cuda.is_available()}")
PY

status=0
echo "== (a) throughput, Table 2 ConvLSTM (layers 2, hidden 64, 10 -> 10 at 1x64x64): eager, then the trainer=gpu default"
TABLE2=(model=convlstm data=mnist layers=2 --synthetic --frame-shape 1,64,64 --device cuda --warmup 10 --steps 100 --windows 5)
timeout 150 "$PYTHON" -m vidpred.perf.bench "${TABLE2[@]}" --precision 32,bf16 --batch-size 4,32 \
    --out "$RESULTS/bench_eager.json" 2>&1 | tee "$RESULTS/bench_eager.log" || status=1
timeout 200 "$PYTHON" -m vidpred.perf.bench "${TABLE2[@]}" --precision bf16 --compile reduce-overhead --batch-size 4,32 \
    --out "$RESULTS/bench_default.json" 2>&1 | tee "$RESULTS/bench_default.log" || status=1
echo "== (a) the sequence LSTM (sines, batch 64), fp32 against bf16"
for layers in 1 3; do
    timeout 60 "$PYTHON" -m vidpred.perf.bench model=lstm data=sins layers=$layers --synthetic --device cuda --precision 32,bf16 \
        --out "$RESULTS/bench_lstm_l$layers.json" 2>&1 | tee "$RESULTS/bench_lstm_l$layers.log" || status=1
done
STUDY="$RESULTS/moving_mnist"
pids=()
if [ -f "$DATA_DIR/mnist/t10k-images-idx3-ubyte.gz" ]; then
    echo "== (b) Moving MNIST: $EPOCHS epochs of $TRAIN_SIZE sequences, batch 4; val $VAL_SIZE, test $TEST_SIZE"
    digits=()
    [ -f "$DATA_DIR/mnist/train-images-idx3-ubyte.gz" ] || digits=(data.train_digits=test)
    MNIST=(data=mnist "paths.data_dir=$DATA_DIR" "${digits[@]}" data.test_source=auto
           "data.train_size=$TRAIN_SIZE" "data.val_size=$VAL_SIZE" "data.test_size=$TEST_SIZE"
           "trainer.max_epochs=$EPOCHS" trainer.progress=log trainer=gpu)
    mkdir -p "$STUDY"
    start() {  # name, overrides...
        local name=$1; shift
        timeout -s TERM "$RUN_LIMIT" "$PYTHON" -m vidpred.run "${MNIST[@]}" "$@" "hydra.run.dir=$STUDY/$name" >"$STUDY/$name.log" 2>&1 &
        pids+=($!)
    }
    for layers in 1 2 3; do start "convlstm_l$layers" model=convlstm layers=$layers; done
    start convlstm_l2_adversarial model=convlstm layers=2 loss=adversarial
else
    echo "== (b) skipped: no $DATA_DIR/mnist/t10k-images-idx3-ubyte.gz"
fi

echo "== (c) gpu-marked tests"
timeout 420 "$PYTHON" -m pytest -q -m gpu -rs -p no:cacheprovider tests/test_convlstm_gpu.py 2>&1 | tee "$RESULTS/gpu_tests.log" || status=1

if [ ${#pids[@]} -gt 0 ]; then
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    for model in last mean; do  # the baselines: no training, the same test sequences
        "$PYTHON" -m vidpred.run "${MNIST[@]}" model=$model "hydra.run.dir=$STUDY/$model" >"$STUDY/$model.log" 2>&1 || status=1
    done
    tail -n 2 "$STUDY"/*.log
    "$PYTHON" -m vidpred.report "$STUDY" --out "$RESULTS/report" 2>&1 | tail -n 5 || status=1
    "$PYTHON" - "$RESULTS/report/runs.csv" <<'PY' || status=1
import sys, pandas as pd
runs = pd.read_csv(sys.argv[1])
shown = [c for c in ("model", "loss", "layers", "status", "test_mse", "test_psnr", "test_ssim", "test_lpips",
                     "train_seconds", "train_steps") if c in runs.columns]
print(runs[shown].to_string(index=False))
PY
fi

echo "gpu_check: done (status $status); results in $RESULTS"
exit $status
