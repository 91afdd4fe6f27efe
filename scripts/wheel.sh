#!/usr/bin/env bash
# Build the Linux wheel and the sdist, and check them: the wheel is
# manylinux_2_17-compatible (auditwheel show) and carries the type stubs and
# py.typed; the sdist holds what its tests need (every tracked file; the
# tests that read beyond tests/ pass from the unpacked sdist against the
# installed package).  Installs what it needs itself.  Wheels for macOS
# and Windows are configured for cibuildwheel in pyproject.toml
# (CONTRIBUTING.md says what is verified where).
source "$(dirname "$0")/_env.sh" "test" gcc python3-dev
cd "$ROOT"
python -m pip install -q "build>=1" "auditwheel>=6" "cython>=3.0.10" "setuptools>=77" >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python -m build -q --no-isolation --outdir "$out" . >&2
wheel=$(ls "$out"/*.whl)
sdist=$(ls "$out"/*.tar.gz)
python -m auditwheel show "$wheel" | tee "$out/show.txt" >&2
# manylinux_2_17 exactly: a symbol of a newer glibc (a thread library's, say)
# would narrow the wheel to newer systems without failing a looser check
tr '\n' ' ' < "$out/show.txt" | grep -q 'consistent with the following platform tag: "manylinux_2_17' \
    || { echo "wheel: not manylinux_2_17-compatible (see auditwheel show above)" >&2; exit 1; }
# the listing read whole first: `zipfile -l | grep -q` can fail under pipefail when grep
# stops reading at its match and the lister's next write breaks the pipe
python -m zipfile -l "$wheel" > "$out/files.txt"
for f in microwave/py.typed microwave/_core.pyi; do
    grep -q "^$f " "$out/files.txt" || { echo "wheel: $f missing" >&2; exit 1; }
done
mkdir "$out/src" && tar -xzf "$sdist" -C "$out/src"
unpacked=$(ls -d "$out"/src/microwave-*)
# From a git checkout: the sdist holds every file git tracks (but .gitignore), so
# whatever a test reads from the checkout it finds in the archive too; from the
# archive, every test module is collected (each imports what it needs) and the
# tests that read files beside tests/ (docs, examples, bench, csrc, the TOML
# schema, pyproject) run.  Elsewhere (no git) the whole suite runs from the
# archive, the sound-card tests aside (they run in the test job).
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files --deleted > "$out/deleted.txt"    # (deleted in the work tree, not yet committed)
    git -C "$ROOT" ls-files | grep -vxF -e '.gitignore' -f "$out/deleted.txt" | sort > "$out/tracked.txt"
    (cd "$unpacked" && find . -type f | sed 's|^\./||' | sort) > "$out/packed.txt"
    missing=$(comm -23 "$out/tracked.txt" "$out/packed.txt")
    [ -z "$missing" ] || { echo "sdist: tracked files missing from it:" $missing >&2; exit 1; }
    (cd "$unpacked" && python -m pytest -p no:cacheprovider -q --co tests > "$out/collected.txt") \
        || { tail -20 "$out/collected.txt" >&2; echo "sdist: its tests do not collect from the unpacked archive" >&2; exit 1; }
    (cd "$unpacked" && python -m pytest -p no:cacheprovider -q -x -m "not audio" tests/test_docs.py \
        tests/test_examples.py tests/test_toml_schema.py tests/test_kernels_c.py tests/test_portability.py \
        tests/test_backends.py tests/test_doctests.py tests/oracle) \
        || { echo "sdist: its tests do not pass from the unpacked archive" >&2; exit 1; }
else
    (cd "$unpacked" && python -m pytest -p no:cacheprovider -q -x -m "not audio" tests) \
        || { echo "sdist: its tests do not pass from the unpacked archive" >&2; exit 1; }
fi
echo "wheel: $(basename "$wheel") and $(basename "$sdist") check out" >&2
