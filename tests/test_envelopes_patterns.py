"""Envelopes (attack/hold/release, soft start, wave slope) and polarity
patterns (the INFUSE family): levels against their closed forms, signs of
every pulse against a reading of the pattern, DC and charge against exact
arithmetic, and block-size invariance of both.

The envelope is read off a biphasic *square wave* (phase = half period, edges
on sample boundaries), where every sample's magnitude is amp x level -- the
level of the sample where its pulse starts: gain is taken one pulse at a
time, so that each pulse stays balanced (pyx/mw_program.pxd).
"""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microwave as mw
from microwave import Envelope, Hold, PolarityPattern, Ramp
from signals import fill_in_blocks, starts

RATE = 48_000
AMP = 500.0

FAST = settings(deadline=None, max_examples=100, database=None,
                suppress_health_check=[HealthCheck.too_slow])

SHAPES = {
    "linear": lambda x: x,
    "cosine": lambda x: 0.5 - 0.5 * np.cos(np.pi * x),
    "exp": lambda x: (1 - np.exp(-5 * x)) / (1 - np.exp(-5)),
}


def square_train(**kw):
    """1 kHz biphasic square wave at 48 kHz: |x| == AMP on every sample."""
    return mw.Biphasic(freq_hz=1000, amp_ua=AMP, phase_us=500, **kw)


def levels(spec, seconds, rate=RATE):
    return np.abs(spec.render(seconds, rate=rate).astype(np.float64)) / AMP


def held(n, period=48):
    """The sample where the pulse holding sample n started (1 kHz at 48 kHz)."""
    return n // period * period


def pulse_signs(x, probe=2):
    """Sign of each pulse's first phase (a pulse = a run of nonzero samples)."""
    idx = starts(x)
    return np.sign(x[idx + probe]).astype(int)



# --------------------------------------------------------------------------
# 8. envelopes
# --------------------------------------------------------------------------
def test_square_train_is_flat_without_envelope():
    assert np.all(levels(square_train(), 0.2) == 1.0)


@pytest.mark.parametrize("shape,tol", [("linear", 2e-7), ("cosine", 1e-6), ("exp", 5e-6)])
def test_attack_hold_release_levels(shape, tol):
    attack, hold, release = 0.5, 0.3, 0.2
    env = Envelope.attack_hold_release(attack, hold, release, shape=shape)
    lv = levels(square_train(envelope=env), 1.2)
    f = SHAPES[shape]
    La, Lh, Lr = (round(s * RATE) for s in (attack, hold, release))
    n = np.arange(La)
    # sample n of a segment of L samples is at x = n / L of the segment; a
    # pulse holds the level of the sample where it starts
    np.testing.assert_allclose(lv[:La], f(held(n) / La), rtol=0, atol=tol)
    assert np.all(lv[La:La + Lh] == 1.0)
    m = np.arange(Lr)
    np.testing.assert_allclose(lv[La + Lh:La + Lh + Lr], 1.0 - f(held(m) / Lr), rtol=0, atol=tol)
    assert np.all(lv[La + Lh + Lr:] == 0.0)
    # monotone rise and fall
    assert np.all(np.diff(lv[:La]) >= 0) and np.all(np.diff(lv[La + Lh:La + Lh + Lr]) <= 0)


@pytest.mark.parametrize("shape", ["cosine", "exp"])
def test_curved_shapes_relative_error_where_level_is_large(shape):
    # away from zero the error relative to the level itself stays small
    env = Envelope.attack_hold_release(0.25, shape=shape)
    lv = levels(square_train(envelope=env), 0.25)
    x = held(np.arange(len(lv))) / len(lv)
    ref = SHAPES[shape](x)
    big = ref > 0.1
    assert np.max(np.abs(lv[big] / ref[big] - 1)) < 3e-5


@pytest.mark.parametrize("shape", ["cosine", "exp"])
def test_curved_shape_error_as_documented(shape):
    env = Envelope.attack_hold_release(1.0, shape=shape)
    lv = levels(square_train(envelope=env), 1.0)
    n = np.arange(len(lv))
    # the polynomials are within 1e-8 of libm (pyx/mw_shapes.h); what is
    # left is float32 rounding of the level and of amp * level
    assert np.max(np.abs(lv - SHAPES[shape](held(n) / len(lv)))) < 1e-8 + 1.5e-7
    # and a rise starts from exactly nothing
    assert lv[0] == 0.0


