#!/usr/bin/env bash
# Every GPU speed row in one short run (about 6 minutes on one H100); results under $OUT (default ./gpu_out).
#
#   bash benchmarks/speed/gpu_check.sh            # on the GPU machine, from the repository root
#   bash benchmarks/speed/gpu_check.sh --cpu      # rehearsal: the same steps on the CPU at tiny sizes
#
# Steps (each with its own time limit, so one slow step cannot eat the others; a step that fails or
# times out is recorded as such in $OUT/summary.txt and the script goes on):
#   1. environment: nvidia-smi, versions; `pip install -e .` only if the package's dependencies are missing
#   2. training step at 256², official batch (64 videos, 16 per forward): fp32 eager baseline vs
#      bf16 + channels_last + fused Adam + fused ops, interleaved in one process
#   3. the optimised step with torch.compile added; then compiled (inductor) vs eager gradients in
#      bf16: G loss, D loss, R1 (python -m benchmarks.speed.grad_check)
#   4. the speed CLI's GPU rows: G/D passes, detectors, sampling clips/s per generator; DDP rows say
#      "not measured" on 1 GPU
#   5. the whole fvd2048_16f evaluation of a generator at 256² with the stand-in detector (wall time)
#   6. FVMD (PIPs++) and JEDi (V-JEPA ViT-H) feature clips/s at the published input sizes
#   7. sgvb compare-protocols' one pass vs its slowest single protocol (stand-ins, synthetic 128²)
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"

if [ "${1:-}" = "--cpu" ]; then  # tiny rehearsal of every step on the CPU
  DEV=cpu; RES=32; BATCH=8; BGPU=4; STEPS=2; WARM=1; GRAD_ARGS="--precision fp32 --backend none --resolution 16"
  SPEED_ARGS="--device cpu --resolution 32 --batch 4 --repeats 1 --generators stylegan_v,mocogan --threads 2"
  FVD_ARGS="--device cpu --resolution 32 --fvd fvd16_16f --fvd-videos 16 --threads 2"
  TRAIN_ARGS="--small"; COMPILE_ARG=""; LIMIT_TRAIN=600; LIMIT_COMPILE=600; LIMIT_SPEED=600; LIMIT_GRAD=300; LIMIT_FVD=300
else
  DEV=cuda; RES=256; BATCH=64; BGPU=16; STEPS=16; WARM=2; GRAD_ARGS="--precision bf16 --backend inductor --resolution 32"
  SPEED_ARGS="--device cuda --resolution 256 --batch 16 --full-width --repeats 2"
  FVD_ARGS="--device cuda --resolution 256 --full-width --fvd fvd2048_16f --fvd-videos 2048"
  TRAIN_ARGS=""; COMPILE_ARG="--compile"; LIMIT_TRAIN=90; LIMIT_COMPILE=140; LIMIT_SPEED=55; LIMIT_GRAD=50; LIMIT_FVD=60
fi
# a short lease can override any limit; 0 skips that step (e.g. LIMIT_COMPILE=0)
LIMIT_TRAIN=${GPU_LIMIT_TRAIN:-$LIMIT_TRAIN}; LIMIT_COMPILE=${GPU_LIMIT_COMPILE:-$LIMIT_COMPILE}; LIMIT_SPEED=${GPU_LIMIT_SPEED:-$LIMIT_SPEED}
LIMIT_GRAD=${GPU_LIMIT_GRAD:-$LIMIT_GRAD}; LIMIT_FVD=${GPU_LIMIT_FVD:-$LIMIT_FVD}
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME LIMIT_S CMD... : run with a time limit, log to $OUT/NAME.txt, note the outcome
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  if [ "$limit" = 0 ]; then echo "== $name: skipped (limit 0; not measured)" | tee -a "$SUMMARY"; return; fi
  echo "== $name: $*" | tee -a "$SUMMARY"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  local outcome="exit $rc"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && outcome="TIMED OUT after ${limit} s (not measured)"
  echo "   $outcome, $((SECONDS - t0)) s; last lines:" | tee -a "$SUMMARY"
  tail -n 25 "$OUT/$name.txt" | sed 's/^/   | /' | tee -a "$SUMMARY"
}

