#!/usr/bin/env bash
# Sets up .venv for Studio: torch first (pinned, so pip never swaps in another build), then
# the project itself. Idempotent and quick on re-runs: it skips pip when pyproject.toml has
# not changed since the last successful setup.
#   bash scripts/setup.sh          # the app
#   bash scripts/setup.sh test     # the app plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python="${PYTHON:-python3}"
venv=".venv"

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "Studio needs Python 3.10 or newer; found $("$python" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv ..." >&2
    "$python" -m venv "$venv"
fi

spec="."
# The test extras include the cluster extra (Ray), so the Ray backend is tested in CI too.
[ "$extras" = "test" ] && spec=".[test,cluster]"
# One stamp per pyproject.toml, shared by start.sh and test.sh. It records which extras were
# installed: the test extras include the app, so an app setup after a test setup installs
# nothing, and a test setup after an app setup installs only the test tools.
stamp="$venv/.studio-setup-$(sha256sum pyproject.toml | cut -c1-16)"
installed="$(cat "$stamp" 2>/dev/null || true)"
needed="${extras:-app}"
if [ "$installed" != "test" ] && [ "$installed" != "$needed" ]; then
    echo "installing torch and Studio into $venv (first run takes a few minutes) ..." >&2
    # A user with an NVIDIA GPU who installed the CUDA build of torch 2.13.0 into .venv
    # beforehand keeps it: the pin is already satisfied, so pip leaves it alone.
    "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
    "$venv/bin/python" -m pip install --quiet -e "$spec"
    rm -f "$venv"/.studio-setup-*
    echo "$needed" > "$stamp"
fi
