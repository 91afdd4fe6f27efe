"""The logarithm of a log sweep's onsets (csrc/mw_log.h), the package's own.

Each property against something independent of the core's build:

* the core's logarithm (``microwave._core._sweep_log``, the C function) is
  within an ulp of the true natural logarithm (decimal arithmetic to 60
  digits), over the whole positive normal range, and NaN outside it;
* it is a numpy transcription of the method (``mw_log`` below, the
  header's operations in its order) bit for bit, over a million arguments:
  the bits are the method's, not the C library's or the compiler's;
* a log sweep's onsets, as the schedule gives them to the train (the
  batch of onsets, vectorised in the AVX2 clone), are the numpy
  reference's computed with that transcription, whole samples and fraction
  bit for bit, and so are its rendered samples (any blocks, far into the
  train).  With the C library's log in the core, or one coefficient
  changed, they differ.
"""
from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import microwave as mw
from microwave import _core

import numpy_ref
from families import RATE
from test_numpy_ref import kernel

LN2_HI = float.fromhex("0x1.62e42fefa38p-1")
LN2_LO = float.fromhex("0x1.ef35793c7673p-45")
SQRT2_MANT = 0x6A09E667F3BCD
COEFFS = [2.0 / (2 * n + 1) for n in range(1, 11)]      # 2/3, 2/5, ..., 2/21: 2 atanh(s) = 2s + s R(s*s)


def mw_log(x):
    """csrc/mw_log.h's mw_log, operation for operation, in numpy."""
    x = np.asarray(x, dtype=np.float64)
    u = x.view(np.uint64)
    mant = u & np.uint64(0x000FFFFFFFFFFFFF)
    up = (mant >= np.uint64(SQRT2_MANT)).astype(np.uint64)
    e = ((u >> np.uint64(52)).astype(np.int64) - 1023 + up.astype(np.int64)).astype(np.float64)
    m = (mant | ((np.uint64(1023) - up) << np.uint64(52))).view(np.float64)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = COEFFS[-1]
    for c in reversed(COEFFS[:-1]):
        r = c + z * r
    r = z * r
    return ((e * LN2_LO + s * (hfsq + r)) - hfsq + f) + e * LN2_HI


def mw_log1p(y):
    """csrc/mw_log.h's mw_log1p, operation for operation, in numpy."""
    y = np.asarray(y, dtype=np.float64)
    u = 1.0 + y
    return mw_log(u) + (y - (u - 1.0)) / u


def ulps_off(x: float, y: float) -> float:
    """|y - ln x| in ulps of ln x, ln x to 60 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(x).ln()
        return float(abs(Decimal(y) - exact) / Decimal(math.ulp(float(exact)))) if exact else float(y != 0.0)


POSITIVE_NORMAL = st.floats(min_value=2.0 ** -1022, max_value=1.7976931348623157e308, allow_nan=False,
                            allow_infinity=False)


@settings(deadline=None, max_examples=400, database=None)
@given(st.lists(POSITIVE_NORMAL, min_size=1, max_size=50)
       | st.lists(st.floats(0.5, 2.0), min_size=1, max_size=50)       # about the reduction's sqrt(2) seam
       | st.lists(st.floats(1.0, 1.0 + 1e-6), min_size=1, max_size=50))  # f tiny: the result is f's
@example([1.0, 2.0, 0.5, math.sqrt(2), math.nextafter(math.sqrt(2), 0), math.sqrt(0.5), 2.0 ** -1022,
          1.7976931348623157e308, 5e-8, 2e7, 1e18, 1.0 + 2.0 ** -52, 1.0 - 2.0 ** -53])
def test_within_an_ulp_of_the_logarithm(xs):
    got = _core._sweep_log(np.array(xs))
    worst = max(ulps_off(x, float(y)) for x, y in zip(xs, got))
    assert worst < 1.0, f"mw_log is {worst:.3f} ulp off"


def test_within_an_ulp_over_the_sweeps_arguments():
    """20 000 arguments log-spread over what a sweep gives the log: the
    ratio f1/f0 from 5e-8 to 2e7, and 1 + k ln(f1/f0) / (f0 T) between it
    and 1."""
    rng = np.random.default_rng(20261204)
    xs = np.exp(rng.uniform(math.log(5e-8), math.log(2e7), 20_000))
    got = _core._sweep_log(xs)
    worst = max(ulps_off(float(x), float(y)) for x, y in zip(xs, got))
    assert worst < 1.0, f"mw_log is {worst:.3f} ulp off"


def test_the_cores_logarithm_is_the_methods_bits():
    """A million arguments, log-spread over the normal range and dense
    about 1, the sqrt(2) seams and the sweeps' range: the C function's
    results are the numpy transcription's, bit for bit."""
    rng = np.random.default_rng(4)
    xs = np.concatenate([np.exp(rng.uniform(-708.0, 709.0, 300_000)),
                         np.exp(rng.uniform(math.log(5e-8), math.log(2e7), 300_000)),
                         rng.uniform(0.5, 2.0, 300_000), 1.0 + rng.uniform(-1e-6, 1e-6, 100_000)])
    got, want = _core._sweep_log(xs), mw_log(xs)
    bad = np.flatnonzero(got.view(np.uint64) != want.view(np.uint64))
    assert len(bad) == 0, f"{len(bad)} differ, first x={xs[bad[0]]!r}: core {got[bad[0]]!r}, method {want[bad[0]]!r}"