def test_attack_without_hold_stays_at_full_level():
    lv = levels(square_train(envelope=Envelope.attack_hold_release(0.1, shape="linear")), 1.0)
    assert np.all(lv[4800:] == 1.0)
    assert lv[0] == 0.0


def test_soft_start_and_stop():
    total, start, stop = 1.0, 0.2, 0.3
    env = Envelope.soft(total, start_s=start, stop_s=stop)
    lv = levels(square_train(envelope=env), 1.5)
    f = SHAPES["cosine"]
    Ls, Lh, Lr = round(start * RATE), round((total - start - stop) * RATE), round(stop * RATE)
    np.testing.assert_allclose(lv[:Ls], f(held(np.arange(Ls)) / Ls), atol=1e-6)
    assert np.all(lv[Ls:Ls + Lh] == 1.0)
    np.testing.assert_allclose(lv[Ls + Lh:Ls + Lh + Lr], 1 - f(held(np.arange(Lr)) / Lr), atol=1e-6)
    assert np.all(lv[round(total * RATE):] == 0.0)


@pytest.mark.parametrize("shape", ["linear", "cosine"])
@pytest.mark.parametrize("slope_s,every_s", [(0.05, 0.2), (0.1, 0.1), (0.0125, 0.3)])
def test_wave_slope_reramps_from_zero(shape, slope_s, every_s):
    env = Envelope.wave_slope(slope_s, every_s, shape=shape)
    lv = levels(square_train(envelope=env), 2.0)
    period, L = round(every_s * RATE), round(slope_s * RATE)
    n = np.arange(len(lv))
    pos = held(n) % period
    expected = np.where(pos < L, SHAPES[shape](np.minimum(pos, L) / L), 1.0)
    np.testing.assert_allclose(lv, expected, atol=1e-6)
    # every re-ramp starts from exactly zero
    assert np.all(lv[::period] == 0.0)
    assert len(lv[::period]) >= 2.0 / every_s


