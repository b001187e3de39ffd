#!/usr/bin/env bash
# One device-machine call: build tensorgrad there, run the GPU tests and the GPU benchmarks, keep logs in $OUT.
#   bash benchmarks/gpu_session.sh [tests] [kernels] [train] [recipe] [smoke] [profile]   (default: all but profile)
# recipe: nanoGPT's dropout 0.2, graphed fp16/bf16 steps (captured dropout) vs PyTorch AMP fp16/bf16 (#18, #19).
# Device time is short (15 min a task, start-up included; 10 min a call): all steps at their timeouts need ~22 min.
# In order of what a session needs most: `tests` (correctness of every GPU path, ~5 min with the build), then
# `recipe` (RECIPE_ITERS=20), then `kernels train` if time is left; TESTS=<files> narrows the test step.
# profile: where the graphed fp16 step and torch AMP spend GPU time, kernel by kernel (bench_train_cuda --profile).
# Built on the device in the same call because an extension built elsewhere (another Python) will not load.
set -u
# Results JSON record TENSORGRAD_COMMIT; default HEAD. Set it explicitly when this tree was copied to the machine
# with a stale .git (the lent GPU machines of this project's workplace).
export TENSORGRAD_COMMIT="${TENSORGRAD_COMMIT:-$(git rev-parse HEAD 2>/dev/null)}"
OUT=${OUT:-/tmp/tg_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
steps=${*:-"tests kernels train recipe smoke"}
nvidia-smi -L
python3 -c "import sys,cupy,torch,numpy;print('python',sys.version.split()[0],'cupy',cupy.__version__,'torch',torch.__version__,'numpy',numpy.__version__)"
t0=$(date +%s)
python3 setup.py build_ext --inplace >"$OUT/build.log" 2>&1 || { echo "BUILD FAILED"; tail -30 "$OUT/build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
for s in $steps; do
  t0=$(date +%s)
  case $s in
    tests)   timeout ${TESTS_TIMEOUT:-300} python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short -rf ${TESTS:-tests} >"$OUT/gpu_tests.log" 2>&1
             echo "tests rc=$?"; grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head -40; tail -2 "$OUT/gpu_tests.log";;
    kernels) timeout ${KERNELS_TIMEOUT:-240} python3 benchmarks/bench_cuda_kernels.py --require-gpu --out "$OUT/kernels_cuda.json" >"$OUT/kernels.log" 2>&1
             echo "kernels rc=$?"; tail -25 "$OUT/kernels.log";;
    train)   if [ -f benchmarks/bench_train_cuda.py ]; then
               timeout ${TRAIN_TIMEOUT:-300} python3 benchmarks/bench_train_cuda.py --out "$OUT/train_cuda.json" ${TRAIN_ARGS:-} >"$OUT/train.log" 2>&1
               echo "train rc=$?"; tail -25 "$OUT/train.log"; fi;;
    recipe)  timeout ${RECIPE_TIMEOUT:-300} python3 benchmarks/bench_train_cuda.py --dropout 0.2 --iters ${RECIPE_ITERS:-30} \
               --only torch-amp,tg-fp16-graph,torch-amp-bf16,tg-bf16-graph,tg-bf16 --out "$OUT/train_cuda_dropout.json" \
               >"$OUT/recipe.log" 2>&1
             echo "recipe rc=$?"; tail -12 "$OUT/recipe.log";;
    profile) timeout ${PROFILE_TIMEOUT:-300} python3 benchmarks/bench_train_cuda.py --only tg-fp16-graph,torch-amp \
               --iters 20 --profile ${PROFILE_TOP:-30} --out "$OUT/train_cuda_profile.json" >"$OUT/profile.log" 2>&1
             echo "profile rc=$?"; tail -70 "$OUT/profile.log";;
    smoke)   timeout 120 python3 -m tensorgrad train --device cuda --max-iters 60 --eval-interval 30 --eval-iters 5 \
               --n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 64 --log-interval 10 --out-dir /tmp/tg_smoke \
               --no-plot --no-progress --sample-tokens 100 ${SMOKE_ARGS:-} >"$OUT/smoke.log" 2>&1
             echo "smoke rc=$?"; tail -15 "$OUT/smoke.log";;
  esac
  echo "[$s: $(( $(date +%s) - t0 )) s]"
done