def test_nan_outside_the_domain():
    """Not positive, normal and finite: NaN (the C library's log gives NaN
    or -inf), which the schedule takes as the train's end."""
    xs = [0.0, -0.0, -1.0, -2.0 ** -1022, 2.0 ** -1074, math.nextafter(2.0 ** -1022, 0), math.inf, -math.inf,
          math.nan]
    assert np.isnan(_core._sweep_log(xs)).all()
    assert _core._sweep_log(2.0 ** -1022) == math.log(2.0 ** -1022)
    assert math.isnan(_core._sweep_log(0.0)) and _core._sweep_log(1.0) == 0.0


def assert_onsets_are_the_methods(gen, sched, n, skip=0):
    """The schedule's onsets skip .. skip + n - 1 (as the train takes them)
    equal the reference's with the method's logarithm, bit for bit."""
    w, f = gen._schedule_onsets(n, skip)
    assert len(w) == n
    rw, rf, valid = sched.onsets(np.arange(skip, skip + n))
    assert valid.all()
    bad = np.flatnonzero((w != rw) | (f.view(np.uint64) != rf.view(np.uint64)))
    assert len(bad) == 0, (f"{len(bad)} of {n} onsets differ from the method's, first pulse {skip + bad[0]}: "
                           f"core {w[bad[0]]} + {f[bad[0]]!r}, method {rw[bad[0]]} + {rf[bad[0]]!r}")


RATES = st.sampled_from([8_000, 44_100, 48_000, 96_000])


@settings(deadline=None, max_examples=100, database=None)
@given(rate=RATES, u0=st.floats(0.0, 1.0), u1=st.floats(0.0, 1.0), seconds=st.floats(0.05, 2.0),
       delay_s=st.sampled_from([0.0, 0.0123]), blocks=st.lists(st.integers(1, 9000), min_size=1, max_size=6))
@example(rate=48_000, u0=None, u1=None, seconds=4.0, delay_s=0.0, blocks=[1 << 20])      # the benchmark's
@example(rate=96_000, u0=1.0, u1=0.0, seconds=2.0, delay_s=0.0123, blocks=[4097])        # down, 6000:1
def test_a_log_sweep_is_that_logarithms_bits(rate, u0, u1, seconds, delay_s, blocks):
    """Rates log-spread from 0.5 Hz to the most the rate allows (phases of
    1.5 samples at most 30 % of the period, up to 3 kHz), up or down."""
    phase_us = max(100.0 if u0 is None else 0.0, 1.5e6 / rate)
    top = min(3000.0, 0.3e6 / phase_us)
    f0, f1 = (100.0, 2000.0) if u0 is None else (0.5 * (top / 0.5) ** u0, 0.5 * (top / 0.5) ** u1)
    spec = mw.Biphasic(amp_ua=200, phase_us=phase_us, delay_s=delay_s,
                       sweep=mw.Sweep(f0, f1, seconds, scale="log"))
    plan = spec.plan(rate)
    n = int((delay_s + seconds) * rate) + rate // 4
    gen = spec.generator(rate)
    got = np.empty(n, dtype=np.float32)
    at = 0
    while at < n:
        for m in blocks:
            m = min(m, n - at)
            gen.fill(got[at:at + m])
            at += m
    sched = numpy_ref.Schedule(plan.schedule, rate, log=mw_log, log1p=mw_log1p)
    assert_onsets_are_the_methods(gen, sched, sched.last_at_or_before(n - 1) + 1)
    want = numpy_ref.hold_gain(plan, numpy_ref.train_ref(plan, 0, n, sched=sched), 0)
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, (f"{len(bad)} samples differ from the method's, first at {bad[0]}: "
                           f"core {got[bad[0]]!r}, method {want[bad[0]]!r}")