def test_envelope_segments_do_not_accumulate_rounding():
    # ramps of 0.0101 s at 44.1 kHz are 445.41 samples: each one must end at
    # the sample nearest its cumulative time, round(k * 445.41)
    rate, seg = 44_100, 0.0101
    ramps = tuple(Ramp(seg, float(k % 2 == 0), "linear") for k in range(32))
    env = Envelope(ramps, start_level=0.0)
    ends = [round(Fraction(k) * Fraction(seg) * rate) for k in range(1, 33)]
    assert list(np.cumsum(env.plan(rate).lengths_samples)) == ends
    # (a naive 445 samples a ramp would have put the last end at 14240)
    assert ends[-1] == 14_253
    # and the rendered train takes, at each pulse's first sample, the level of
    # that sample on those segments: ramps between 0 and 1 from each end
    spec = mw.Biphasic(freq_hz=2205, amp_ua=AMP, phase_us=1e6 / 2205 / 2, envelope=env)
    lv = np.abs(spec.render(0.5, rate=rate).astype(np.float64)) / AMP
    starts_ = [0] + ends[:-1]
    for k, (lo, hi) in enumerate(zip(starts_, ends)):
        a0 = 0.0 if k == 0 else float(k % 2 == 1)   # the level each ramp starts from
        onsets = np.arange(-(-lo // 20) * 20, hi, 20)
        want = a0 + (float(k % 2 == 0) - a0) * (onsets - lo) / (hi - lo)
        np.testing.assert_allclose(lv[onsets], want, atol=2e-7)


def test_envelope_start_level_and_mixed_ramps():
    env = Envelope((Ramp(0.1, 0.5, "linear"), Ramp(0.1, 0.2, "hold"), Ramp(0.1, 1.0, "exp")), start_level=0.25)
    lv = levels(square_train(envelope=env), 0.5)
    L = 4800
    n = held(np.arange(L))
    np.testing.assert_allclose(lv[:L], 0.25 + 0.25 * n / L, atol=2e-7)
    assert np.all(lv[L:2 * L] == np.float64(np.float32(AMP) * np.float32(0.2)) / AMP)
    np.testing.assert_allclose(lv[2 * L:3 * L], 0.2 + 0.8 * SHAPES["exp"](n / L), atol=5e-6)
    assert np.all(lv[3 * L:] == 1.0)
    assert env.peak_level == 1.0 and env.seconds == pytest.approx(0.3)


def test_envelope_peak_scales_peak_ua():
    env = Envelope((Ramp(0.1, 0.6, "linear"), Ramp(0.1, 0.3, "linear")))
    spec = square_train(envelope=env)
    assert spec.peak_ua == pytest.approx(0.6 * AMP)
    assert np.max(np.abs(spec.render(0.5))) <= spec.peak_ua * (1 + 1e-6)
    assert spec.shaped(Envelope.attack_hold_release(0.1)).peak_ua == AMP


def test_envelope_on_sparse_train_scales_each_pulse():
    # a Monophasic train under a linear ramp: each pulse's plateau is amp x the
    # level at the sample where the pulse starts, the whole pulse through
    env = Envelope.attack_hold_release(1.0, shape="linear")
    x = mw.Monophasic(freq_hz=10, amp_ua=AMP, phase_us=2000, envelope=env).render(1.0).astype(np.float64)
    for k in range(1, 10):
        n0 = k * 4800
        seg = x[n0:n0 + 96]
        np.testing.assert_allclose(seg, np.full(96, AMP * n0 / RATE), rtol=2e-7)


# --------------------------------------------------------------------------
# 7. polarity patterns
# --------------------------------------------------------------------------
def test_counted_pattern_ten_plus_ten_minus():
    x = mw.Monophasic(freq_hz=100, amp_ua=AMP, phase_us=1000, pattern="10+ 10-").render(2.0)
    assert np.array_equal(pulse_signs(x), np.tile([1] * 10 + [-1] * 10, 10))


def test_counted_pattern_with_negative_polarity_and_biphasic():
    x = mw.Monophasic(freq_hz=100, amp_ua=AMP, phase_us=1000, polarity=-1, pattern="3+ 2-").render(1.0)
    assert np.array_equal(pulse_signs(x), -np.tile([1, 1, 1, -1, -1], 20))
    y = mw.Biphasic(freq_hz=100, amp_ua=AMP, phase_us=1000, pattern="3+ 2-").render(1.0)
    lead = pulse_signs(y)
    trail = np.sign(y[starts(y) + 60]).astype(int)
    assert np.array_equal(lead, np.tile([1, 1, 1, -1, -1], 20))
    assert np.array_equal(trail, -lead)


@pytest.mark.parametrize("freq", [7, 10, 13.7])
def test_timed_pattern_flips_at_the_boundary(freq):
    # '3s+ 3s-': a pulse is positive when its onset falls in [0, 3) s of each
    # 6 s cycle (onset-based: the pulse at exactly 3 s is negative)
    x = mw.Monophasic(freq_hz=freq, amp_ua=AMP, phase_us=1000, pattern="3s+ 3s-").render(13.0)
    f = Fraction(freq).limit_denominator(10**6)
    onsets = [Fraction(k) * RATE / f for k in range(int(13 * freq) + 2)]
    onsets = [o for o in onsets if o < 13 * RATE]
    expected = [1 if (int(o) % (6 * RATE)) < 3 * RATE else -1 for o in onsets]
    signs = pulse_signs(x)
    assert len(signs) == len(expected)
    assert list(signs) == expected
    if freq == 7:
        assert expected[20:22] == [1, -1]          # pulse 21 starts at exactly 3 s


def test_rest_state_suppresses_pulses():
    x = mw.Monophasic(freq_hz=100, amp_ua=AMP, phase_us=1000, pattern="5+ 3rest 2-").render(1.0)
    # pulse k is at k * 480 samples; it is present unless k mod 10 is 5, 6 or 7
    present = [k for k in range(100) if k % 10 not in (5, 6, 7)]
    assert np.array_equal(starts(x), np.array(present) * 480)
    assert np.array_equal(pulse_signs(x), [1 if k % 10 < 5 else -1 for k in present])
    # timed rest
    y = mw.Monophasic(freq_hz=10, amp_ua=AMP, phase_us=1000, pattern="1s+ 500ms0").render(3.0)
    # pulse k at k * 4800 samples; the cycle is 15 pulses, the first 10 positive
    assert np.array_equal(starts(y), [k * 4800 for k in range(30) if k % 15 < 10])


def test_alternating_state_restarts_positive_each_cycle():
    x = mw.Monophasic(freq_hz=100, amp_ua=AMP, phase_us=1000, pattern="3~ 2-").render(1.0)
    assert np.array_equal(pulse_signs(x), np.tile([1, -1, 1, -1, -1], 20))
    # a lone alternating state keeps alternating
    y = mw.Monophasic(freq_hz=100, amp_ua=AMP, phase_us=1000, pattern="~").render(0.5)
    assert np.array_equal(pulse_signs(y), np.tile([1, -1], 25))


def test_pattern_objects_equal_strings():
    a = mw.Monophasic(freq_hz=50, amp_ua=AMP, phase_us=500, pattern="2+ 1-")
    b = mw.Monophasic(freq_hz=50, amp_ua=AMP, phase_us=500,
                      pattern=PolarityPattern((Hold("+", pulses=2), Hold(-1, pulses=1))))
    c = mw.Monophasic(freq_hz=50, amp_ua=AMP, phase_us=500).patterned("2+ 1-")
    assert np.array_equal(a.render(1.0), b.render(1.0)) and np.array_equal(a.render(1.0), c.render(1.0))
    p = PolarityPattern.polarized(-1)
    assert np.array_equal(mw.Monophasic(freq_hz=50, amp_ua=AMP, phase_us=500, pattern=p).render(1.0),
                          mw.Monophasic(freq_hz=50, amp_ua=AMP, phase_us=500, polarity=-1).render(1.0))


def _exact_counted_charge(pattern: str, amp, phase_us):
    """(net charge over one cycle in uC as a Fraction, pulses a cycle), read
    from the pattern string by hand: an alternating state restarts positive
    each cycle, so it nets +1 pulse when its count is odd; rest nets 0."""
    q = Fraction(amp) * Fraction(phase_us) / 10**6
    net = total = 0
    for tok in pattern.split():
        m = re.fullmatch(r"(\d*)(\+|-|~|rest)", tok)
        n = int(m.group(1) or 1)
        net += {"+": n, "-": -n, "~": n % 2, "rest": 0}[m.group(2)]
        total += n
    return q * net, total


@pytest.mark.parametrize("pattern", ["10+ 10-", "10+ 5-", "3+ 2rest 1-", "4~ 2+", "3~ 1-", "7+"])
def test_net_charge_per_cycle_and_dc_counted(pattern):
    amp, phase_us, freq = 150.0, 2000, 50
    spec = mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=phase_us, pattern=pattern)
    q_cycle, pulses = _exact_counted_charge(pattern, amp, phase_us)
    assert spec.net_charge_per_cycle_uc == pytest.approx(float(q_cycle), rel=1e-12, abs=1e-15)
    # measured: one cycle of samples integrates to that charge (uA * s = uC)
    cycle_samples = pulses * RATE // freq
    x = spec.render(20 * cycle_samples / RATE).astype(np.float64)
    assert np.sum(x[:cycle_samples]) / RATE == pytest.approx(float(q_cycle), rel=1e-6, abs=1e-9)
    # DC over 20 whole cycles
    dc = float(q_cycle) / (pulses / freq)
    assert spec.net_dc_ua == pytest.approx(dc, rel=1e-9, abs=1e-12)
    assert x.mean() == pytest.approx(dc, rel=1e-2, abs=1e-6 * amp)


@pytest.mark.parametrize("pattern,freq", [("2s+ 1s-", 9), ("1s+ 500ms0 1s-", 13.3), ("3s+ 3s-", 7),
                                          ("1.5s+ 0.5s-", 40)])
def test_net_dc_timed_matches_long_render(pattern, freq):
    amp = 200.0
    spec = mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=3000, pattern=pattern)
    x = spec.render(120.0).astype(np.float64)
    scale = amp * 3000e-6 * freq           # the DC of an all-positive train
    assert abs(x.mean() - spec.net_dc_ua) <= 0.01 * scale
    if spec.net_dc_ua != 0:
        assert x.mean() == pytest.approx(spec.net_dc_ua, rel=0.01)


