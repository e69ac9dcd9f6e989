# Sourced by scripts/gpu/run.sh and scripts/gpu/paper.sh as `. "$(dirname "$0")/setup.sh" OUTDIR LOGNAME`: makes
# OUTDIR (leaving $out its absolute path), moves to the repository root, copies everything printed to OUTDIR/LOGNAME,
# and sets up what a bare Linux x86-64 machine with an NVIDIA driver lacks from what scripts/gpu/pack.sh put in .gpu/,
# leaving $node (the Node binary) set.
set -uo pipefail
out="${1:?usage: $0 OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ -d .gpu ] || { echo "gpu: .gpu/ is missing: run scripts/gpu/pack.sh first and carry .gpu"; exit 2; }
exec > >(tee -a "$out/$2") 2>&1

# The Vulkan loader where the machine has none; the NVIDIA driver's ICD where the loader would not find it.
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"; fi

node=/tmp/chh-node/node
if [ ! -x "$node" ]; then mkdir -p /tmp/chh-node && xz -dc .gpu/node.xz > "$node" && chmod +x "$node"; fi
dawn=.gpu/node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$dawn" ] || xz -dk "$dawn.xz"
export NODEVICE_SELECT=1
echo "gpu: node $("$node" --version), $(date -u +%FT%TZ)"
