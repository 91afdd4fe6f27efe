"""Pulse trains (Biphasic, Monophasic, CustomTrain, bursts, sweeps): block-size
invariance, exact timing, pulse charge, and agreement with independent oracles
(exact rational arithmetic, scipy.signal.square / chirp, numpy reconstructions).

Nothing here compares against numbers copied from the library's own output:
every expected value is computed from the specification of the waveform.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from scipy import signal

import microwave as mw
from microwave._core import Generator
from microwave.plans import BurstSchedule, CustomSchedule, SweepSchedule
from signals import fill_in_blocks, starts

RATE = 48_000

FAST = settings(deadline=None, max_examples=60, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# --------------------------------------------------------------------------
# helpers (independent of the library's internals)
# --------------------------------------------------------------------------
def subsample_onsets(x, amp, prev=0.0, offset=0):
    """Onset of each pulse, in samples, from its box-filtered first sample:
    sample n holds the mean over [n, n+1), so |x[n]|/amp is the fraction of
    the sample the (hard-edged, >= 1 sample wide) first phase covers, and the
    onset is n + 1 - that fraction."""
    idx = starts(x, prev)
    return offset + idx + 1.0 - np.abs(x[idx].astype(np.float64)) / amp


def exact_onsets(rate, freq, count, delay_s=0.0):
    """k * rate / freq (+ delay), exactly, as floats."""
    f = Fraction(freq).limit_denominator(10**6)
    d = Fraction(delay_s) * rate
    return np.array([float(d + k * Fraction(rate) / f) for k in range(count)])


# --------------------------------------------------------------------------
# 1. block-size invariance
# --------------------------------------------------------------------------
RATES = st.sampled_from([8_000, 22_050, 44_100, 48_000, 96_000])


@st.composite
def pulse_shape(draw, rate, kind):
    """Keyword arguments for the shape of a pulse, with every phase >= 1 sample."""
    su = 1e6 / rate   # us per sample
    w = su * draw(st.floats(1.0, 30.0))
    kw = {"amp_ua": draw(st.floats(1.0, 1000.0)), "phase_us": w}
    if kind == "asymmetric":
        kw["phase2_us"] = su * draw(st.floats(1.0, 30.0))
        # keep phase 2's balancing amplitude within the library's limit
        kw["amp_ua"] = min(kw["amp_ua"], 1000.0 * kw["phase2_us"] / w)
    elif kind == "triphasic":
        kw["triphasic"] = True
        if draw(st.booleans()):
            kw["phase2_us"] = max(2 * w, su * draw(st.floats(1.0, 60.0)))
    if kind in ("interphase", "triphasic") or draw(st.booleans()):
        if kind != "monophasic":
            kw["interphase_us"] = su * draw(st.floats(0.0, 6.0))
    if kind == "sloped" or draw(st.integers(0, 3)) == 0:
        shortest = min(w, kw.get("phase2_us", w))
        kw["rise_us"] = shortest * draw(st.floats(0.0, 1.0))
        kw["fall_us"] = shortest * draw(st.floats(0.0, 1.0))
        if kw["rise_us"] + kw["fall_us"] > 2 * shortest:
            kw["fall_us"] = 2 * shortest - kw["rise_us"]
    kw["polarity"] = draw(st.sampled_from([1, -1, "alternate"]))
    return kw


def _freq_for(spec_cls, kw, rate, draw):
    probe = spec_cls(freq_hz=1e-3, **kw)   # only to measure the footprint
    fmax = min(rate / 2.0, 20_000.0, 1e6 / probe.footprint_us) * 0.999
    fmin = max(fmax / 30.0, rate / 3000.0, 0.5)
    assume(fmin < fmax)
    return draw(st.floats(fmin, fmax))


@st.composite
def train_specs(draw):
    rate = draw(RATES)
    family = draw(st.sampled_from(["biphasic", "asymmetric", "triphasic", "interphase", "sloped",
                                   "monophasic", "burst", "delay_duration", "sweep_linear",
                                   "sweep_log", "custom_loop", "custom_once"]))
    if family.startswith("custom"):
        su = 1e6 / rate
        w = su * draw(st.floats(1.0, 20.0))
        biphasic = draw(st.booleans())
        foot = (2 * w if biphasic else w) / 1e6
        n = draw(st.integers(1, 6))
        gaps = draw(st.lists(st.floats(foot + 2.0 / rate, foot + 0.02), min_size=n, max_size=n))
        onsets = list(np.cumsum([draw(st.floats(0.0, 0.01))] + gaps[:-1]))
        loop = onsets[-1] + gaps[-1] if family == "custom_loop" else None
        amps = draw(st.lists(st.floats(-1000, 1000).filter(lambda a: abs(a) > 1e-3),
                             min_size=n, max_size=n))
        spec = mw.CustomTrain(onsets_s=tuple(onsets), amps_ua=tuple(amps), loop_s=loop,
                              phase_us=w, biphasic=biphasic, delay_s=draw(st.floats(0, 0.01)),
                              polarity=draw(st.sampled_from([1, -1])))
        return spec, rate
    kind = {"asymmetric": "asymmetric", "triphasic": "triphasic", "interphase": "interphase",
            "sloped": "sloped", "monophasic": "monophasic"}.get(family, draw(st.sampled_from(
                ["biphasic", "monophasic"])))
    cls = mw.Monophasic if kind == "monophasic" else mw.Biphasic
    kw = draw(pulse_shape(rate, kind))
    if kind == "monophasic":
        kw.pop("interphase_us", None)
    if family.startswith("sweep"):
        probe = cls(freq_hz=1e-3, **kw)
        fmax = min(rate / 2.0, 20_000.0, 1e6 / probe.footprint_us) * 0.999
        f0, f1 = draw(st.floats(fmax / 20, fmax)), draw(st.floats(fmax / 20, fmax))
        kw["sweep"] = mw.Sweep(f0, f1, draw(st.floats(0.01, 0.3)),
                               "log" if family == "sweep_log" else "linear")
    else:
        kw["freq_hz"] = _freq_for(cls, kw, rate, draw)
    if family == "burst":
        period_s = 1.0 / kw["freq_hz"]
        on = draw(st.floats(0.5, 6.0)) * period_s
        off = period_s * draw(st.floats(1.0, 5.0))
        if draw(st.booleans()):   # bursts on whole samples
            on, off = math.ceil(on * rate) / rate, math.ceil(off * rate) / rate
        kw["burst"] = mw.Burst(on, off)
    if family == "delay_duration" or draw(st.integers(0, 4)) == 0:
        kw["delay_s"] = draw(st.floats(0.0, 0.05))
        kw["duration_s"] = draw(st.floats(1e-4, 0.2))
    return cls(**kw), rate


@st.composite
def block_sizes(draw, total):
    blocks, left = [], total
    while left > 0 and len(blocks) < 40:
        b = draw(st.one_of(st.just(0), st.just(1), st.integers(2, 64), st.integers(65, 4000)))
        b = min(b, left)
        blocks.append(b)
        left -= b
    blocks.append(left)
    return blocks


LENGTHS = st.one_of(st.integers(0, 40), st.integers(3_000, 12_000))
INVARIANCE = settings(FAST, max_examples=200)


@INVARIANCE
@given(train_specs(), LENGTHS, st.data())
def test_block_size_invariance(spec_rate, n, data):
    spec, rate = spec_rate
    whole = spec.render(n / rate, rate=rate)
    assert whole.dtype == np.float32 and whole.shape == (n,)
    blocks = data.draw(block_sizes(n))
    pieces = fill_in_blocks(spec.generator(rate), blocks)
    assert np.array_equal(whole, pieces)
    # and the generator itself agrees with render() when asked for everything at once
    assert np.array_equal(whole, spec.generator(rate).render(n))


@FAST
@given(train_specs(), st.integers(1_000, 6_000))
def test_reset_rewinds_exactly(spec_rate, n):
    spec, rate = spec_rate
    gen = spec.generator(rate)
    first = gen.render(n)
    assert gen.position == n
    gen.render(17)
    gen.reset()
    assert gen.position == 0
    assert np.array_equal(first, gen.render(n))


def test_block_invariance_one_sample_at_a_time_dense():
    # a dense sloped asymmetric train, every sample its own fill() call
    spec = mw.Biphasic(freq_hz=2_345.6, amp_ua=300, phase_us=77.7, phase2_us=123.4,
                       interphase_us=13.3, rise_us=20, fall_us=31, polarity="alternate")
    n = 4_000
    whole = spec.render(n / RATE)
    assert np.array_equal(whole, fill_in_blocks(spec.generator(RATE), [1] * n))
    assert np.count_nonzero(whole) > n / 3


# --------------------------------------------------------------------------
# an independent numpy reconstruction: box-filtered rectangles
# --------------------------------------------------------------------------
def box_reference(n, rects):
    """Samples 0..n-1 of a sum of rectangles (start, stop, amp) in samples,
    each sample the mean over [k, k+1)."""
    out = np.zeros(n)
    for start, stop, amp in rects:
        k = np.arange(max(0, int(math.floor(start))), min(n, int(math.ceil(stop))))
        if len(k):
            out[k] += amp * (np.minimum(k + 1, stop) - np.maximum(k, start))
    return out


@st.composite
def hard_edged_trains(draw):
    rate = draw(RATES)
    kind = draw(st.sampled_from(["monophasic", "biphasic", "asymmetric", "triphasic"]))
    kw = draw(pulse_shape(rate, kind if kind != "biphasic" else "interphase"))
    kw.pop("rise_us", None), kw.pop("fall_us", None)
    cls = mw.Monophasic if kind == "monophasic" else mw.Biphasic
    if cls is mw.Monophasic:
        kw.pop("interphase_us", None)
    kw["freq_hz"] = _freq_for(cls, kw, rate, draw)
    if draw(st.booleans()):
        kw["delay_s"] = draw(st.floats(0.0, 0.03))
    return cls(**kw), rate


def expected_rects(spec, rate, n):
    """Rectangles of every pulse starting before sample n, from the spec's
    documented semantics (not from its plan)."""
    su = rate / 1e6
    f = Fraction(spec.freq_hz).limit_denominator(10**6)
    delay = Fraction(spec.delay_s) * rate
    a, w = spec.amp_ua, spec.phase_us * su
    if isinstance(spec, mw.Monophasic):
        phases, gap = [(a, w)], 0.0
    else:
        w2 = (spec.phase2_us if spec.phase2_us is not None else (2 if spec.triphasic else 1) * spec.phase_us) * su
        b = (2 if spec.triphasic else 1) * a * w / w2
        phases = [(a, w), (-b, w2)] + ([(a, w)] if spec.triphasic else [])
        gap = spec.interphase_us * su
    rects, k = [], 0
    while True:
        on = float(delay + k * Fraction(rate) / f)
        if on >= n:
            return rects
        sign = (-1 if spec.polarity == -1 else 1) * (-1 if spec.polarity == "alternate" and k % 2 else 1)
        t = on
        for amp, width in phases:
            rects.append((t, t + width, sign * amp))
            t += width + gap
        k += 1


@FAST
@given(hard_edged_trains(), st.integers(1, 10_000))
def test_matches_box_filtered_rectangles(spec_rate, n):
    spec, rate = spec_rate
    x = spec.render(n / rate, rate=rate).astype(np.float64)
    ref = box_reference(n, expected_rects(spec, rate, n))
    np.testing.assert_allclose(x, ref, rtol=0, atol=2e-6 * spec.peak_ua)


# --------------------------------------------------------------------------
# 2. timing over an hour
# --------------------------------------------------------------------------
def scan_onsets(spec, seconds, rate, amp, chunk_s=60):
    """Sub-sample onsets of every pulse over `seconds`, filled chunk by chunk."""
    gen = spec.generator(rate)
    total = round(seconds * rate)
    buf = np.empty(chunk_s * rate, dtype=np.float32)
    found, prev, done = [], 0.0, 0
    while done < total:
        m = min(len(buf), total - done)
        out = buf[:m]
        gen.fill(out)
        found.append(subsample_onsets(out, amp, prev=prev, offset=done))
        prev = float(out[-1])
        done += m
    return np.concatenate(found)


@pytest.mark.parametrize("rate,freq,count", [
    (48_000, 7, 25_200),        # 6857.142857... samples a period
    (44_100, 7.3, 26_280),      # 6041.0958... samples a period
])
@pytest.mark.parametrize("cls", [mw.Monophasic, mw.Biphasic])
def test_one_hour_pulse_count_and_onsets(cls, rate, freq, count):
    amp = 250.0
    spec = cls(freq_hz=freq, amp_ua=amp, phase_us=1_000)
    on = scan_onsets(spec, 3600, rate, amp)
    assert len(on) == count
    exact = exact_onsets(rate, freq, count)
    # the last onset within one sample of (count-1) * rate / freq ...
    assert abs(on[-1] - float(Fraction(count - 1) * rate / Fraction(freq).limit_denominator())) < 1.0
    # ... and in fact every onset to within float32 resolution of the first sample
    assert np.max(np.abs(on - exact)) < 1e-3


def test_onset_fractions_cycle_through_sevenths():
    # at 48 kHz a 7 Hz period is 6857 + 1/7 samples: the onsets' fractional
    # parts must be k/7 mod 1, which the box filter shows in the first sample
    amp = 100.0
    on = subsample_onsets(mw.Monophasic(freq_hz=7, amp_ua=amp, phase_us=500).render(2.0), amp)
    k = np.arange(len(on))
    assert len(on) == 14
    assert np.allclose(on - np.floor(on + 1e-6), (k % 7) / 7.0, atol=1e-5)


# --------------------------------------------------------------------------
# 3. pulse area (charge)
# --------------------------------------------------------------------------
AREA_RATES = st.sampled_from([16_000, 22_050, 44_100, 48_000, 96_000, 192_000])


def _window_sum(x, start, stop):
    """Sum of the samples touched by [start, stop) (start, stop in samples)."""
    return float(np.sum(x[int(math.floor(start)):int(math.ceil(stop))], dtype=np.float64))


@FAST
@given(rate=AREA_RATES, width=st.floats(1.05, 200.0), amp=st.floats(1.0, 1000.0),
       centi_hz=st.integers(50, 50_000), delay=st.floats(0.0, 0.01), data=st.data())
def test_monophasic_pulse_area(rate, width, amp, centi_hz, delay, data):
    freq = centi_hz / 100.0
    assume(rate / freq >= width + 2)
    phase_us = width * 1e6 / rate
    sloped = data.draw(st.booleans())
    r = f = 0.0
    if sloped:
        r = data.draw(st.floats(0.0, 1.0)) * phase_us
        f = data.draw(st.floats(0.0, 1.0)) * phase_us
        assume(rate / freq >= width + (r + f) / 2 * rate / 1e6 + 2)
    spec = mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=phase_us, rise_us=r, fall_us=f,
                         delay_s=delay)
    npulse = min(5, int(0.5 * freq) + 1)
    x = spec.render(delay + npulse / freq, rate=rate)
    foot = width + (r + f) / 2 * rate / 1e6
    expected = amp * phase_us * rate / 1e6
    for on in exact_onsets(rate, freq, npulse, delay):
        if on + foot + 1 > len(x):
            break
        assert _window_sum(x, on, on + foot) == pytest.approx(expected, rel=1e-3)
    # and nothing else: the whole render carries exactly npulse-ish pulses' charge
    seen = sum(1 for on in exact_onsets(rate, freq, npulse + 1, delay) if on < len(x))
    full = sum(1 for on in exact_onsets(rate, freq, npulse + 1, delay) if on + foot + 1 <= len(x))
    total = float(np.sum(x, dtype=np.float64))
    assert full * expected * (1 - 1e-3) <= total <= seen * expected * (1 + 1e-3)


@FAST
@given(rate=AREA_RATES, w1=st.floats(1.05, 120.0), w2=st.floats(1.05, 120.0),
       gap=st.floats(1.0, 10.0), amp=st.floats(1.0, 1000.0), centi_hz=st.integers(50, 30_000),
       asym=st.booleans(), polarity=st.sampled_from([1, -1]))
def test_biphasic_phase_areas_and_balance(rate, w1, w2, gap, amp, centi_hz, asym, polarity):
    freq = centi_hz / 100.0
    if not asym:
        w2 = w1
    amp = min(amp, 1000.0 * w2 / w1)     # phase 2's balancing amplitude stays in range
    su = 1e6 / rate
    foot = w1 + gap + w2
    assume(rate / freq >= foot + 2)
    spec = mw.Biphasic(freq_hz=freq, amp_ua=amp, phase_us=w1 * su, interphase_us=gap * su,
                       phase2_us=w2 * su if asym else None, polarity=polarity)
    npulse = min(4, int(0.5 * freq) + 1)
    x = spec.render(npulse / freq, rate=rate)
    q = amp * w1     # uA * samples: phase 1's charge, which phase 2 must return
    for on in exact_onsets(rate, freq, npulse):
        if on + foot + 1 > len(x):
            break
        p1 = _window_sum(x, on, on + w1)
        p2 = _window_sum(x, on + w1 + gap, on + foot)
        assert polarity * p1 == pytest.approx(q, rel=1e-3)
        assert polarity * p2 == pytest.approx(-q, rel=1e-3)
        assert abs(_window_sum(x, on, on + foot)) <= 1e-4 * q


@FAST
@given(rate=AREA_RATES, w=st.floats(2.0, 100.0), rise=st.floats(0.0, 1.0), fall=st.floats(0.0, 1.0),
       amp=st.floats(1.0, 1000.0), triphasic=st.booleans())
def test_sloped_biphasic_keeps_charge(rate, w, rise, fall, amp, triphasic):
    su = 1e6 / rate
    r, f = rise * w * su, fall * w * su      # (r + f) / 2 <= w: the edges fit
    spec = mw.Biphasic(freq_hz=rate / (8 * w + 2 * (r + f) / su + 10), amp_ua=amp, phase_us=w * su,
                       rise_us=r, fall_us=f, interphase_us=2 * su, triphasic=triphasic)
    x = spec.render(spec.footprint_us / 1e6 + 2 / rate, rate=rate).astype(np.float64)
    edge = (r + f) / 2 / su
    ph1 = x[:int(math.ceil(w + edge))]
    assert np.sum(ph1) == pytest.approx(amp * w, rel=1e-3)
    assert np.max(ph1) <= amp * (1 + 1e-6)
    assert abs(np.sum(x)) <= 1e-4 * amp * w
    assert np.sum(x[x < 0]) == pytest.approx(-amp * w * (2 if triphasic else 1), rel=1e-3)


def test_sloped_edges_are_linear_ramps():
    # a slow rise of 10 samples, sampled by the box filter: sample j of the
    # ramp is the mean of amp * t / 10 over [j, j+1), i.e. amp * (j + 0.5) / 10
    amp, su = 400.0, 1e6 / RATE
    spec = mw.Monophasic(freq_hz=100, amp_ua=amp, phase_us=40 * su, rise_us=10 * su, fall_us=4 * su)
    x = spec.render(0.005).astype(np.float64)
    j = np.arange(10)
    assert np.allclose(x[:10], amp * (j + 0.5) / 10, rtol=1e-6)
    # FWHM = 40 samples: flat from 10 to 40 - 2 + 5 = 43, fall over 4 samples
    assert np.all(x[10:43] == np.float32(amp))
    assert np.allclose(x[43:47], amp * (1 - (j[:4] + 0.5) / 4), rtol=1e-6)
    assert np.all(x[47:480] == 0)


# --------------------------------------------------------------------------
# 4. oracles: scipy.signal.square and chirp
# --------------------------------------------------------------------------
def exact_phase(n, freq, rate):
    """2*pi*f*t for t = n / rate, reduced mod 2*pi in integer arithmetic first
    (square() is 2*pi-periodic), so that the phase at an edge is exactly pi
    and scipy's comparison `mod(t, 2pi) < duty * 2pi` is not decided by the
    rounding of 2*pi*f*n/rate."""
    num = (freq * n) % rate          # freq, rate integers
    return 2 * np.pi * (num / rate)


@pytest.mark.parametrize("freq,rate", [(1000, 48_000), (500, 48_000), (441, 44_100), (2205, 44_100), (250, 8_000),
                                       (3000, 96_000)])
def test_biphasic_square_wave_equals_scipy_square(freq, rate):
    amp = 321.0
    spec = mw.Biphasic(freq_hz=freq, amp_ua=amp, phase_us=1e6 / freq / 2)   # edges on sample boundaries
    x = spec.render(0.25, rate=rate)
    n = np.arange(len(x))
    expected = (amp * signal.square(exact_phase(n, freq, rate))).astype(np.float32)
    assert np.array_equal(x, expected)
    # sign convention: positive first, and the sample starting at the edge
    # already belongs to phase 2
    half = rate // freq // 2
    assert x[0] == amp and x[half - 1] == amp and x[half] == -amp


@pytest.mark.parametrize("freq", [7, 300, 441, 700, 882, 1470])
def test_half_period_phase_is_accepted(freq):
    # phase_us = 1e6/freq/2 may round up by an ulp: still a square wave, not "too wide"
    spec = mw.Biphasic(freq_hz=freq, amp_ua=100, phase_us=1e6 / freq / 2)
    assert spec.footprint_us == pytest.approx(1e6 / freq)
    x = spec.render(1.0).astype(np.float64)      # a whole number of periods
    assert abs(x.sum()) < 1e-3 * 100 and np.max(np.abs(x)) <= 100 * (1 + 1e-6)
    # wall-to-wall phases, as the box-filtered rectangles say
    np.testing.assert_allclose(x, box_reference(len(x), expected_rects(spec, RATE, len(x))), atol=1e-4)


def test_square_oracle_with_naive_time_agrees_away_from_edges():
    # the same comparison with t = n / rate taken literally: scipy rounds some
    # edge samples the other way, but everywhere else the two agree exactly
    amp, freq = 321.0, 1000
    x = mw.Biphasic(freq_hz=freq, amp_ua=amp, phase_us=500).render(0.25)
    t = np.arange(len(x)) / RATE
    expected = (amp * signal.square(2 * np.pi * freq * t)).astype(np.float32)
    edge = (np.arange(len(x)) % 24) == 0
    assert np.array_equal(x[~edge], expected[~edge])


@pytest.mark.parametrize("freq,rate,duty", [(1000, 48_000, 0.25), (200, 48_000, 0.1), (441, 44_100, 0.37),
                                            (100, 8_000, 0.5)])
def test_monophasic_duty_equals_scipy_square(freq, rate, duty):
    amp = 77.0
    spec = mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=duty * 1e6 / freq)
    x = spec.render(0.3, rate=rate)
    n = np.arange(len(x))
    expected = (amp * (signal.square(exact_phase(n, freq, rate), duty) + 1) / 2).astype(np.float32)
    assert np.array_equal(x, expected)


def test_negative_first_biphasic_is_negated_square():
    x = mw.Biphasic(freq_hz=1000, amp_ua=50, phase_us=500, polarity=-1).render(0.1)
    n = np.arange(len(x))
    assert np.array_equal(x, (-50 * signal.square(exact_phase(n, 1000, RATE))).astype(np.float32))


def chirp_upward_crossings(f0, f1, t1, method, seconds, rate, oversample=16):
    """Times (in samples) where sin(phase) = chirp(..., phi=-90) crosses zero
    upward, by linear interpolation on a grid `oversample` times finer."""
    tf = np.arange(round(seconds * rate * oversample) + 1) / (rate * oversample)
    y = signal.chirp(tf, f0, t1, f1, method=method, phi=-90)
    i = np.flatnonzero((y[:-1] <= 0) & (y[1:] > 0))
    t = tf[i] - y[i] * (tf[i + 1] - tf[i]) / (y[i + 1] - y[i])
    t = np.concatenate([[0.0], t[t > 1e-9]])      # phase 0 at t = 0: the first pulse
    return t * rate


@pytest.mark.parametrize("f0,f1,method,scale", [
    (20, 200, "linear", "linear"),
    (180, 15, "linear", "linear"),
    (20, 2000, "logarithmic", "log"),
    (1500, 40, "logarithmic", "log"),
])
def test_sweep_onsets_match_chirp_zero_crossings(f0, f1, method, scale):
    amp, T = 100.0, 1.0
    spec = mw.Monophasic(amp_ua=amp, phase_us=200, sweep=mw.Sweep(f0, f1, T, scale))
    x = spec.render(T)
    on = subsample_onsets(x, amp)
    ref = chirp_upward_crossings(f0, f1, T, method, T, RATE)
    # the pulse at exactly t1 may or may not fall inside the render
    ref, on = ref[ref < T * RATE - 2], on[on < T * RATE - 2]
    assert len(on) == len(ref) > 20
    assert np.max(np.abs(on - ref)) < 0.05


def test_sweep_holds_stop_frequency_after_the_sweep():
    amp = 100.0
    sw = mw.Sweep(10, 40, 0.5)
    x = mw.Monophasic(amp_ua=amp, phase_us=1000, sweep=sw).render(1.5)
    on = subsample_onsets(x, amp) / RATE
    after = on[on > 0.5 + 1e-9]
    assert len(after) >= 30
    assert np.allclose(np.diff(after), 1 / 40, atol=1e-6)
    # pulse k (k past the sweep's phase) at T + (k - cycles) / f1
    k0 = len(on) - len(after)
    assert after[0] == pytest.approx(0.5 + (k0 - sw.cycles) / 40, abs=0.1 / RATE)


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_a_sweeps_held_tail_keeps_the_phase_law_an_hour_on(scale):
    """After the sweep, pulse k starts at seconds + (k - cycles) / stop_hz
    exactly (to float32's reading of the edge sample), however long the
    train holds: the tail is a regular train in exact samples, copied
    from a tile, and its onsets never drift."""
    amp, sw, delay = 100.0, mw.Sweep(10, 41, 0.5, scale), 0.0123
    gen = mw.Monophasic(amp_ua=amp, phase_us=1000, sweep=sw, delay_s=delay).generator(RATE)
    skip, junk = 3600 * RATE, np.empty(1 << 20, np.float32)
    for at in range(0, skip, len(junk)):
        gen.fill(junk[:min(len(junk), skip - at)])
    assert gen.tile_samples > 0
    on = subsample_onsets(gen.render(RATE), amp, prev=float(junk[(skip - 1) % len(junk)]), offset=skip)
    cycles = Fraction(sw.cycles)
    law = lambda k: (Fraction(delay) + Fraction(sw.seconds) + (k - cycles) / 41) * RATE
    k0 = math.floor(cycles) + 1 + round((on[0] - law(math.floor(cycles) + 1)) * 41 / RATE)
    want = np.array([float(law(k0 + j)) for j in range(len(on))])
    assert len(on) >= 40 and np.abs(on - want).max() < 1e-4, np.abs(on - want).max()


# --------------------------------------------------------------------------
# 9. bursts, delay, duration, custom trains, polarity
# --------------------------------------------------------------------------
def test_burst_counts_and_restart():
    # 30 Hz (1600 samples), bursts of 0.09 s (pulses at 0, 1/30, 2/30 s) every
    # 0.27 s: a continuing clock would put the 4th pulse at 0.3 s, a train
    # that restarts puts it at the burst onset 0.27 s.
    amp, delay = 120.0, 0.0123
    spec = mw.Monophasic(freq_hz=30, amp_ua=amp, phase_us=2000, delay_s=delay, burst=mw.Burst(0.09, 0.18))
    on = subsample_onsets(spec.render(2.0), amp) / RATE
    expected = [delay + b * Fraction(27, 100) + Fraction(k, 30) for b in range(8) for k in range(3)]
    expected = np.array([float(e) for e in expected if e * RATE < 2 * RATE])
    assert len(on) == len(expected)
    assert np.max(np.abs(on - expected)) < 1e-4 / RATE
    assert spec.pulse_rate_hz == pytest.approx(3 / 0.27)


@pytest.mark.parametrize("delay", [0.0, 0.25, 1 / 3, 0.0123456])
def test_delay_sets_first_onset(delay):
    amp = 200.0
    x = mw.Biphasic(freq_hz=11, amp_ua=amp, phase_us=400, delay_s=delay).render(delay + 0.5)
    on = subsample_onsets(x, amp)
    assert on[0] == pytest.approx(delay * RATE, abs=1e-4)
    assert np.all(x[:int(delay * RATE)] == 0)
    assert np.allclose(on, exact_onsets(RATE, 11, len(on), delay), atol=1e-4)


def test_duration_stops_new_pulses():
    amp, delay, dur = 200.0, 0.1, 0.75
    spec = mw.Monophasic(freq_hz=9, amp_ua=amp, phase_us=300, delay_s=delay, duration_s=dur)
    on = subsample_onsets(spec.render(3.0), amp) / RATE
    expected = [delay + k / 9 for k in range(100) if k / 9 < dur]
    assert np.allclose(on, expected, atol=1e-6)


def test_no_onset_after_duration_subsample():
    # onsets at k * 6857.142857 samples; the train ends at sample 6857.1, so
    # the pulse starting at 6857.142857 is after the end and must not play
    amp = 100.0
    spec = mw.Monophasic(freq_hz=7, amp_ua=amp, phase_us=1000, duration_s=6857.1 / RATE)
    on = subsample_onsets(spec.render(1.0), amp)
    assert np.all(on < 6857.1)


@pytest.mark.parametrize("dur", [0.1, 0.2, 0.3, 0.7])
def test_duration_decimal_boundary(dur):
    # seconds are the decimal meant: 0.1 s at 10 Hz is one pulse (t=0), not
    # two (the binary 0.1 is a hair above 1/10 and would admit t = 0.1 s)
    on = starts(mw.Monophasic(freq_hz=10, amp_ua=100, phase_us=1000, duration_s=dur).render(1.0))
    assert len(on) == round(dur * 10)


@pytest.mark.parametrize("on_s", [0.1, 0.2, 0.3, 0.7])
def test_burst_pulses_per_burst_decimal(on_s):
    x = mw.Monophasic(freq_hz=10, amp_ua=100, phase_us=1000, burst=mw.Burst(on_s, 1.0)).render(on_s + 1.05)
    assert len(starts(x)) == round(on_s * 10) + 1     # the burst, then the first pulse of the next


@pytest.mark.parametrize("on_s", [0.1, 0.2, 0.3, 0.7, 0.0375])
def test_burst_pulse_rate_matches_rendered(on_s):
    spec = mw.Monophasic(freq_hz=10, amp_ua=100, phase_us=1000, burst=mw.Burst(on_s, 1.0))
    seconds = 10 * (on_s + 1.0)
    n = len(starts(spec.render(seconds)))
    assert spec.pulse_rate_hz == pytest.approx(n / seconds, rel=1e-9)


def test_monophasic_alternate_and_negative():
    amp = 80.0
    x = mw.Monophasic(freq_hz=40, amp_ua=amp, phase_us=1000, polarity="alternate").render(1.0)
    idx = starts(x)
    assert len(idx) == 40
    assert np.array_equal(np.sign(x[idx + 2]), np.where(np.arange(40) % 2 == 0, 1.0, -1.0))
    y = mw.Monophasic(freq_hz=40, amp_ua=amp, phase_us=1000, polarity=-1).render(1.0)
    assert np.all(y <= 0) and np.array_equal(-y, mw.Monophasic(freq_hz=40, amp_ua=amp, phase_us=1000).render(1.0))


def test_biphasic_alternate_flips_leading_phase():
    x = mw.Biphasic(freq_hz=40, amp_ua=60, phase_us=1000, polarity="alternate").render(1.0)
    idx = starts(x)
    lead = np.sign(x[idx + 2])
    trail = np.sign(x[idx + 60])   # 48 samples a phase: sample 60 is in phase 2
    assert np.array_equal(lead, np.where(np.arange(40) % 2 == 0, 1.0, -1.0))
    assert np.array_equal(trail, -lead)


def test_triphasic_shape():
    # A, -B, A with phase 2 carrying both outer phases' charge; 48-sample phases
    amp = 100.0
    x = mw.Biphasic(freq_hz=10, amp_ua=amp, phase_us=1000, triphasic=True).render(0.1).astype(np.float64)
    assert np.all(x[:48] == amp) and np.all(x[48:144] == -amp) and np.all(x[144:192] == amp)
    assert np.all(x[192:] == 0)
    y = mw.Biphasic(freq_hz=10, amp_ua=amp, phase_us=1000, phase2_us=500, triphasic=True).render(0.1)
    assert np.all(y[:48] == amp) and np.all(y[48:72] == -4 * amp) and np.all(y[72:120] == amp)


@pytest.mark.parametrize("loop", [None, 0.1])
def test_custom_train_onsets_amplitudes_loop(loop):
    onsets, amps, delay = (0.0, 0.0123, 0.05), (100.0, -50.0, 80.0), 0.01
    spec = mw.CustomTrain(onsets_s=onsets, amps_ua=amps, loop_s=loop, phase_us=1000, biphasic=False,
                          delay_s=delay)
    x = spec.render(0.5).astype(np.float64)
    idx = starts(x)
    loops = 5 if loop else 1
    exp_on = np.array([delay + c * (loop or 0) + o for c in range(loops) for o in onsets]) * RATE
    exp_amp = np.array(amps * loops)
    assert len(idx) == len(exp_on)
    # sub-sample onset from the first sample, and the plateau value
    plateau = x[idx + 10]
    assert np.array_equal(plateau, exp_amp.astype(np.float32).astype(np.float64))
    on = idx + 1 - x[idx] / plateau
    assert np.allclose(on, exp_on, atol=1e-4)
    # each pulse's charge
    for o, a in zip(exp_on, exp_amp):
        assert _window_sum(x, o, o + 48) == pytest.approx(a * 48, rel=1e-6)


def test_custom_train_biphasic_pulses_are_balanced():
    spec = mw.CustomTrain(onsets_s=(0.001, 0.02), amps_ua=(300.0, -120.0), loop_s=0.05, phase_us=250,
                          interphase_us=50)
    x = spec.render(0.5).astype(np.float64)
    assert abs(x.sum()) < 1e-3
    idx = starts(x)
    assert len(idx) == 2 * 10 * 2  # two phases (gap between) per pulse, two pulses a loop, 10 loops
    assert np.array_equal(np.sign(x[idx[::2] + 3]), np.tile([1.0, -1.0], 10))
    assert spec.peak_ua == 300.0 and np.max(np.abs(x)) == 300.0


@st.composite
def repeating_trains(draw, sweep: bool | None = None):
    """Regular trains that repeat after a whole number of samples: a period
    of p + a/b samples with a small b (1001 Hz at 48 kHz is 47 + 953/1001;
    here b <= 40), optionally in bursts and under a counted pattern; or
    (one in four) a custom train of such pulses looped every whole number
    of samples; or (one in four of the rest, without bursts) a sweep,
    linear or log, up or down, that ends at that period and holds it
    (``sweep``: always, or never)."""
    rate = draw(RATES)
    b = draw(st.integers(1, 40))
    period = Fraction(draw(st.integers(8, 3000)) * b + draw(st.integers(0, b - 1)), b)
    cls = draw(st.sampled_from([mw.Biphasic, mw.Monophasic]))
    kw = draw(pulse_shape(rate, "biphasic" if cls is mw.Biphasic else "monophasic"))
    if cls is mw.Monophasic:
        kw.pop("interphase_us", None)
    probe = cls(freq_hz=1e-3, **kw)
    assume(probe.footprint_us * rate / 1e6 < float(period))
    kw["freq_hz"] = float(rate / period)
    if draw(st.booleans()):
        # named patterns, and timed ones of every kind of state (a timed state
        # ends on an absolute sample: leaving a tile must move it on too)
        timed = st.lists(st.tuples(st.integers(5, 400), st.sampled_from("+-~0")), min_size=1, max_size=4).map(
            lambda states: " ".join(f"{ms}ms{k}" for ms, k in states))
        kw["pattern"] = draw(st.one_of(st.sampled_from(["3+ 2- 1~ 1rest", "10+ 10-", "5~", "1+ 1rest",
                                                        "0.25s+ 0.1s-", "30ms~ 20ms0", "1s~"]), timed))
        kw.pop("polarity")
    if not sweep and draw(st.booleans()):
        on = draw(st.sampled_from([1, 2, 6, 0.5, 1.5, 2.5, 3.3])) * float(period) / rate
        kw["burst"] = mw.Burst(on, draw(st.sampled_from([0.5, 1.0, 2.5])) * on + float(period) / rate)
    if draw(st.booleans()):
        kw["delay_s"] = draw(st.floats(0.0, 0.01))
    if not sweep and draw(st.integers(0, 3)) == 0:     # a custom train looped every whole number of samples
        event("a looped custom train")
        return draw(looped_custom_trains(rate, kw)), rate
    if sweep or (sweep is None and "burst" not in kw and draw(st.integers(0, 3)) == 0):
        # a sweep whose held tail (a regular train at the drawn period) is copied from a tile
        start_hz = kw["freq_hz"] * draw(st.sampled_from([0.25, 0.5, 0.9, 1.5, 3.0]))
        assume(start_hz <= rate / 2 and probe.footprint_us * start_hz < 1e6)
        event("a sweep, then its held tail")
        kw["sweep"] = mw.Sweep(start_hz, kw.pop("freq_hz"), draw(st.floats(0.002, 0.3)),
                               draw(st.sampled_from(["linear", "log"])))
    return cls(**kw), rate


@st.composite
def looped_custom_trains(draw, rate, kw):
    """A custom train of the pulse shape in ``kw`` at uneven onsets (fractions
    of a sample included) with uneven amplitudes, looped every whole number
    of samples."""
    shape = {k: v for k, v in kw.items() if k in ("phase_us", "rise_us", "fall_us", "interphase_us", "delay_s")}
    biphasic = draw(st.booleans())
    if not biphasic:
        shape.pop("interphase_us", None)
    width = mw.CustomTrain(onsets_s=[0.0], amps_ua=[1.0], biphasic=biphasic, **shape).footprint_us * rate / 1e6
    gaps = draw(st.lists(st.floats(1.0, 400.0), min_size=1, max_size=8))
    onsets, t = [], draw(st.floats(0.0, 20.0))
    for g in gaps:
        onsets.append(t)
        t += math.ceil(width) + 1 + g
    loop = math.ceil(t) + draw(st.integers(0, 50))
    amps = [a * sign for a, sign in draw(st.lists(st.tuples(st.floats(1, 200), st.sampled_from([1, -1])),
                                                 min_size=len(onsets), max_size=len(onsets)))]
    return mw.CustomTrain(onsets_s=[x / rate for x in onsets], amps_ua=amps, biphasic=biphasic,
                          loop_s=loop / rate, **shape)


def repeat_samples(spec, rate):
    """After how many samples the endless train repeats, from exact
    fractions: the period p/q (or burst cycle) spans whole samples every q
    pulses (bursts), and a counted pattern of C pulses needs a multiple of
    C pulses."""
    plan = spec.plan(rate)
    sc, pat = plan.schedule, plan.pattern
    if isinstance(sc, CustomSchedule):     # (no pattern) every loop, if it spans whole samples
        return int(sc.loop_samples) if sc.loop_samples >= 1 and float(sc.loop_samples).is_integer() else 2**62
    if isinstance(sc, SweepSchedule):
        # its held tail, a train at stop_hz (read as the decimal it stands for); not under a timed
        # pattern with an alternating state (whose count the sweep's pulses start)
        if pat is not None and pat.by_time and len(pat.kinds) > 1 and 2 in pat.kinds:
            return 2**62
        period = Fraction(rate) / Fraction(spec.sweep.stop_hz).limit_denominator(10**6)
    else:
        period = Fraction(sc.period.whole * sc.period.den + sc.period.rem, sc.period.den)
    C, timed_cycle = 1, 1
    if pat is not None:
        if len(pat.kinds) == 1:
            C = 2 if pat.kinds[0] == 2 else 1          # alternating, or one sign
        elif pat.by_time:
            timed_cycle = sum(pat.lengths)             # states start on fixed samples
        else:
            C = sum(pat.lengths)
    frac = lambda r: Fraction(r.whole * r.den + r.rem, r.den)
    if not isinstance(sc, BurstSchedule):
        T = math.lcm(period.denominator, C) * period
    else:
        cycle, per_burst = frac(sc.burst_cycle), math.ceil(frac(sc.burst_on) / period)
        T = math.lcm(cycle.denominator, C // math.gcd(per_burst, C)) * cycle
    return math.lcm(int(T), timed_cycle)


def pulse_by_pulse(spec, rate, n, slots=True):
    """The train rendered without the repeating-tile shortcut (and, with
    slots=False, with every pulse rendered sample run by sample run rather
    than in one pass into a slot)."""
    return Generator(spec.plan(rate), tile=False, slots=slots).render(n)


@INVARIANCE
@given(train_specs(), LENGTHS)
def test_one_pass_pulses_equal_sample_runs(spec_rate, n):
    # an isolated short pulse is rendered in one pass over its pieces
    # (tpl_render); it must give the bits of the sample-run path
    spec, rate = spec_rate
    np.testing.assert_array_equal(pulse_by_pulse(spec, rate, n), pulse_by_pulse(spec, rate, n, slots=False))


@settings(FAST, max_examples=80)
@given(repeating_trains(), st.data())
def test_repeating_trains_equal_the_pulse_by_pulse_path(spec_rate, data):
    # a train that repeats after a whole number of samples is rendered once
    # over a tile and copied (until a whole number of repeats before its
    # end, if it has one): the samples must be those of the pulse-by-pulse
    # path, bit for bit, over repeats (the longest tiled repeat is 2**18
    # samples), across the end, and in any blocks
    _copied_as_rendered(*spec_rate, data)


def _copied_as_rendered(spec, rate, data):
    """The train copied from its tile (until a whole number of repeats
    before its end, if it has one) gives the pulse-by-pulse samples, bit for
    bit, over repeats (the longest tiled repeat is 2**18 samples), across
    the end, and in any blocks; and the tile was taken wherever it applies
    (no end: an end too close to the start leaves no room for a tile)."""
    n = 2**19 + 4321
    if data.draw(st.booleans()):
        spec = dataclasses.replace(spec, duration_s=data.draw(st.floats(0.0, 1.5 * n / rate)) or None)
    stepped = pulse_by_pulse(spec, rate, n)
    gen = spec.generator(rate)
    np.testing.assert_array_equal(gen.render(n), stepped)
    blocks = data.draw(block_sizes(n))
    np.testing.assert_array_equal(fill_in_blocks(spec.generator(rate), blocks), stepped)
    T = repeat_samples(spec, rate)
    if spec.duration_s is None:
        assert gen.tile_samples == (T * max(1, 16384 // T) if T <= 2**18 else 0)


@settings(FAST, max_examples=40)
@given(repeating_trains(sweep=True), st.data())
def test_a_sweeps_held_tail_is_copied_and_equals_the_pulse_by_pulse_path(spec_rate, data):
    # after its sweep a train holds stop_hz: a regular train in exact
    # samples from the first pulse past the sweep's phase, which repeats
    # and is copied from a tile like one
    _copied_as_rendered(*spec_rate, data)


@settings(FAST, max_examples=60)
@given(RATES, st.sampled_from(["biphasic", "monophasic", "sloped", "interphase"]), st.data())
def test_looped_custom_trains_are_copied_and_equal_the_pulse_by_pulse_path(rate, kind, data):
    # a custom train looped every whole number of samples repeats exactly
    # (each loop's onsets are the first's moved by whole samples): it is
    # copied from a tile, and leaving the tile before its end moves the
    # schedule's batch of onsets on; bit for bit the pulse-by-pulse samples
    spec = data.draw(looped_custom_trains(rate, data.draw(pulse_shape(rate, kind))))
    n = 2**19 + 4321
    if data.draw(st.booleans()):
        spec = dataclasses.replace(spec, duration_s=data.draw(st.floats(0.0, 1.5 * n / rate)) or None)
    gen = spec.generator(rate)
    stepped = pulse_by_pulse(spec, rate, n)
    np.testing.assert_array_equal(gen.render(n), stepped)
    np.testing.assert_array_equal(fill_in_blocks(spec.generator(rate), data.draw(block_sizes(n))), stepped)
    T = repeat_samples(spec, rate)
    if spec.duration_s is None:
        assert gen.tile_samples == T * max(1, 16384 // T)


@settings(FAST, max_examples=60)
@given(repeating_trains(), st.data())
def test_passes_rewound_before_the_tile_is_whole_equal_the_pulse_by_pulse_path(spec_rate, data):
    # a rewind (reset) while a train's tile is being recorded keeps the
    # samples recorded and the train's state there; the next pass copies them
    # and records on from that state.  Every pass, of any length (cut before,
    # inside or after the tile), in any blocks, with or without an end, must
    # be the pulse-by-pulse samples, bit for bit
    spec, rate = spec_rate
    if data.draw(st.booleans()):
        spec = dataclasses.replace(spec, duration_s=data.draw(st.floats(0.05, 6.0)))
    T = repeat_samples(spec, rate)
    span = 3 * max(16384, min(T, 2**18))
    passes = data.draw(st.lists(st.one_of(st.integers(1, span), st.integers(1, 20000)), min_size=2, max_size=6))
    stepped = pulse_by_pulse(spec, rate, max(passes))
    gen = spec.generator(rate)
    for k, n in enumerate(passes):
        got = fill_in_blocks(gen, data.draw(block_sizes(n)))
        assert np.array_equal(got, stepped[:n]), f"pass {k} of {passes}: first difference at " \
            f"{int(np.nonzero(got != stepped[:n])[0][0])}"
        gen.reset()


@settings(FAST, max_examples=40)
@given(rate=st.sampled_from([22050, 44100, 48000]), period=st.integers(40, 3000),
       states=st.lists(st.tuples(st.floats(0.5, 12), st.sampled_from("+-~0")), min_size=1, max_size=4),
       cls=st.sampled_from([mw.Biphasic, mw.Monophasic]), duration=st.floats(0.3, 3.0), delay=st.floats(0, 0.05))
def test_timed_patterns_with_an_end_equal_the_pulse_by_pulse_path(rate, period, states, cls, duration, delay):
    # every kind of timed state x durations x rates x delays: a train that
    # leaves its tile before its end must give the pulse-by-pulse samples
    # (states of a whole number of samples, a cycle of a whole number of
    # periods, so that the train repeats within a tile)
    whole = [max(1, round(k * period)) for k, _ in states]
    whole[-1] += -sum(whole) % period
    pattern = " ".join(f"{s / rate:.12f}s{kind}" for s, (_, kind) in zip(whole, states))
    spec = cls(freq_hz=rate / period, amp_ua=100, phase_us=0.3 * period / rate * 1e6, pattern=pattern,
               duration_s=duration, delay_s=delay)
    n = round((duration + delay + 0.1) * rate)
    np.testing.assert_array_equal(spec.render(n / rate, rate=rate), pulse_by_pulse(spec, rate, n))


def test_leaving_the_tile_moves_a_timed_pattern_on():
    # issue 10: a timed pattern with an alternating state and an end: after
    # the last whole repeat the pattern's state must end where it would
    spec = mw.Monophasic(freq_hz=30, amp_ua=1, phase_us=54.6, pattern="234ms+ 166ms~", duration_s=1)
    np.testing.assert_array_equal(spec.render(1, rate=22050), pulse_by_pulse(spec, 22050, 22050))


@pytest.mark.parametrize("kw", [
    dict(cls=mw.Biphasic, freq_hz=1001, phase_us=250),                      # 47 + 953/1001 samples
    dict(cls=mw.Biphasic, freq_hz=1001, phase_us=250, duration_s=4.56789),   # ... ending mid-repeat
    dict(cls=mw.Biphasic, freq_hz=230, phase_us=500, interphase_us=100),     # FSM's 230 Hz
    dict(cls=mw.Biphasic, freq_hz=1001, phase_us=499.5),                     # pulses fill the period
    dict(cls=mw.Biphasic, freq_hz=1001, phase_us=499.5, delay_s=0.0000123),  # ... from a fractional onset
    dict(cls=mw.Biphasic, freq_hz=433, phase_us=250, burst=mw.Burst(0.0137, 0.0211), delay_s=0.00123,
         duration_s=5.0),
    dict(cls=mw.Biphasic, freq_hz=480, phase_us=300, pattern="5~", burst=mw.Burst(2.5 / 480, 3 / 480)),  # 3 per burst
    dict(cls=mw.Monophasic, freq_hz=433.3, phase_us=250, polarity="alternate"),  # repeats after 10 s: not tiled
    dict(cls=mw.Biphasic, freq_hz=1000, phase_us=500),                       # square: pulses touch
    dict(cls=mw.Biphasic, freq_hz=480, phase_us=300, rise_us=40, fall_us=70, delay_s=0.0123),
    dict(cls=mw.Monophasic, freq_hz=600, phase_us=700, pattern="3+ 2- 2~ 1rest", duration_s=6.0),
    dict(cls=mw.Monophasic, freq_hz=100, phase_us=4000, pattern="3s+ 1s-"),       # INFUSE: repeats every 4 s
    dict(cls=mw.Biphasic, freq_hz=1000, phase_us=125, delay_s=0.0078125, pattern="30ms~ 20ms0"),  # starts mid-state
])
def test_named_repeating_trains_equal_the_pulse_by_pulse_path(kw):
    kw = dict(kw)
    spec = kw.pop("cls")(amp_ua=300, **kw)
    gen = spec.generator(RATE)
    n = 10 * RATE
    np.testing.assert_array_equal(gen.render(n), pulse_by_pulse(spec, RATE, n))
    assert (gen.tile_samples > 0) == (kw.get("freq_hz") != 433.3)
    gen.reset()    # a rewound train keeps its tile
    np.testing.assert_array_equal(gen.render(n), pulse_by_pulse(spec, RATE, n))


@pytest.mark.parametrize("spec", [
    mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250),          # copied from a tile
    mw.Biphasic(freq_hz=3, amp_ua=200, phase_us=250),             # mostly rest
    mw.Monophasic(freq_hz=433.3, amp_ua=200, phase_us=250),       # pulse by pulse
], ids=["tiled", "sparse", "stepped"])
def test_fills_larger_than_the_cache_equal_small_blocks(spec):
    # a single fill of more than 2**21 samples writes with stores that
    # bypass the cache (pyx/mw_stream.h), here into an unaligned view:
    # the samples must be those of small blocks, and nothing around the
    # view may be touched
    n = 2**21 + 12_345
    buf = np.full(n + 2, -1.0, dtype=np.float32)
    spec.generator(RATE).fill(buf[1:-1])
    small = fill_in_blocks(spec.generator(RATE), [1000] * (n // 1000) + [n % 1000])
    np.testing.assert_array_equal(buf[1:-1], small)
    assert buf[0] == -1.0 and buf[-1] == -1.0


def test_flat_run_whose_length_rounds_below_one_sample():
    # 1.9-sample pulses in bursts whose onsets fall .05 of a sample apart:
    # a sample was found to lie inside a phase (tau + 1 <= edge) while the
    # samples left in it, edge - tau, rounded to 0.999..., and the
    # sample-run path looped forever on a run of zero samples (found by
    # hypothesis); every path must now render it, and alike
    spec = mw.Monophasic(amp_ua=1.9, phase_us=39.58333333333333, freq_hz=222.84122562674094, polarity=-1,
                         burst=mw.Burst(on_s=0.00673125, off_s=0.007853125))
    x = spec.render(1.0)
    np.testing.assert_array_equal(x, fill_in_blocks(spec.generator(RATE), [100] * 480))
    np.testing.assert_array_equal(x, pulse_by_pulse(spec, RATE, RATE, slots=False))
    # every pulse is whole and carries amp x width: count them exactly
    period = Fraction(RATE) / Fraction(spec.freq_hz).limit_denominator(10**6)
    on, cycle = Fraction("0.00673125") * RATE, (Fraction("0.00673125") + Fraction("0.007853125")) * RATE
    onsets = [b * cycle + k * period for b in range(200) for k in range(3) if k * period < on]
    count = sum(1 for o in onsets if o + Fraction(19, 10) <= RATE)
    assert count == sum(1 for o in onsets if o < RATE) > 100
    assert float(x.astype(np.float64).sum()) == pytest.approx(-1.9 * 1.9 * count, rel=1e-4)


def test_the_verification_switches_are_arguments_not_plan_keys():
    """tile=False really takes the pulse-by-pulse path (no tile is ever
    recorded) and gives the same bits; the plan carries no test switch."""
    spec = mw.Biphasic(freq_hz=1001, amp_ua=100, phase_us=200)
    plan = spec.plan(RATE)
    assert not {"tile", "slots"} & {f.name for f in dataclasses.fields(plan)}
    fast, slow = Generator(plan), Generator(plan, tile=False)
    a, b = fast.render(4 * RATE), slow.render(4 * RATE)
    assert fast.tile_samples > 0 and slow.tile_samples == 0
    np.testing.assert_array_equal(a, b)