def test_net_dc_timed_alternating_hold():
    # '1s~ 1s0' at 3 Hz: each cycle plays +, -, + then rests: net +1 pulse per 2 s
    amp, phase_us = 100.0, 10_000
    spec = mw.Monophasic(freq_hz=3, amp_ua=amp, phase_us=phase_us, pattern="1s~ 1s0")
    x = spec.render(20.0).astype(np.float64)
    measured = x.mean()
    assert measured == pytest.approx(amp * phase_us * 1e-6 / 2, rel=1e-3)   # independent check of the render
    assert spec.net_dc_ua == pytest.approx(measured, rel=0.01)


@pytest.mark.parametrize("pattern", ["10+ 10-", "10+ 5-", "7+", "2s+ 1s-", "3~ 1rest 2-"])
@pytest.mark.parametrize("kw", [{}, {"phase2_us": 4000}, {"triphasic": True}, {"rise_us": 300, "fall_us": 500}])
def test_biphasic_under_any_pattern_has_no_dc(pattern, kw):
    amp = 200.0
    spec = mw.Biphasic(freq_hz=23, amp_ua=amp, phase_us=2000, interphase_us=100, pattern=pattern, **kw)
    x = spec.render(10.0).astype(np.float64)
    assert spec.net_dc_ua == 0.0 and spec.net_charge_per_cycle_uc == 0.0
    assert abs(x.mean()) <= 1e-6 * amp
    assert np.count_nonzero(x) > 0