def test_far_into_a_long_log_sweep():
    """Pulses ten minutes into a 20-minute sweep: arguments the short
    sweeps never reach, each onset from its index (never accumulated)."""
    skip, n = 600 * RATE + 7, RATE
    spec = mw.Biphasic(amp_ua=200, phase_us=50, sweep=mw.Sweep(50.0, 4000.0, 1200.0, scale="log"))
    got = kernel(spec, n, skip=skip)
    plan = spec.plan(RATE)
    sched = numpy_ref.Schedule(plan.schedule, RATE, log=mw_log, log1p=mw_log1p)
    first = sched.last_at_or_before(skip - 1) + 1
    assert_onsets_are_the_methods(spec.generator(RATE), sched, 20_000, skip=first)
    want = numpy_ref.train_ref(plan, skip, n, sched=sched)
    assert np.count_nonzero(got) > 1000
    np.testing.assert_array_equal(got, want)


def test_a_plan_asking_the_log_past_its_domain_ends_the_sweep():
    """A plan built by hand whose phase at the end lies past its down
    sweep's (1.2 times) asks for the log of numbers at or below 0 for its
    last pulses: NaN, the train's end there (as the C library's log gave),
    never onsets at negative or backward times."""
    import dataclasses
    rate = 96_000
    spec = mw.Biphasic(amp_ua=200, phase_us=20, sweep=mw.Sweep(2000.0, 1.0, 2.0, scale="log"))
    plan = spec.plan(rate)
    sc = dataclasses.replace(plan.schedule, phase_at_end_cycles=plan.schedule.phase_at_end_cycles * 1.2)
    gen = _core.Generator(dataclasses.replace(plan, schedule=sc))
    w, f = gen._schedule_onsets(10_000)
    t = w + f
    assert 0 < len(t) < 10_000 and np.all(t >= 0) and np.all(np.diff(t) > 0), t[-5:]
    # none past the last pulse whose argument is positive: 1 + k ln(f1/f0) / (f0 T) > 0
    assert len(t) == math.ceil(2000.0 * 2.0 / math.log(2000.0)), len(t)


def exact_onsets(f0: float, f1: float, seconds: float, rate: int, ks) -> list[Decimal]:
    """Onsets (samples) of pulses ks of a log sweep by the phase law, to
    50 digits: T / ln r * ln(1 + k ln r / (f0 T)), r = f1 / f0 as given."""
    with localcontext() as ctx:
        ctx.prec = 50
        f0d, T = Decimal(f0), Decimal(seconds)
        lr = (Decimal(f1) / f0d).ln()
        return [T / lr * (1 + Decimal(int(k)) * lr / (f0d * T)).ln() * rate for k in ks]


@settings(deadline=None, max_examples=60, database=None)
@given(f0=st.floats(1.0, 3000.0), near=st.integers(-15, -4), up=st.booleans(), seconds=st.floats(0.1, 600.0))
@example(f0=10.0, near=-16, up=True, seconds=1.0)           # f1 the next double after f0
@example(f0=1000.0, near=-9, up=True, seconds=3600.0)
def test_a_log_sweep_between_rates_a_hair_apart_keeps_its_onsets(f0, near, up, seconds):
    """start_hz and stop_hz within 1e-15 to 1e-4 of each other: every onset
    where the phase law puts it (to 1e-6 samples; with log(1 + y) instead
    of log1p(y), 1 + y kept too few digits of y and onsets were off by
    whole samples, several pulses at one onset: twice the current asked),
    at the sweep's start and at its end, and the samples never above the
    pulse's amplitude."""
    rate = 48_000
    f1 = math.nextafter(f0, math.inf) if near == -16 else f0 * (1 + (10.0 ** near if up else -(10.0 ** near)))
    assert f1 != f0
    phase_us = min(100.0, 0.3e6 / max(f0, f1))
    spec = mw.Biphasic(amp_ua=200, phase_us=phase_us, sweep=mw.Sweep(f0, f1, seconds, scale="log"))
    gen = spec.generator(rate)
    last = math.floor(spec.sweep.cycles)
    for skip in (0, max(0, last - 40)):
        w, f = gen._schedule_onsets(40, skip)
        ks = range(skip, skip + len(w))
        ks_in = [k for k in ks if k <= last]            # (past the sweep: the held tail, exact rationals)
        want = exact_onsets(f0, f1, seconds, rate, ks_in)
        got = [Decimal(int(a)) + Decimal(float(b)) for a, b in zip(w, f)][:len(ks_in)]
        worst = max((abs(g - x) for g, x in zip(got, want)), default=Decimal(0))
        assert worst < Decimal("1e-6"), f"onsets off the phase law by {worst} samples"
        assert np.all(np.diff(w + f) > 0)
    x = gen.render(min(rate * 2, int(seconds * rate) + 100))
    assert np.max(np.abs(x)) <= 200.0 * (1 + 1e-6)
