# Sourced by the set-up scripts: system packages, a project venv, the package.
# Usage: source scripts/_env.sh EXTRAS [APT_PACKAGE ...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXTRAS=$1; shift
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

need=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "microwave: installing system packages: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >&2
    apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null >&2
fi

PY=${PYTHON:-python3}
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" || { echo "microwave: '$PY -m venv' failed; install python3-venv" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >&2
# a regular (non-editable) install: what a user gets from `pip install microwave[...]`
"$VENV/bin/python" -m pip install -q "$ROOT[$EXTRAS]" >&2
export PATH="$VENV/bin:$PATH"
