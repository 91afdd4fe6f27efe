"""Kernel throughput: each core family against ndarray.fill of the same
float32 buffer (the physical limit), the numpy reference, the numba peer
(bench/numba_ref.py, when numba is installed) and scipy.signal where the
waveform coincides.

Every round renders the same samples: the generator is rewound, then fills
the buffer over ``SPAN`` samples (in-cache: a 256 KiB buffer filled again and
again over 4 s of signal, so that slow trains are measured over whole
cycles; out-of-cache: one fill of a 64 MiB buffer).  The baselines fill or
compute the same number of samples in the same blocks."""
import numpy as np
import pytest

import numpy_ref
from families import FAMILIES, RATE, ac_stage, full_face, stage
from microwave.sessions import builtin
from mwbench import LLC_FAMILIES, LLC_SIZES, SESSION_SPAN_S, SIZES, blocks, not_run, put, record

SIZE_IDS = list(SIZES)


def _numba():
    """bench/numba_ref.py, compiled (outside any timed region); None without numba."""
    try:
        import numba_ref
    except ImportError as e:
        not_run("numba/", f"numba is not installed ({e}; pip install '.[bench]')")
        not_run("llc-numba/", f"numba is not installed ({e}; pip install '.[bench]')")
        return None
    numba_ref.warm_up()
    return numba_ref


@pytest.fixture(scope="module")
def nb():
    mod = _numba()
    if mod is None:
        pytest.skip("numba is not installed")
    return mod


def _pulses(fam, span):
    """Pulses starting in [0, span) by the plan (numpy_ref's schedule, not the core)."""
    plan = fam.spec().plan(RATE)
    return numpy_ref.Schedule(plan.schedule, RATE).last_at_or_before(span - 1) + 1


@pytest.fixture(scope="module")
def buffers():
    return {size: np.zeros(n, dtype=np.float32) for size, (n, _, _) in SIZES.items()}


def views(buf, span):
    return [buf[:m] for m in blocks(len(buf), span)]


@pytest.mark.parametrize("size", SIZE_IDS)
def test_fill(benchmark, buffers, size):
    """ndarray.fill: the physical limit of writing these samples."""
    _, span, _ = SIZES[size]
    vs = views(buffers[size], span)

    def run():
        for v in vs:
            v.fill(200.0)
    benchmark.group = f"kernel {size}"
    benchmark(run)
    record(benchmark, f"fill/{size}", per=span)


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.key)
def test_core(benchmark, buffers, fam, size):
    _, span, _ = SIZES[size]
    gen = fam.spec().generator(RATE)
    vs = views(buffers[size], span)

    def run():
        gen.reset()
        for v in vs:
            gen.fill(v)
    benchmark.group = f"kernel {size}"
    benchmark(run)
    record(benchmark, f"core/{fam.key}/{size}", per=span)
    put(f"pulses/{fam.key}/{size}", pulses=_pulses(fam, span), span=span)


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("key", ["rect_bi_1k", "rect_bi_square"])
def test_core_alloc(benchmark, key, size):
    """The core into a buffer allocated for each block, as np.tile allocates
    its result: the side of the comparison with the copy of a period."""
    from families import BY_KEY
    _, span, _ = SIZES[size]
    gen = BY_KEY[key].spec().generator(RATE)
    ms = blocks(SIZES[size][0], span)

    def run():
        gen.reset()
        for m in ms:
            gen.fill(np.empty(m, dtype=np.float32))
    benchmark.group = f"kernel {size}"
    benchmark(run)
    record(benchmark, f"core-alloc/{key}/{size}", per=span)


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.key)
def test_numba(benchmark, buffers, nb, fam, size):
    """The numba peer into the same buffer, in the same blocks."""
    _, span, _ = SIZES[size]
    _time_peer(benchmark, nb.program(fam.spec(), RATE).fill, views(buffers[size], span), size,
               f"numba/{fam.key}/{size}", span)


def _time_peer(benchmark, fill, vs, size, name, per):
    """Time a numba peer's ``fill(view, start)`` over the views, one after the other."""
    def run():
        start = 0
        for v in vs:
            fill(v, start)
            start += len(v)
    benchmark.group = f"numba {size}"
    benchmark(run)
    record(benchmark, name, per=per)


def _time_blocks(benchmark, block, size, name):
    """Time `block(start, m)` over the size's span in its block sizes."""
    _, span, _ = SIZES[size]
    ms = blocks(SIZES[size][0], span)

    def run():
        start = 0
        for m in ms:
            block(start, m)
            start += m
    benchmark.group = f"numpy {size}"
    benchmark(run)
    record(benchmark, name, per=span)


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.key)
def test_numpy(benchmark, buffers, fam, size):
    _time_blocks(benchmark, fam.numpy_block(RATE), size, f"numpy/{fam.key}/{size}")


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("fam", [f for f in FAMILIES if f.scipy], ids=lambda f: f.key)
def test_scipy(benchmark, fam, size):
    _time_blocks(benchmark, fam.scipy_block(RATE), size, f"scipy/{fam.key}/{size}")


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("key", ["rect_bi_1k", "rect_bi_square"])
def test_tile(benchmark, key, size):
    """The periodic shortcut numpy allows when the period is whole samples
    and no pulse differs from the others: np.tile of one precomputed period."""
    from families import BY_KEY
    _, span, _ = SIZES[size]
    p = numpy_ref.mask_params(BY_KEY[key].spec(), RATE)
    ms = blocks(SIZES[size][0], span)

    def run():
        start = 0
        for m in ms:
            numpy_ref.tile_train(p, start, m)
            start += m
    benchmark.group = f"numpy {size}"
    benchmark(run)
    record(benchmark, f"tile/{key}/{size}", per=span)


