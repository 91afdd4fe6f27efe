"""The numba peers (bench/numba_ref.py) build the same samples as the
compiled cores, checked as test_numpy_ref.py checks the numpy references.

They are the benchmark suite's other baseline: a peer that computed
something else would make its ratios meaningless.  Skipped when numba is not
installed (it comes with the ``bench`` extra).

* ``mask`` families (whole-sample edges): bit for bit;
* ``box`` families (edges between samples, slopes, envelopes, sweeps,
  custom trains, sessions): to 1e-5 of the peak (the numba renderer
  integrates each piece of the pulse over each sample in its own order of
  float operations).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (pip install '.[bench]'): no numba peers to check")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import numba_ref  # noqa: E402
from families import FAMILIES, RATE, stage  # noqa: E402
from test_numpy_ref import SESSIONS, N, check, check_session, kernel  # noqa: E402


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.key)
def test_numba_equals_core(fam):
    spec = fam.spec()
    got = kernel(spec, N)
    prog = numba_ref.program(spec, RATE)
    check(fam, got, prog.block(0, N))
    # block by block from odd offsets, into one buffer, as a stream would
    out = np.full(N, np.nan, dtype=np.float32)
    start = 0
    for m in (1, 1000, 4097, 65536, N):
        m = min(m, N - start)
        prog.fill(out[start:start + m], start)
        start += m
        if start == N:
            break
    check(fam, got, out)
    # and far into the train (10 minutes: an onset computed, not accumulated)
    skip = 600 * RATE + 7
    check(fam, kernel(spec, 20_000, skip=skip), prog.block(skip, 20_000))


@SESSIONS
def test_numba_session(make):
    check_session(make, numba_ref.Session(make(), stage(), RATE).fill, "numba")
