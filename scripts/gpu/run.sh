#!/usr/bin/env bash
# Every GPU check of the conv kernels and the autotuner (issue 12), in one call, on a bare Linux x86-64 machine
# with an NVIDIA driver (no Node, no Vulkan loader, no network): what scripts/gpu/pack.sh put in .gpu/ is unpacked
# here, then
#   1. scripts/gpu/checks.ts: the tiled kernels against the CPU reference, the model's forward and training step
#      with register tiles, the adapter's defaults and tuned, the tuning's time (the winners go to OUTDIR/autotune.json);
#      then the adapter's f16 and subgroup-matrix support and a step's memory under every memory policy (issue 13);
#   2. the time to the first training step of the paper model (bench/first-step.ts, compiled ahead and compiled when
#      first used: issue 14's question whether a GPU driver's parallel compile makes the ahead-of-time path win);
#   3. the benchmark (bench/run.ts --runtime node, TF.js's WebGPU backend on the same Dawn GPU) at 800x640 batch 4
#      and 160x128 batch 1 with the tuned kernels;
#   4. our side of the benchmark at --precision f16 --tune at 800x640 batch 4 (BENCH_F16_SIZES), with Dawn's unsafe
#      APIs on (CHH_DAWN_FLAGS), so that the tuner may pick subgroup-matrix tiles (tensor cores) and the step scales
#      its loss (issue 13): the model cases only (forward, training step, memory), to keep the whole run short.
# Usage: bash scripts/gpu/pack.sh here, then through the device tool: carry [".gpu"], command
# `bash scripts/gpu/run.sh $OUT` (about 7 minutes on an H200; a run cut short keeps what it wrote: every stage
# rewrites its JSON). Environment: CHECKS_ARGS (e.g. "--sizes 160x128x1 --reps 3"), FIRST_STEP_SIZE ("WxH:BATCH",
# default 640x800:4), BENCH_SIZES ("HxW:BATCH ..."),
# PEAK_TFLOPS (fp32 peak for the bench's fractions, default 67: an H200), CHECKS_TIMEOUT, FIRST_STEP_TIMEOUT,
# BENCH_TIMEOUT, BENCH_F16_TIMEOUT (seconds).
# shellcheck source=setup.sh
. "$(dirname "$0")/setup.sh" "${1:-}" run.log
export CHH_TUNE_CACHE="$out/autotune.json"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/gpu.csv" 2>&1 || true

# shellcheck disable=SC2086 # CHECKS_ARGS is a list of options
timeout "${CHECKS_TIMEOUT:-300}" "$node" .gpu/app/scripts/gpu/checks.mjs "$out" ${CHECKS_ARGS:-} || echo "run.sh: checks exited with $?"
first="${FIRST_STEP_SIZE:-640x800:4}"
for c in on off; do
  # The JSON line is the script's last; each run is its own process, so every compile is cold.
  timeout "${FIRST_STEP_TIMEOUT:-90}" "$node" .gpu/app/bench/first-step.mjs --what train --model paper --size "${first%%:*}" \
    --batch "${first##*:}" --compile "$c" > "$out/first-step-$c.log" || echo "run.sh: first-step --compile $c exited with $?"
  tail -n 1 "$out/first-step-$c.log" > "$out/first-step-$c.json"
done
for s in ${BENCH_SIZES:-800x640:4 160x128:1}; do
  size="${s%%:*}" batch="${s##*:}"
  timeout "${BENCH_TIMEOUT:-150}" "$node" .gpu/app/bench/run.mjs --runtime node --size "$size" --batch "$batch" --no-torch --no-md \
    --peak-tflops "${PEAK_TFLOPS:-67}" --out "$out/bench-$size-b$batch.json" || echo "run.sh: bench $size b$batch exited with $?"
done
for s in ${BENCH_F16_SIZES:-800x640:4}; do
  size="${s%%:*}" batch="${s##*:}"
  CHH_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis CHH_TUNE_CACHE="$out/autotune-f16.json" \
    timeout "${BENCH_F16_TIMEOUT:-120}" "$node" .gpu/app/bench/run.mjs --runtime node --size "$size" --batch "$batch" --no-torch --no-tfjs \
    --no-kernels --no-md --precision f16 --tune --peak-tflops "${PEAK_TFLOPS:-67}" --out "$out/bench-f16-$size-b$batch.json" ||
    echo "run.sh: bench f16 $size b$batch exited with $?"
done
echo "run.sh: done $(date -u +%FT%TZ)"