# ---- a whole session through the stage ---------------------------------------------
def _session_span(buf2):
    sess = full_face()
    total = sess.frames(RATE) if SESSION_SPAN_S is None else round(SESSION_SPAN_S * RATE)
    return sess, total


@pytest.mark.parametrize("size", SIZE_IDS)
@pytest.mark.parametrize("coupling", ["dc", "ac"])
def test_core_session(benchmark, buffers, size, coupling):
    """SessionEngine.fill: every step's programs, gates and the stage, 2
    interleaved channels.  In-cache: the whole session in blocks of the
    256 KiB buffer; out-of-cache: one fill of the 64 MiB buffer.  DC: the
    full-face session through a DC stage; AC: TIGHTEN (full-face's LIFT
    steps cannot go through a capacitor) through a 5 Hz +-30 % AC stage,
    whose supervisor models seven corners at every sample."""
    buf2 = buffers[size].reshape(-1, 2)
    sess, total = _session_span(buf2)
    if coupling == "ac":
        sess = builtin("tighten")
        total = min(total, sess.frames(RATE))
    eng = sess.engine(RATE, stage() if coupling == "dc" else ac_stage())
    frames = blocks(len(buf2), total if size == "in-cache" else len(buf2))
    vs = [buf2[:m] for m in frames]

    def run():
        eng.rewind()
        for v in vs:
            eng.fill(v)
    benchmark.group = f"kernel {size}"
    benchmark(run)
    record(benchmark, f"core/session{'-ac' if coupling == 'ac' else ''}/{size}", per=2 * sum(frames))


@pytest.mark.parametrize("size", SIZE_IDS)
def test_numpy_session(benchmark, buffers, size):
    buf2 = buffers[size].reshape(-1, 2)
    sess, total = _session_span(buf2)
    ref = numpy_ref.SessionRef(sess, stage(), RATE)
    frames = blocks(len(buf2), total if size == "in-cache" else len(buf2))

    def run():
        start = 0
        for m in frames:
            ref.frames(start, m)
            start += m
    benchmark.group = f"numpy {size}"
    benchmark(run)
    record(benchmark, f"numpy/session/{size}", per=2 * sum(frames))


@pytest.mark.parametrize("size", SIZE_IDS)
def test_numba_session(benchmark, buffers, nb, size):
    """The numba session peer (each program by the numba renderer, then the
    DC stage) into the same buffer seen as 2 interleaved channels."""
    buf2 = buffers[size].reshape(-1, 2)
    sess, total = _session_span(buf2)
    frames = blocks(len(buf2), total if size == "in-cache" else len(buf2))
    _time_peer(benchmark, nb.Session(sess, stage(), RATE).fill, [buf2[:m] for m in frames], size,
               f"numba/session/{size}", 2 * sum(frames))


# ---- either side of the last-level cache ------------------------------------------
@pytest.mark.parametrize("read", [False, True], ids=["write", "write+read"])
@pytest.mark.parametrize("size", list(LLC_SIZES))
@pytest.mark.parametrize("what", ["fill"] + list(LLC_FAMILIES))
def test_llc(benchmark, size, what, read):
    """One fill of a buffer half the last-level cache (plain stores: the
    samples stay in the cache) and one twice its size (stores that bypass
    it), against ndarray.fill of the same buffer; with read, each is
    followed by a read of every sample (buf.max()), what samples left in
    the cache are for."""
    from families import BY_KEY
    buf = np.zeros(LLC_SIZES[size][0], dtype=np.float32)
    if what == "fill":
        def write():
            buf.fill(200.0)
    else:
        gen = BY_KEY[what].spec().generator(RATE)

        def write():
            gen.reset()
            gen.fill(buf)

    def run():
        write()
        if read:
            buf.max()
    benchmark.group = f"kernel {size}"
    benchmark(run)
    record(benchmark, f"llc/{what}/{size}" + ("/read" if read else ""), per=len(buf))


@pytest.mark.parametrize("size", list(LLC_SIZES))
@pytest.mark.parametrize("what", list(LLC_FAMILIES))
def test_llc_numba(benchmark, nb, size, what):
    """The numba peer, one fill of the same buffers as test_llc."""
    from families import BY_KEY
    buf = np.zeros(LLC_SIZES[size][0], dtype=np.float32)
    prog = nb.program(BY_KEY[what].spec(), RATE)

    def run():
        prog.fill(buf, 0)
    benchmark.group = f"kernel {size}"
    benchmark(run)
    record(benchmark, f"llc-numba/{what}/{size}", per=len(buf))