def test_monophasic_dc_without_pattern_and_alternate():
    amp, phase_us, freq = 100.0, 1000, 20
    spec = mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=phase_us)
    x = spec.render(10.0).astype(np.float64)
    assert spec.net_dc_ua == pytest.approx(amp * phase_us * 1e-6 * freq)
    assert x.mean() == pytest.approx(spec.net_dc_ua, rel=1e-6)
    alt = mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=phase_us, polarity="alternate")
    assert alt.net_dc_ua == 0.0 and abs(alt.render(10.0).astype(np.float64).mean()) < 1e-6 * amp
    assert spec.net_charge_per_cycle_uc == pytest.approx(amp * phase_us * 1e-6)


def test_custom_train_dc():
    spec = mw.CustomTrain(onsets_s=(0.0, 0.1), amps_ua=(100.0, 50.0), loop_s=0.5, phase_us=1000, biphasic=False)
    x = spec.render(10.0).astype(np.float64)
    assert spec.net_dc_ua == pytest.approx(x.mean(), rel=1e-6)
    assert spec.net_charge_per_cycle_uc == pytest.approx(150 * 1000e-6)


def test_custom_train_dc_negative_polarity():
    spec = mw.CustomTrain(onsets_s=(0.0, 0.1), amps_ua=(100.0, 50.0), loop_s=0.5, phase_us=1000,
                          biphasic=False, polarity=-1)
    x = spec.render(10.0).astype(np.float64)
    assert x.mean() < 0
    assert spec.net_dc_ua == pytest.approx(x.mean(), rel=1e-6)
    assert spec.net_charge_per_cycle_uc == pytest.approx(-150 * 1000e-6)


def test_net_dc_with_burst_matches_render():
    # Burst(0.1, ..) at 10 Hz: one pulse a burst (0.1 s is the decimal meant)
    spec = mw.Monophasic(freq_hz=10, amp_ua=100, phase_us=1000, burst=mw.Burst(0.1, 0.9), pattern="2+ 1-")
    x = spec.render(30.0).astype(np.float64)
    assert x.mean() == pytest.approx(100 * 1e-3 * 1 * (1 / 3), rel=1e-6)   # 1 pulse/s, signs + + -
    assert spec.net_dc_ua == pytest.approx(x.mean(), rel=0.01)


def test_net_dc_with_burst_that_is_exact_in_binary():
    spec = mw.Monophasic(freq_hz=8, amp_ua=100, phase_us=1000, burst=mw.Burst(0.375, 0.625), pattern="2+ 1-")
    x = spec.render(30.0).astype(np.float64)      # 3 pulses a burst, one burst a second
    assert spec.net_dc_ua == pytest.approx(x.mean(), rel=0.01)
    assert x.mean() == pytest.approx(100 * 1e-3 * 3 * (1 / 3), rel=1e-6)


