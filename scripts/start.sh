#!/usr/bin/env bash
# Set up (first run only) and open the studio. Extra arguments go to main.py,
# e.g. `bash scripts/start.sh generate studio.patterns --seed 7 --out art.png`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python main.py "$@"
