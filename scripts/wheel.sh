#!/usr/bin/env bash
# Build the Linux wheel and the sdist, and check them: the wheel is
# manylinux-compatible (auditwheel show) and carries the type stubs and
# py.typed; the sdist holds what its tests need (they pass from the
# unpacked sdist against the installed package).  Installs what it needs
# itself.  Wheels for macOS and Windows are configured for cibuildwheel in
# pyproject.toml (CONTRIBUTING.md says what is verified where).
source "$(dirname "$0")/_env.sh" "test" gcc python3-dev
cd "$ROOT"
python -m pip install -q "build>=1" "auditwheel>=6" "cython>=3.0.10" "setuptools>=77" >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python -m build -q --no-isolation --outdir "$out" . >&2
wheel=$(ls "$out"/*.whl)
sdist=$(ls "$out"/*.tar.gz)
python -m auditwheel show "$wheel" | tee "$out/show.txt" >&2
tr '\n' ' ' < "$out/show.txt" | grep -q 'consistent with the following platform tag: "manylinux' \
    || { echo "wheel: not manylinux-compatible" >&2; exit 1; }
# the listing read whole first: `zipfile -l | grep -q` can fail under pipefail when grep
# stops reading at its match and the lister's next write breaks the pipe
python -m zipfile -l "$wheel" > "$out/files.txt"
for f in microwave/py.typed microwave/_core.pyi; do
    grep -q "^$f " "$out/files.txt" || { echo "wheel: $f missing" >&2; exit 1; }
done
mkdir "$out/src" && tar -xzf "$sdist" -C "$out/src"
# its tests run from the unpacked sdist (the sound-card ones run in the test job)
(cd "$out"/src/microwave-* && python -m pytest -p no:cacheprovider -q -x -m "not audio" tests) \
    || { echo "sdist: its tests do not pass from the unpacked archive" >&2; exit 1; }
echo "wheel: $(basename "$wheel") and $(basename "$sdist") check out" >&2
