#!/usr/bin/env bash
# The paper's configuration end to end on a GPU (issue 16's targets): `npm start -- --full` (the ResNet34-UNet at
# 640x800, batch 4, 15 epochs, 150 / 150 / 100 synthetic images) in Node on Dawn's Vulkan backend, on a bare Linux
# x86-64 machine with an NVIDIA driver, from what scripts/gpu/pack.sh put in .gpu/. Writes OUTDIR/start.log and
# OUTDIR/start/{results.json,report.html,weights.safetensors}.
# Usage: bash scripts/gpu/pack.sh here, then through the device tool: carry [".gpu"], command
# `bash scripts/gpu/paper.sh $OUT` (not run yet; the same command on the earlier synthetic set took about 3 minutes
# on an H200). Environment: START_ARGS (more options for start, e.g. "--epochs 5"), START_TIMEOUT (seconds,
# default 480).
# shellcheck source=setup.sh
. "$(dirname "$0")/setup.sh" "${1:-}" start.log
nvidia-smi --query-gpu=name,driver_version --format=csv > "$out/gpu.csv" 2>&1 || true
# shellcheck disable=SC2086 # START_ARGS is a list of options
timeout "${START_TIMEOUT:-480}" "$node" .gpu/app/src/cli/start.mjs --full --runtime node --synth-width 600 --out "$out/start" ${START_ARGS:-} \
  || echo "paper.sh: start exited with $?"
echo "paper.sh: done $(date -u +%FT%TZ)"
