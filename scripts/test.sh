#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite, the import-layer contracts included.
# Runs without a display: Qt uses its offscreen platform.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# One BLAS/OpenMP thread per process: the workers below already fill every core, and
# several multi-threaded torch processes on two cores spin against each other (measured:
# a minute less CPU over the suite).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
set +e
# A test file per worker, so a module's engine starts once. Two workers per core: much of
# the suite waits on engine and CLI processes it starts, so one per core leaves cores idle
# (fresh clone, 2 cores: 6:08 with 2 workers and the default threads, 5:40 with 4 and one thread).
workers=$(( $(nproc) * 2 ))
.venv/bin/python -m pytest -q -p no:cacheprovider -n "$workers" --dist loadfile "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure of the test setup" >&2
    exit 1
fi
exit "$status"
