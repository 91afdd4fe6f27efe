#!/usr/bin/env bash
# The documentation site: Sphinx builds docs/ into docs/_build/html, every
# figure drawn by the library itself, with warnings as errors.  Installs
# what it needs itself, like scripts/test.sh.  Extra arguments go to sphinx-build.
source "$(dirname "$0")/_env.sh" "docs" gcc python3-dev
cd "$ROOT"
python -m sphinx -W --keep-going -q -b html docs docs/_build/html "$@"
echo "docs: docs/_build/html/index.html" >&2
