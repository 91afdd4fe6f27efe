#!/usr/bin/env bash
# Lint: ruff over the whole tree and mypy over src/microwave, both configured
# in pyproject.toml; any finding fails.  Installs what it needs itself (the
# `lint` extra: ruff, mypy, and the packages whose types mypy reads), like
# scripts/test.sh.  Both tools run, then the script fails if either found anything.
source "$(dirname "$0")/_env.sh" "lint" gcc python3-dev
cd "$ROOT"
status=0
ruff check . || status=1
mypy || status=1
exit "$status"
