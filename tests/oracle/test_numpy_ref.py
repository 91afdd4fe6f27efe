"""The numpy references build the same samples as the compiled cores.

Part of the test suite, and run first by scripts/bench.sh: these references
are the best independent oracle of the kernels, and a baseline that computes
something else would make every ratio in the benchmark table meaningless.

* ``mask`` references (rectangular trains with whole-sample edges) must be
  equal bit for bit: each sample is the level or zero.
* ``box`` references (edges between samples, slopes, envelopes, sessions)
  must agree to 1e-5 of the peak: their edge samples are integrals whose last
  bit depends on the order of float operations.  (They mirror the core's
  order and today agree bit for bit; the test does not insist, so that a
  kernel optimisation that moves a rounding does not break CI.)
* scipy.signal's square, sawtooth and chirp are the *same waveform* only
  where noted: the square exactly away from its edges, the triangle to float
  rounding away from its peaks; the chirp shares only the phase law.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microwave as mw
from microwave.envelopes import Envelope, Ramp

import numpy_ref
from families import FAMILIES, RATE, full_face, mixed_session, stage

N = 3 * RATE + 12_345          # a bit over 3 s: whole LIFT and burst cycles, a partial block


def kernel(spec, n, skip=0, chunk=None):
    gen = spec.generator(RATE)
    if skip:
        junk = np.empty(1 << 18, dtype=np.float32)
        left = skip
        while left:
            m = min(left, len(junk))
            gen.fill(junk[:m])
            left -= m
    out = np.empty(n, dtype=np.float32)
    chunk = chunk or n
    for i in range(0, n, chunk):
        gen.fill(out[i:i + chunk])
    return out


def check(fam, got, want):
    if fam.ref == "mask":
        bad = np.nonzero(got != want)[0]
        assert len(bad) == 0, (f"{fam.key}: {len(bad)} samples differ, first at {bad[0]}: "
                               f"core {got[bad[0]]} numpy {want[bad[0]]}")
    else:
        peak = max(float(np.max(np.abs(got))), 1e-30)
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        assert err <= 1e-5 * peak, f"{fam.key}: max |core - numpy| = {err:g} (peak {peak:g})"


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.key)
def test_reference_equals_core(fam):
    spec = fam.spec()
    got = kernel(spec, N)
    block = fam.numpy_block()
    check(fam, got, block(0, N))
    # built block by block from odd offsets, as a stream would
    parts, start = [], 0
    for m in (1, 1000, 4097, 65536, N):
        m = min(m, N - start)
        parts.append(block(start, m))
        start += m
        if start == N:
            break
    check(fam, got, np.concatenate(parts))
    # and far into the train (10 minutes: an onset computed, not accumulated)
    skip = 600 * RATE + 7
    check(fam, kernel(spec, 20_000, skip=skip), block(skip, 20_000))


@pytest.mark.parametrize("fam", [f for f in FAMILIES if f.ref == "mask"], ids=lambda f: f.key)
def test_box_reference_agrees_with_mask(fam):
    """Where both apply, the general box-filter reference equals the mask one."""
    from numpy_ref import program_ref
    want = fam.numpy_block()(0, N)
    np.testing.assert_array_equal(program_ref(fam.spec().plan(RATE), 0, N), want)


@pytest.mark.parametrize("fam", [f for f in FAMILIES if f.scipy], ids=lambda f: f.key)
def test_scipy_coincides(fam):
    spec = fam.spec()
    got = kernel(spec, N).astype(np.float64)
    sp = fam.scipy_block()(0, N).astype(np.float64)
    if fam.scipy == "square":
        # point-sampled square vs box-filtered train: identical except on the
        # samples an edge starts at, where scipy's float phase may land a hair
        # before the edge (2*pi*f*n/rate is not exact)
        half = RATE / spec.freq_hz / 2
        bad = np.nonzero(got != sp)[0]
        assert np.all(bad % half == 0), f"samples {bad[bad % half != 0][:5]} differ away from edges"
    elif fam.scipy == "sawtooth":
        err = np.abs(got - sp)
        assert np.quantile(err, 0.95) < 1e-3 * spec.amp_ua      # a line's box filter is its midpoint value
        assert np.max(err) < 0.02 * spec.amp_ua                 # samples straddling a peak are rounded off
    else:
        # chirp: same phase law -- the sweep's pulses start at the chirp's phase of k cycles
        plan = spec.plan(RATE)
        w, f, _ = numpy_ref.Schedule(plan.schedule, RATE).onsets(np.arange(50))
        sw = spec.sweep
        t = (w + f) / RATE
        if sw.scale == "log":
            lr = np.log(sw.stop_hz / sw.start_hz)
            phase = sw.start_hz * sw.seconds / lr * np.expm1(lr * t / sw.seconds)
        else:
            phase = sw.start_hz * t + (sw.stop_hz - sw.start_hz) / (2 * sw.seconds) * t * t
        np.testing.assert_allclose(phase, np.arange(50), atol=1e-9)


ENVELOPES = st.one_of(
    st.builds(lambda a, h, r, shape: Envelope.attack_hold_release(a, h, r, shape=shape),
              st.floats(0.0, 0.3), st.floats(0.0, 0.3), st.floats(0.0, 0.3),
              st.sampled_from(["linear", "cosine", "exp"])),
    st.builds(lambda ramps, start, loop: Envelope(tuple(ramps), start_level=start, loop=loop),
              st.lists(st.builds(Ramp, st.floats(0.001, 0.3), st.floats(0.0, 1.0),
                                 st.sampled_from(["linear", "cosine", "exp", "hold"])), min_size=1, max_size=5),
              st.floats(0.0, 1.0), st.booleans()))


@settings(deadline=None, max_examples=60, database=None)
@given(rate=st.sampled_from([8_000, 44_100, 48_000]), period=st.integers(8, 400), data=st.data())
def test_envelope_trains_equal_the_reference(rate, period, data):
    """Trains under an envelope, each pulse (or alternating pair) scaled by
    the level at its onset, against the numpy reference: whole-sample
    periods (where the core computes the levels of up to 64 units in one
    run) and fractional ones (unit by unit), with and without a delay, an
    end, a counted pattern or bursts, in random blocks; to 1e-5 of the peak
    (a level one unit off is off by far more)."""
    frac = data.draw(st.sampled_from([0, 0, 0, 1, 7]))          # 0: a whole number of samples a period
    freq = rate / (period + frac / 11)
    cls = data.draw(st.sampled_from([mw.Biphasic, mw.Monophasic]))
    phases = data.draw(st.floats(0.2, 0.45)) * period / (2 if cls is mw.Biphasic else 1)
    phase_us = max(1.2, phases) / rate * 1e6                    # (at least a sample)
    kw = dict(freq_hz=freq, amp_ua=data.draw(st.floats(1.0, 500.0)), phase_us=phase_us, envelope=data.draw(ENVELOPES))
    extra = data.draw(st.sampled_from(["", "delay", "end", "pattern", "alternate", "burst"]))
    if extra == "delay":
        kw["delay_s"] = data.draw(st.floats(0.0, 0.01))
    elif extra == "end":
        kw["duration_s"] = data.draw(st.floats(0.05, 1.0))
    elif extra == "pattern":
        kw["pattern"] = data.draw(st.sampled_from(["3+ 2- 1~ 1rest", "5~", "20ms+ 10ms-"]))
    elif extra == "alternate" and cls is mw.Monophasic:
        kw["polarity"] = "alternate"
    elif extra == "burst":
        kw["burst"] = mw.Burst(7 * period / rate, 5 * period / rate)
    spec = cls(**kw)
    n = data.draw(st.integers(1, 3 * rate // 2))
    blocks = data.draw(st.lists(st.integers(1, 5000), min_size=1, max_size=8))
    gen, got, pos = spec.generator(rate), np.empty(n, dtype=np.float32), 0
    while pos < n:
        m = min(blocks[pos % len(blocks)], n - pos)
        gen.fill(got[pos:pos + m])
        pos += m
    want = numpy_ref.program_ref(spec.plan(rate), 0, n)
    peak = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    worst = int(np.argmax(np.abs(got - want)))
    assert err <= 1e-5 * peak, f"max |core - numpy| = {err:g} (peak {peak:g}), at sample {worst}"


def check_session(make, frames, name):
    """The engine against ``frames(buf, start)`` (a reference writing frames
    [start, start + len(buf)) of the same session into buf), to 1e-5 of
    full scale, over the whole session and 1000 frames of silence past it."""
    session = make()
    st = stage()
    eng = session.engine(RATE, st)
    chunk = 1 << 19
    total = session.frames(RATE) + 1000          # past the end: silence
    buf = np.empty((chunk, st.out_channels), dtype=np.float32)
    want = np.full((chunk, st.out_channels), np.nan, dtype=np.float32)
    for start in range(0, total, chunk):
        m = min(chunk, total - start)
        eng.fill(buf[:m])
        frames(want[:m], start)
        err = float(np.max(np.abs(buf[:m].astype(np.float64) - want[:m]))) if m else 0.0
        assert err <= 1e-5, f"frames {start}..{start + m}: max |engine - {name}| = {err:g} (DAC units, full scale 1)"


SESSIONS = pytest.mark.parametrize("make", [full_face, lambda: mixed_session(120.0)], ids=["full-face", "mixed-120s"])


@SESSIONS
def test_session_reference(make):
    ref = numpy_ref.SessionRef(make(), stage(), RATE)

    def frames(out, start):
        out[:] = ref.frames(start, len(out))
    check_session(make, frames, "numpy")


@pytest.mark.parametrize("fam", [f for f in FAMILIES if f.ref == "mask" and f.spec().pattern is None
                                 and f.spec().polarity != "alternate"], ids=lambda f: f.key)
def test_tile_shortcut(fam):
    p = numpy_ref.mask_params(fam.spec(), RATE)
    np.testing.assert_array_equal(numpy_ref.tile_train(p, 1234, N), kernel(fam.spec(), N + 1234)[1234:])
