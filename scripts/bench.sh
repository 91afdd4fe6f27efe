#!/usr/bin/env bash
# The benchmark suite (bench/): kernel throughput, call overhead, WAV
# rendering, memory and real-time streaming, each as a ratio to a baseline
# measured in the same run.  Prints the results table and writes it to
# bench/results.md.  Installs what it needs itself, like scripts/test.sh.
#
# Usage: scripts/bench.sh [--quick] [pytest args...]
#   --quick   few rounds and smaller sizes (CI: checks the suite runs; a
#             couple of minutes).  Timings are reported, never asserted.
#   The full run saves pytest-benchmark JSON under .benchmarks/
#   (--benchmark-autosave); compare a later run against the last saved one
#   with:  bash scripts/bench.sh --benchmark-compare
#   Other pytest args pass through, e.g. -k session, --benchmark-json=out.json
source "$(dirname "$0")/_env.sh" "test,bench" gcc python3-dev
cd "$ROOT"
bash scripts/audio-server.sh install
# Cython + setuptools build bench/_floor.pyx, the floor of a call from Python
python -m pip install -q "cython>=3.0.10" setuptools >&2

# no idle BLAS worker threads competing for the 2 cores (nothing here uses BLAS)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# numpy at its best: by default glibc maps each temporary of 128 KiB or more
# afresh and gives it back on free, so a numpy baseline pays page faults on
# every block (up to 4x its cost in cache, and a different amount from run
# to run); keeping freed memory in the heap measures numpy's arithmetic
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824

quick=0
args=()
for a in "$@"; do
    case $a in
        --quick) quick=1 ;;
        *) args+=("$a") ;;
    esac
done
if [ $quick = 1 ]; then
    export MICROWAVE_BENCH_QUICK=1
    mode=(--benchmark-min-rounds=1 --benchmark-max-time=0.05 --benchmark-warmup=off)
else
    unset MICROWAVE_BENCH_QUICK
    mode=(--benchmark-autosave)
fi

# 1. the numpy and numba baselines compute what the cores compute (plain
#    tests: a baseline that builds something else would make every ratio
#    meaningless)
python -m pytest -p no:cacheprovider -q tests/oracle/test_numpy_ref.py tests/oracle/test_numba_ref.py

# 2. the benchmarks, one after the other (never in parallel: 2 cores)
python -m pytest -p no:cacheprovider bench/ --benchmark-only \
    --benchmark-columns=min,median,iqr,rounds --benchmark-sort=name "${mode[@]}" ${args[@]+"${args[@]}"}
