#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite, the import-layer contracts included.
# Runs without a display: Qt uses its offscreen platform.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
set +e
# Spread over every core, a test file per worker so a module's engine starts once.
.venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure of the test setup" >&2
    exit 1
fi
exit "$status"