# 1. environment
{ date -u; nvidia-smi 2>&1 || echo "no nvidia-smi"; "$PY" -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"; } > "$OUT/env.txt" 2>&1
if ! "$PY" -c "import einops, omegaconf, hydra, timm, scipy" > /dev/null 2>&1; then
  echo "dependencies missing: pip install -e . (local index)" | tee -a "$SUMMARY"
  "$PY" -m pip install -e . >> "$OUT/env.txt" 2>&1 || echo "pip install -e . failed (see env.txt)" | tee -a "$SUMMARY"
fi
if [ "$DEV" = cuda ] && ! "$PY" -c "import torch; assert torch.cuda.is_available()" > /dev/null 2>&1; then
  echo "CUDA is not available to torch: every GPU row is not measured (see $OUT/env.txt)" | tee -a "$SUMMARY"
  exit 1
fi

# 2. training step at the official batch settings: fp32 eager baseline vs bf16 + channels_last + fused Adam
#    + fused ops, interleaved in one process (same-run ratio); no compile, so it cannot time out compiling
TRAIN="$PY -m benchmarks.speed.bench_train --generators stylegan_v --discriminators stylegan_v --device $DEV --resolution $RES --batch $BATCH --batch-gpu $BGPU --steps $STEPS --warmup $WARM $TRAIN_ARGS"
step train_step "$LIMIT_TRAIN" $TRAIN --settings baseline,optimized

# 3. the same with torch.compile of the G and D forward paths (compile time is in the warm-up, not the timing);
#    its ratio is to step 2's baseline on the same machine, one process earlier
step train_step_compile "$LIMIT_COMPILE" $TRAIN --settings optimized $COMPILE_ARG

# 3b. compiled (inductor) vs eager gradients, bf16 on GPU: G loss, D loss, R1
step grad_check "$LIMIT_GRAD" "$PY" -m benchmarks.speed.grad_check --device "$DEV" $GRAD_ARGS

# 4. the speed CLI's other rows (training rows are step 3), written in RESULTS.md's format
step speed "$LIMIT_SPEED" "$PY" -m benchmarks.speed.run_all --only ddp,models,metrics --skip-frechet $SPEED_ARGS \
  --write "$OUT/RESULTS_speed.md"

# 5. one whole FVD evaluation of a generator (last: the real side renders the synthetic videos on the CPU)
step fvd "$LIMIT_FVD" "$PY" -m benchmarks.speed.run_all --only fvd $FVD_ARGS --write "$OUT/RESULTS_fvd.md"

# 6. issue 26's motion metrics at their published input sizes (random weights: cost does not depend on values);
#    7. issue 24's compare-protocols against the slowest single protocol. Limits: GPU_LIMIT_MOTION / _COMPARE
LIMIT_MOTION=${GPU_LIMIT_MOTION:-45}; LIMIT_COMPARE=${GPU_LIMIT_COMPARE:-60}
if [ "$DEV" = cuda ]; then
  step fvmd "$LIMIT_MOTION" "$PY" -m benchmarks.speed.bench_fvmd --device cuda --batch 8 --repeats 3
  step jedi "$LIMIT_MOTION" "$PY" -m benchmarks.speed.bench_jedi --device cuda --batch 16 --repeats 3
  step compare_protocols "$LIMIT_COMPARE" "$PY" -m benchmarks.speed.bench_compare_protocols --device cuda \
    --synthetic-videos 64 --num-videos 64 --resolution 128
else
  step fvmd "$LIMIT_MOTION" "$PY" -m benchmarks.speed.bench_fvmd --device cpu --stand-in --repeats 1
  step compare_protocols "$LIMIT_COMPARE" "$PY" -m benchmarks.speed.bench_compare_protocols --synthetic-videos 8 \
    --num-videos 8
fi

echo "done in $SECONDS s; files in $OUT" | tee -a "$SUMMARY"
