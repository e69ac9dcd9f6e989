#!/usr/bin/env bash
# Regenerates every PyTorch golden fixture under test/fixtures from scripts/fixtures/*.py.
# Needs Debian's python3-torch (apt-get install -y python3-torch), which is /usr/bin/python3, not a pyenv python.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in scripts/fixtures/*.py; do
  echo "== $script"
  /usr/bin/python3 "$script"
done