# --------------------------------------------------------------------------
# 1. block-size invariance with envelopes and patterns
# --------------------------------------------------------------------------
@st.composite
def envelopes(draw):
    kind = draw(st.sampled_from(["ahr", "ahr_forever", "soft", "wave_slope", "custom", "custom_loop"]))
    shape = draw(st.sampled_from(["linear", "cosine", "exp"]))
    secs = st.floats(0.0, 0.08)
    if kind == "ahr":
        return Envelope.attack_hold_release(draw(secs), draw(secs), draw(secs), shape=shape)
    if kind == "ahr_forever":
        return Envelope.attack_hold_release(draw(secs), shape=shape)
    if kind == "soft":
        a, b = draw(secs), draw(secs)
        return Envelope.soft(a + b + draw(secs) + 1e-3, a, b, shape=shape)
    if kind == "wave_slope":
        s = draw(st.floats(1e-4, 0.05))
        return Envelope.wave_slope(s, s + draw(secs), shape=shape)
    ramps = draw(st.lists(st.builds(Ramp, secs, st.floats(0, 1), st.sampled_from(["linear", "cosine", "exp", "hold"])),
                          min_size=1, max_size=8))
    loop = kind == "custom_loop" and sum(r.seconds for r in ramps) > 0
    return Envelope(tuple(ramps), start_level=draw(st.floats(0, 1)), loop=loop)


@st.composite
def patterns(draw):
    timed = draw(st.booleans())
    pol = st.sampled_from(["+", "-", "~", "0"])
    n = draw(st.integers(1, 6))
    if timed:
        toks = [f"{draw(st.integers(1, 80))}ms{draw(pol)}" for _ in range(n)]
    else:
        toks = [f"{draw(st.integers(1, 12))}{draw(pol)}" for _ in range(n)]
    return " ".join(toks)


@st.composite
def shaped_trains(draw):
    rate = draw(st.sampled_from([8_000, 44_100, 48_000, 96_000]))
    su = 1e6 / rate
    w = su * draw(st.floats(1.0, 20.0))
    cls = draw(st.sampled_from([mw.Monophasic, mw.Biphasic]))
    kw = dict(amp_ua=draw(st.floats(1, 1000)), phase_us=w)
    if draw(st.booleans()):
        kw["rise_us"] = kw["fall_us"] = w * draw(st.floats(0, 1))
    foot = cls(freq_hz=1e-3, **kw).footprint_us
    fmax = min(rate / 2, 20_000, 1e6 / foot) * 0.999
    if draw(st.booleans()):
        kw["sweep"] = mw.Sweep(draw(st.floats(fmax / 20, fmax)), draw(st.floats(fmax / 20, fmax)),
                               draw(st.floats(0.01, 0.2)), draw(st.sampled_from(["linear", "log"])))
    else:
        kw["freq_hz"] = draw(st.floats(max(fmax / 30, rate / 3000), fmax))
    if draw(st.booleans()):
        kw["envelope"] = draw(envelopes())
    if draw(st.booleans()):
        kw["pattern"] = draw(patterns())
    else:
        kw["polarity"] = draw(st.sampled_from([1, -1, "alternate"]))
    if draw(st.integers(0, 3)) == 0:
        kw["delay_s"] = draw(st.floats(0, 0.02))
    return cls(**kw), rate


@st.composite
def block_sizes(draw, total):
    blocks, left = [], total
    while left > 0 and len(blocks) < 40:
        b = min(draw(st.one_of(st.just(0), st.just(1), st.integers(2, 64), st.integers(65, 4000))), left)
        blocks.append(b)
        left -= b
    blocks.append(left)
    return blocks


@settings(FAST, max_examples=200)
@given(shaped_trains(), st.one_of(st.integers(0, 30), st.integers(3_000, 15_000)), st.data())
def test_block_size_invariance_envelopes_patterns(spec_rate, n, data):
    spec, rate = spec_rate
    whole = spec.render(n / rate, rate=rate)
    assert whole.shape == (n,) and whole.dtype == np.float32
    pieces = fill_in_blocks(spec.generator(rate), data.draw(block_sizes(n)))
    assert np.array_equal(whole, pieces)
    assert np.max(np.abs(whole), initial=0.0) <= spec.peak_ua * (1 + 1e-6)


def test_wave_slope_block_invariance_long_loop_single_samples():
    spec = square_train(envelope=Envelope.wave_slope(0.003, 0.01, shape="cosine"), pattern="3+ 2~ 1rest")
    n = 3_000
    assert np.array_equal(spec.render(n / RATE), fill_in_blocks(spec.generator(RATE), [1] * n))
