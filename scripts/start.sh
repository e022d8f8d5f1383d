#!/usr/bin/env bash
# Set up (first run only) and open the studio. Extra arguments go to main.py,
# e.g. `bash scripts/start.sh generate studio.patterns --seed 7 --out art.png`.
# Setup runs in the repository; main.py runs in the caller's folder, so relative paths
# (--out art.png, @prime.mid, --from image.png) are the caller's, not the repository's.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$repo" && bash scripts/setup.sh)
exec "$repo/.venv/bin/python" "$repo/main.py" "$@"
