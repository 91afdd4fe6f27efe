"""Validation: hostile parameters and error messages.

The contract (microwave._checks): every bad value raises ValueError -- or,
when it is of the wrong type (a str, None, a bool where a number is wanted),
TypeError -- naming the parameter and the value given.  So, for every
constructor argument of every spec, a hostile value (NaN, +-inf, 0, -0.0,
negative, huge, subnormal, wrong type, or just a random float) gives either

* a ValueError or TypeError whose message names that parameter, or
* a spec that renders a finite waveform with max |value| <= spec.peak_ua.

tests/test_fuzz_api.py fuzzes every public callable the same way.

Some errors are conflicts between parameters rather than one bad value (the
pulse is wider than its period, the edges do not fit the phase, ...); those
messages may name the *other* parameter of the conflict, and the accepted
phrasing is listed per parameter in CONFLICTS below.

Sweeps compute onsets in floating point, so their hostile renders run in a
forked child with a timeout: a hang (the C loop runs without the GIL) must
fail the test, not freeze the suite.  The tests at the end pin bugs found
this way and fixed.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import microwave as mw
from microwave import Envelope, Hold, PolarityPattern, Ramp
from microwave.sessions import Session, Step, builtin
from microwave.stage import Stage

NAN, INF = float("nan"), float("inf")
HOSTILE_SEEDS = [NAN, INF, -INF, 0.0, -0.0, -1.0, -1e300, 1e300, 5e-324, 1e-300, 1e-9, 2.0**63, 1e9, 1e6]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_SEEDS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e7, 1e7),
    st.floats(0.0, 2.0),
    st.integers(-10**6, 10**12),
)
HOSTILE_ANY = st.one_of(HOSTILE, st.sampled_from([True, False, "5", None, [1.0], 1 + 2j]))
RENDER_S = 0.1

PROPS = settings(deadline=None, max_examples=40, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# --------------------------------------------------------------------------
# families: a valid base spec, and how to build it with one argument replaced
# --------------------------------------------------------------------------
BIPHASIC = dict(freq_hz=50, amp_ua=200, phase_us=500, interphase_us=50, rise_us=20, fall_us=30,
                delay_s=0.01, duration_s=0.15, phase2_us=700, polarity=1)
TRIPHASIC = dict(period_us=20_000, amp_ua=200, phase_us=500, phase2_us=1500, triphasic=True, polarity=-1)
MONOPHASIC = dict(freq_hz=50, amp_ua=200, phase_us=500, rise_us=20, fall_us=30, delay_s=0.01,
                  duration_s=0.15, polarity="alternate")
BURST = dict(on_s=0.035, off_s=0.02, freq_hz=100)
CUSTOM = dict(onset0=0.0, onset1=0.02, amp0=100.0, amp1=-50.0, loop_s=0.05, phase_us=300,
              interphase_us=40, delay_s=0.001, duration_s=0.18, rise_us=10, fall_us=10, polarity=1)
ENVELOPE = dict(seconds=0.05, to_level=0.7, start_level=0.2)
HOLD = dict(pulses=3, seconds=0.03)


def _custom(onset0, onset1, amp0, amp1, **kw):
    return mw.CustomTrain(onsets_s=(onset0, onset1), amps_ua=(amp0, amp1), biphasic=True, **kw)


def _burst(on_s, off_s, freq_hz):
    return mw.Monophasic(freq_hz=freq_hz, amp_ua=100, phase_us=500, burst=mw.Burst(on_s, off_s))


def _envelope(seconds, to_level, start_level):
    env = Envelope((Ramp(seconds, to_level, "cosine"), Ramp(0.01, 1.0)), start_level=start_level)
    return mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=500, envelope=env)


def _hold(pulses=None, seconds=None):
    # exactly one of them is given
    h = Hold("+", pulses=pulses) if seconds is None else Hold("~", seconds=seconds)
    other = Hold("-", pulses=2) if seconds is None else Hold("-", seconds=0.01)
    return mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=500, pattern=PolarityPattern((h, other)))


FAMILIES = {
    "Biphasic": (lambda **k: mw.Biphasic(**k), BIPHASIC),
    "Triphasic": (lambda **k: mw.Biphasic(**k), TRIPHASIC),
    "Monophasic": (lambda **k: mw.Monophasic(**k), MONOPHASIC),
    "Burst": (_burst, BURST),
    "CustomTrain": (_custom, CUSTOM),
    "Envelope": (_envelope, ENVELOPE),
}

# the name a message must contain for each argument of the builders above
NAME = {"onset0": "onsets_s", "onset1": "onsets_s", "amp0": "amps_ua", "amp1": "amps_ua"}

WIDER = "is wider than"          # footprint vs period: names phase_us
EDGES = "rise_us + fall_us"      # edges vs phase width: names rise_us + fall_us
CONFLICTS = {
    "freq_hz": (WIDER, "burst off_s"),
    "period_us": (WIDER,),
    "phase_us": (WIDER, EDGES, "burst off_s", "overlap", "onsets_s has pulses"),
    "phase2_us": (WIDER, EDGES),
    "interphase_us": (WIDER, "overlap", "onsets_s has pulses"),
    "rise_us": (WIDER, "overlap", "onsets_s has pulses"),
    "fall_us": (WIDER, "overlap", "onsets_s has pulses"),
    "on_s": ("burst off_s",),
    "loop_s": ("onsets_s", "overlap"),
    "onset0": ("overlap", "loop_s"),
    "onset1": ("overlap", "loop_s"),
    "start_hz": (WIDER, "sweep reaches"),
    "stop_hz": (WIDER, "sweep reaches"),
    "seconds": (),
}


def check_outcome(param, value, make, seconds=RENDER_S, rate=48_000):
    """Build and render; assert the contract. Returns 'error' or 'ok'."""
    try:
        spec = make()
        x = spec.render(seconds, rate=rate)
    except (ValueError, TypeError) as e:
        if isinstance(e, TypeError) and param not in FLAGS:
            assert not _is_number(value), f"{param}={value!r}: a number raised TypeError: {e}"
        msg = str(e)
        name = NAME.get(param, param)
        allowed = (name,) + CONFLICTS.get(param, ())
        assert any(a in msg for a in allowed), f"{param}={value!r}: message does not name it: {msg!r}"
        return "error"
    assert x.dtype == np.float32 and x.ndim == 1
    assert np.all(np.isfinite(x)), f"{param}={value!r}: non-finite output"
    peak = spec.peak_ua
    assert math.isfinite(peak)
    assert np.max(np.abs(x), initial=0.0) <= peak * (1 + 1e-6), f"{param}={value!r}: exceeds peak_ua={peak}"
    return "ok"


FLAGS = {"triphasic", "scale"}   # a bool, a str: any number is of the wrong type


def _is_number(value) -> bool:
    return isinstance(value, (int, float, Fraction)) and not isinstance(value, bool)


PARAMS = [(fam, p) for fam, (_, base) in FAMILIES.items() for p in base]


@pytest.mark.parametrize("family,param", PARAMS, ids=[f"{f}-{p}" for f, p in PARAMS])
@PROPS
@given(value=HOSTILE_ANY)
@example(value=NAN)
@example(value=INF)
@example(value=-1.0)
@example(value=0.0)
@example(value=1e300)
def test_hostile_single_argument(family, param, value):
    build, base = FAMILIES[family]
    kw = dict(base)
    kw[param] = value
    check_outcome(param, value, lambda: build(**kw))


# ---- whole hostile specs: several arguments at once ------------------------
SEMI = st.one_of(HOSTILE, st.floats(0.0, 5_000.0), st.floats(0.0, 0.3))


@settings(PROPS, max_examples=150)
@given(data=st.data(), cls=st.sampled_from([mw.Biphasic, mw.Monophasic]))
def test_hostile_whole_spec(data, cls):
    names = ["freq_hz", "amp_ua", "phase_us", "rise_us", "fall_us", "delay_s", "duration_s"]
    if cls is mw.Biphasic:
        names += ["interphase_us", "phase2_us"]
    kw = {n: data.draw(SEMI, label=n) for n in names}
    rate = data.draw(st.sampled_from([8_000, 44_100, 48_000, 192_000]), label="rate")
    try:
        spec = cls(**kw)
        x = spec.render(RENDER_S, rate=rate)
    except ValueError as e:
        msg = str(e)
        assert any(n in msg for n in names + ["rate"]), msg
        return
    assert np.all(np.isfinite(x))
    assert np.max(np.abs(x), initial=0.0) <= spec.peak_ua * (1 + 1e-6)


# ---- render() arguments ----------------------------------------------------
@settings(PROPS, max_examples=100)
@given(seconds=HOSTILE_ANY)
def test_hostile_render_seconds(seconds):
    # valid durations beyond RENDER_S would only be slow, not hostile
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        assume(not (RENDER_S < float(seconds) <= 7 * 86400))
    check_outcome("seconds", seconds, lambda: mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=500),
                  seconds=seconds)


@settings(PROPS, max_examples=100)
@given(rate=HOSTILE_ANY)
@example(rate=999)
@example(rate=768_001)
@example(rate=44_100.5)
@example(rate=48_000.0)
def test_hostile_render_rate(rate):
    spec = mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=500)
    try:
        spec.generator(rate)
        x = spec.render(RENDER_S, rate=rate)
    except (ValueError, TypeError) as e:
        assert isinstance(e, ValueError) == _is_number(rate), f"rate={rate!r}: {e!r}"
        assert "rate" in str(e)
        return
    assert 1_000 <= rate <= 768_000 and float(rate).is_integer()
    assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= 100.0


# ---- Hold, Sweep, envelope constructors -------------------------------------
@pytest.mark.parametrize("param", ["pulses", "seconds"])
@PROPS
@given(value=HOSTILE_ANY)
@example(value=0)
@example(value=3.0)
@example(value=NAN)
def test_hostile_hold(param, value):
    check_outcome(param, value, lambda: _hold(**{param: value}))


def _forked(fn, timeout=10.0):
    """Run fn() in a forked child; ('hang',) if it does not finish in time."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child():
        try:
            out = fn()
        except (ValueError, TypeError) as e:
            out = (type(e).__name__, str(e))
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = ("exception", repr(e))
        send.send(out)
        os._exit(0)

    proc = ctx.Process(target=child)
    proc.start()
    send.close()
    try:
        result = recv.recv() if recv.poll(timeout) else ("hang",)
    except EOFError:
        result = ("died",)
    if proc.is_alive():
        proc.kill()
    proc.join()
    return result


def _sweep_render(start_hz, stop_hz, seconds, scale):
    spec = mw.Biphasic(amp_ua=100, phase_us=200, sweep=mw.Sweep(start_hz, stop_hz, seconds, scale))
    x = spec.render(RENDER_S)
    return ("ok", bool(np.all(np.isfinite(x))), float(np.max(np.abs(x), initial=0.0)), spec.peak_ua)


SWEEP = dict(start_hz=20.0, stop_hz=500.0, seconds=0.1)


@pytest.mark.parametrize("scale", ["linear", "log"])
@pytest.mark.parametrize("param", list(SWEEP) + ["scale"])
@settings(PROPS, max_examples=25)
@given(value=HOSTILE_ANY)
@example(value=NAN)
@example(value=0.0)
def test_hostile_sweep(param, scale, value):
    kw = dict(SWEEP, scale=scale)
    kw[param] = value
    result = _forked(lambda: _sweep_render(**kw))
    assert result[0] in ("ok", "ValueError", "TypeError"), f"{param}={value!r}: {result}"
    if result[0] == "TypeError" and param not in FLAGS:
        assert not _is_number(value), f"{param}={value!r}: a number raised {result}"
    if result[0] in ("ValueError", "TypeError"):
        allowed = (param,) + CONFLICTS.get(param, ())
        assert any(a in result[1] for a in allowed), result[1]
    else:
        _, finite, peak_seen, peak = result
        assert finite and peak_seen <= peak * (1 + 1e-6)


@pytest.mark.parametrize("maker", [
    lambda v: Envelope.attack_hold_release(v, 0.02, 0.02),
    lambda v: Envelope.attack_hold_release(0.02, v, 0.02),
    lambda v: Envelope.attack_hold_release(0.02, 0.02, v),
    lambda v: Envelope.soft(v, 0.02, 0.02),
    lambda v: Envelope.soft(0.1, v, 0.02),
    lambda v: Envelope.soft(0.1, 0.02, v),
    lambda v: Envelope.wave_slope(v, 0.05),
    lambda v: Envelope.wave_slope(0.01, v),
], ids=["attack_s", "hold_s", "release_s", "total_s", "start_s", "stop_s", "slope_s", "every_s"])
@PROPS
@given(value=HOSTILE)
def test_hostile_envelope_constructors(maker, value):
    # numbers only (see test_soft_rejects_non_numbers for other types); the
    # message names *a* parameter (see test_envelope_helpers_name_their_argument)
    try:
        env = maker(value)
    except ValueError as e:
        assert "=" in str(e) or "exceeds" in str(e)
        return
    spec = mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=500, envelope=env)
    x = spec.render(RENDER_S)
    assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= spec.peak_ua * (1 + 1e-6)


# --------------------------------------------------------------------------
# 6. specific messages: parameter name and offending value
# --------------------------------------------------------------------------
def _msg(fn, kind=ValueError):
    with pytest.raises(kind) as info:
        fn()
    return str(info.value)


def test_pulse_wider_than_period():
    msg = _msg(lambda: mw.Monophasic(freq_hz=500, amp_ua=100, phase_us=3000))
    assert "phase_us" in msg and "3000" in msg and "2000" in msg
    msg = _msg(lambda: mw.Biphasic(freq_hz=400, amp_ua=100, phase_us=1000, interphase_us=600))
    assert "phase_us" in msg and "2600" in msg and "2500" in msg


@pytest.mark.parametrize("rate,phase_us", [(48_000, 10), (8_000, 100), (44_100, 22.6)])
def test_phase_shorter_than_one_sample(rate, phase_us):
    spec = mw.Monophasic(freq_hz=50, amp_ua=100, phase_us=phase_us)   # fine as a spec
    for call in (lambda: spec.render(0.1, rate=rate), lambda: spec.generator(rate)):
        msg = _msg(call)
        assert f"phase_us={phase_us:g}" in msg and f"rate={rate}" in msg
    spec.render(0.01, rate=768_000)   # and fine at a rate where it spans a sample


@pytest.mark.parametrize("value", [NAN, INF, -INF, 0, 0.0, -5, -1e-9, 20_000.5, 1e12])
def test_bad_freq_hz(value):
    msg = _msg(lambda: mw.Biphasic(freq_hz=value, amp_ua=100, phase_us=100))
    assert f"freq_hz={value!r}" in msg


@pytest.mark.parametrize("value", [NAN, INF, 0, -1.0, 10.0, 1e20])
def test_bad_period_us(value):
    msg = _msg(lambda: mw.Monophasic(period_us=value, amp_ua=100, phase_us=5))
    assert f"period_us={value!r}" in msg


@pytest.mark.parametrize("rate", [0, 999, 768_001, -48_000, 44_100.5, NAN, INF, "48000", True])
def test_bad_rate(rate):
    spec = mw.Biphasic(freq_hz=10, amp_ua=100, phase_us=500)
    kind = ValueError if _is_number(rate) else TypeError
    for call in (lambda: spec.render(0.1, rate=rate), lambda: spec.generator(rate), lambda: spec.plan(rate)):
        assert f"rate={rate!r}" in _msg(call, kind)


def test_pulse_rate_above_nyquist_at_render():
    spec = mw.Monophasic(freq_hz=5_000, amp_ua=100, phase_us=130)   # 1.6 samples a period at 8 kHz
    msg = _msg(lambda: spec.render(0.1, rate=8_000))
    assert "5000" in msg and "rate=8000" in msg
    spec.render(0.01, rate=48_000)


@pytest.mark.parametrize("kw,name", [
    (dict(amp_ua=NAN), "amp_ua"), (dict(amp_ua=0), "amp_ua"), (dict(amp_ua=1000.5), "amp_ua"),
    (dict(phase_us=-1), "phase_us"), (dict(rise_us=INF), "rise_us"), (dict(fall_us=-0.5), "fall_us"),
    (dict(delay_s=-1), "delay_s"), (dict(duration_s=0), "duration_s"), (dict(polarity=0), "polarity"),
    (dict(polarity="both"), "polarity"), (dict(interphase_us=NAN), "interphase_us"),
    (dict(phase2_us=0), "phase2_us"), (dict(period_us=1000), "period_us"), (dict(pattern="10x"), "10x"),
])
def test_named_errors(kw, name):
    base = dict(freq_hz=10, amp_ua=100, phase_us=500)
    base.update(kw)
    assert name in _msg(lambda: mw.Biphasic(**base))


@pytest.mark.parametrize("kw,name", [
    (dict(polarity=True), "polarity="), (dict(triphasic=1), "triphasic="), (dict(burst=(1, 2)), "burst="),
    (dict(envelope=0.5), "envelope="), (dict(amp_ua="100"), "amp_ua="), (dict(phase_us=None), "phase_us="),
    (dict(pattern=3), "pattern="), (dict(rise_us=np.array([1.0, 2.0])), "rise_us="),
])
def test_values_of_the_wrong_type_are_named_type_errors(kw, name):
    base = dict(freq_hz=10, amp_ua=100, phase_us=500)
    base.update(kw)
    assert name in _msg(lambda: mw.Biphasic(**base), TypeError)


def test_conflicting_polarity_settings():
    msg = _msg(lambda: mw.Monophasic(freq_hz=10, amp_ua=100, phase_us=500, polarity="alternate", pattern="+ -"))
    assert "polarity" in msg and "pattern" in msg


def test_custom_train_errors():
    kw = dict(phase_us=200)
    assert "onsets_s[1]" in _msg(lambda: mw.CustomTrain(onsets_s=(0, NAN), amps_ua=(1, 1), **kw))
    assert "amps_ua[0]" in _msg(lambda: mw.CustomTrain(onsets_s=(0,), amps_ua=(2000,), **kw))
    assert "onsets_s" in _msg(lambda: mw.CustomTrain(onsets_s=(0, 0.1), amps_ua=(1,), **kw))
    assert "ascend" in _msg(lambda: mw.CustomTrain(onsets_s=(0.1, 0.05), amps_ua=(1, 1), **kw))
    assert "loop_s" in _msg(lambda: mw.CustomTrain(onsets_s=(0, 0.2), amps_ua=(1, 1), loop_s=0.1, **kw))
    assert "freq_hz" in _msg(lambda: mw.CustomTrain(onsets_s=(0,), amps_ua=(1,), freq_hz=10, **kw))
    assert "alternate" in _msg(lambda: mw.CustomTrain(onsets_s=(0,), amps_ua=(1,), polarity="alternate", **kw))


@pytest.mark.parametrize("onsets_s, loop_s, names", [
    ((0.0, 0.025 - 1e-13), 0.025, ("onsets_s[-1]=0.0249999999999", "loop_s=0.025")),
    ((0.0, 0.01, 0.01 + 1e-12), None, ("onsets_s[2]=0.010000000001", "onsets_s[1]=0.01")),
])
def test_custom_onsets_that_meet_as_decimals_are_refused_naming_them(onsets_s, loop_s, names):
    """Seconds are read as the decimals they stand for (0.025 s is 1200
    samples at 48 kHz exactly), so two onsets 1e-12 s apart, or one that
    close to the loop's end, meet: refused when the train is made, naming
    both values, not later by the plan's CustomSchedule."""
    msg = _msg(lambda: mw.CustomTrain(onsets_s=onsets_s, amps_ua=(1,) * len(onsets_s), loop_s=loop_s, phase_us=100))
    assert all(n in msg for n in names) and "1e-9 s" in msg, msg
    assert "CustomSchedule" not in msg


def test_envelope_and_pattern_errors():
    assert "to_level=1.5" in _msg(lambda: Ramp(1.0, 1.5))
    assert "shape='square'" in _msg(lambda: Ramp(1.0, 0.5, "square"))
    assert "ramps" in _msg(lambda: Envelope(()))
    assert "ramps" in _msg(lambda: Envelope((Ramp(0.1, 1),) * 33))
    assert "loop" in _msg(lambda: Envelope((Ramp(0, 1),), loop=True))
    assert "start_level=-0.1" in _msg(lambda: Envelope((Ramp(0.1, 1),), start_level=-0.1))
    assert "pulses=0" in _msg(lambda: Hold("+", pulses=0))
    assert "pulses=2.5" in _msg(lambda: Hold("+", pulses=2.5))     # a number, not whole: a value error
    assert "polarity=3" in _msg(lambda: Hold(3, pulses=1))
    assert "exactly one" in _msg(lambda: Hold("+"))
    assert "mixes" in _msg(lambda: PolarityPattern((Hold("+", pulses=1), Hold("-", seconds=1))))
    assert "empty" in _msg(lambda: PolarityPattern.parse("  "))
    assert "2.5+" in _msg(lambda: PolarityPattern.parse("2.5+ 1-"))
    assert "every_s=0.1" in _msg(lambda: Envelope.wave_slope(0.2, 0.1))
    assert "total_s" in _msg(lambda: Envelope.soft(3.0, 2.0, 2.0))


# --------------------------------------------------------------------------
# regressions: bugs these tests found, now fixed
# --------------------------------------------------------------------------
@pytest.mark.parametrize("freq", [1e-9, 1e-300, 5e-324])
def test_tiny_freq_hz_is_a_named_value_error(freq):
    with pytest.raises(ValueError, match="freq_hz"):
        mw.Monophasic(freq_hz=freq, amp_ua=100, phase_us=500)


@pytest.mark.parametrize("kw", [dict(phase_us=1000, phase2_us=25), dict(phase_us=500, phase2_us=500, triphasic=True)])
def test_phase2_amplitude_respects_max_spec_ua(kw):
    with pytest.raises(ValueError, match="phase2_us"):
        spec = mw.Biphasic(freq_hz=10, amp_ua=1000, **kw)
        assert spec.peak_ua <= 1000.0, spec.peak_ua


def test_phase2_too_short_names_phase2_us():
    spec = mw.Biphasic(freq_hz=10, amp_ua=10, phase_us=1000, phase2_us=10)
    assert "phase2_us" in _msg(lambda: spec.render(0.1))


def test_custom_overlap_names_a_parameter():
    msg = _msg(lambda: mw.CustomTrain(onsets_s=(0, 0.001), amps_ua=(1, 1), phase_us=600))
    assert "onsets_s" in msg or "phase_us" in msg


@pytest.mark.parametrize("name,call", [
    ("attack_s", lambda: Envelope.attack_hold_release(NAN)),
    ("hold_s", lambda: Envelope.attack_hold_release(1.0, -1.0)),
    ("release_s", lambda: Envelope.attack_hold_release(1.0, 1.0, INF)),
    ("start_s", lambda: Envelope.soft(10.0, start_s=-1.0)),
    ("stop_s", lambda: Envelope.soft(10.0, stop_s=NAN)),
    ("total_s", lambda: Envelope.soft(1e7)),
    ("every_s", lambda: Envelope.wave_slope(1.0, 1e7)),
])
def test_envelope_helpers_name_their_argument(name, call):
    assert name in _msg(call)


@pytest.mark.parametrize("kw", [dict(start_s="1"), dict(stop_s=None)])
def test_soft_rejects_non_numbers(kw):
    with pytest.raises(TypeError, match=f"{next(iter(kw))}="):
        Envelope.soft(10.0, **kw)


@pytest.mark.parametrize("args", [
    (5e-324, 50.0, 1.0, "log"),       # f1/f0 = inf -> NaN phase -> hang
    (50.0, 1e-300, 1.0, "log"),       # onsets past int64 -> hang
    (20.0, 1e-300, 0.05, "linear"),   # (k - cycles) / f1 past int64 -> hang
    (20.0, 500.0, 5e-324, "linear"),  # (f1 - f0) / (2 * seconds) = inf -> NaN samples
    (20.0, 5e-324, 0.1, "log"),       # math domain error, no parameter named
])
def test_sweep_degenerate_values_are_rejected_or_render(args):
    result = _forked(lambda: _sweep_render(*args), timeout=3.0)
    if result[0] == "ValueError":
        assert any(n in result[1] for n in ("start_hz", "stop_hz", "seconds")), result[1]
    else:
        assert result[0] == "ok", result
        assert result[1], "non-finite samples"


def test_sweep_with_burst_is_rejected_or_honoured():
    try:
        spec = mw.Monophasic(amp_ua=100, phase_us=1000, sweep=mw.Sweep(10, 20, 1.0), burst=mw.Burst(0.1, 0.4))
    except ValueError as e:
        assert "burst" in str(e)
        return
    x = spec.render(1.0)
    assert np.count_nonzero(x[int(0.15 * 48_000):int(0.45 * 48_000)]) == 0


# --------------------------------------------------------------------------
# issue 10, the parts that landed with the safety work
# --------------------------------------------------------------------------
@pytest.mark.parametrize("value", [10**400, -(10**400), Fraction(10**400, 3), Fraction(-(10**400), 7)])
def test_numbers_too_large_for_a_float_are_a_named_value_error(value):
    with pytest.raises(ValueError, match="amp_ua="):
        mw.Biphasic(freq_hz=50, amp_ua=value, phase_us=500)
    with pytest.raises(ValueError, match="seconds="):
        mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500).render(value)


def test_huge_durations_are_a_named_error_not_an_overflow():
    s = Session("t", (Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 0.2),), channels=1)
    with pytest.raises(ValueError, match=r"seconds=1e\+308 is not allowed: it must be a finite number in "
                                         r"\[0, 0.2\] s"):
        s.render(seconds=1e308)
    with pytest.raises(ValueError, match=r"duration_s=1e\+308 is not allowed: it must be a finite number in "
                                         r"\(0, 0.2\] s"):
        s.engine(duration_s=1e308)
    assert s.engine(duration_s=0.2).state["total"] == round(0.2 * 48_000)


@pytest.mark.parametrize("cue", [1e-9, 0.0, 0.49, NAN])
def test_cues_faster_than_half_a_second_are_refused(cue):
    with pytest.raises(ValueError, match="cue_every_s="):
        Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 60, cue_every_s=cue)


@pytest.mark.parametrize("soft_start, soft_stop, seconds", [(2, 0.01, 0.1), (0.3, 0.7, 0.1), (1e-3, 3, 0.07),
                                                            (0.2, 0.1, 0.3)])
def test_short_steps_with_long_soft_ramps_render(soft_start, soft_stop, seconds):
    from microwave import modes
    s = Session("t", (Step("a", modes.tighten(1), seconds),), soft_start_s=soft_start, soft_stop_s=soft_stop)
    assert len(s.render()) == round(seconds * 48_000)


def test_a_session_whose_only_step_is_silent_renders_and_reports():
    silent = mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500, envelope=Envelope((Ramp(1.0, 0.0, "hold"),)))
    s = Session("q", (Step("z", silent, 1.0),), channels=1)
    assert s.peak_ua == 0 and np.all(s.render() == 0)
    assert s.report()["peak_ua"] == 0


@pytest.mark.parametrize("name, make", [
    ("onsets_s", lambda: mw.CustomTrain(onsets_s=0.5, amps_ua=(1.0,), phase_us=100, loop_s=1)),
    ("amps_ua", lambda: mw.CustomTrain(onsets_s=(0.0,), amps_ua=1.0, phase_us=100, loop_s=1)),
    ("ramps", lambda: Envelope(ramps=1.0)),
    ("holds", lambda: PolarityPattern(holds=3)),
    ("steps", lambda: Session("x", steps=5.0)),
    ("stage", lambda: builtin("lift").render(stage="nope")),
    ("channel_map", lambda: Stage(channel_map=0.5)),
])
def test_a_value_of_the_wrong_kind_is_named(name, make):
    with pytest.raises(TypeError, match=f"{name}="):
        make()


# --------------------------------------------------------------------------
# API polish: errors that name the parameter, its value and what is allowed
# --------------------------------------------------------------------------
def _read_only(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("out, kind, given", [
    (np.zeros(8), ValueError, r"out is a float64 array of shape \(8,\) \(writable\)"),
    (np.zeros((8, 2), dtype=np.float32), ValueError, r"out is a float32 array of shape \(8, 2\)"),
    (_read_only(np.zeros(8, dtype=np.float32)), ValueError, r"out is a float32 array of shape \(8,\) \(read-only\)"),
    (np.zeros(16, dtype=np.float32)[::2], ValueError, r"\(writable, not C-contiguous\)"),
    (bytearray(32), ValueError, r"out is a buffer \(bytearray\) of uint8, shape \(32,\)"),
    ([0.0] * 8, TypeError, r"out=\[0.0, 0.0, .*\] \(list\) is not an array"),
    (None, TypeError, r"out=None \(NoneType\) is not an array"),
])
def test_generator_fill_names_out_what_it_is_and_what_is_allowed(out, kind, given):
    gen = mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=500).generator(48_000)
    with pytest.raises(kind, match=given + r".*: Generator.fill\(out\) needs a writable, C-contiguous float32 "
                                           r"array of shape \(n,\)"):
        gen.fill(out)
    assert gen.position == 0
    ok = np.zeros(8, dtype=np.float32)
    gen.fill(ok)
    assert gen.position == 8 and np.any(ok != 0)


@pytest.mark.parametrize("out, kind, given", [
    (np.zeros((8, 2)), ValueError, r"out is a float64 array of shape \(8, 2\)"),
    (np.zeros(8, dtype=np.float32), ValueError, r"out is a float32 array of shape \(8,\)"),
    (np.zeros((8, 3), dtype=np.float32), ValueError, r"out is a float32 array of shape \(8, 3\)"),
    (_read_only(np.zeros((8, 2), dtype=np.float32)), ValueError, r"\(read-only\)"),
    (np.zeros((8, 4), dtype=np.float32)[:, :2], ValueError, r"\(writable, not C-contiguous\)"),
    ([[0.0, 0.0]], TypeError, r"out=\[\[0.0, 0.0\]\] \(list\) is not an array"),
    (None, TypeError, r"out=None \(NoneType\) is not an array"),
])
def test_session_engine_fill_names_out_what_it_is_and_what_is_allowed(out, kind, given):
    eng = builtin("tighten").engine(8_000, Stage())
    with pytest.raises(kind, match=given + r".*: SessionEngine.fill\(out\) needs a writable, C-contiguous float32 "
                                           r"array of shape \(frames, 2\): one column per channel its stage drives"):
        eng.fill(out)
    assert eng.state["position"] == 0
    ok = np.zeros((8, 2), dtype=np.float32)
    eng.fill(ok)
    assert eng.state["position"] == 8


def test_fill_takes_any_writable_native_float32_buffer():
    import ctypes
    gen = mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=500).generator(48_000)
    buf = (ctypes.c_float * 8)()                  # format "<f"
    gen.fill(buf)
    assert list(buf) == [100.0] * 8
    gen.fill(memoryview(np.zeros(4, dtype=np.float32)))
    assert gen.position == 12


@pytest.mark.parametrize("render", ["render", "render_ua"])
def test_render_refuses_seconds_beyond_the_session_as_render_to_file_does(render):
    s = Session("t", (Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 2.0),), channels=1)
    with pytest.raises(ValueError, match=r"seconds=100 is not allowed: it must be a finite number in \[0, 2\] s"):
        getattr(s, render)(8_000, seconds=100)
    with pytest.raises(ValueError, match=r"seconds=2.001 is not allowed"):
        getattr(s, render)(8_000, seconds=2.001)
    assert len(getattr(s, render)(8_000, seconds=2.0)) == 16_000
    assert len(getattr(s, render)(8_000, seconds=0)) == 0


def test_engine_refuses_a_duration_beyond_the_session_and_ends_at_one_within_it():
    """``duration_s`` ends the session early; one past its end is refused by
    name, with the session's length, as ``render``'s ``seconds`` is (it was
    once cut silently to the session plus 1 s)."""
    s = Session("t", (Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 2.0),), channels=1,
                soft_start_s=0.0, soft_stop_s=0.0)
    for bad in (100, 2.001):
        with pytest.raises(ValueError, match=rf"^duration_s={bad} is not allowed: it must be a finite number "
                                             r"in \(0, 2\] s$"):
            s.engine(8_000, duration_s=bad)
    # within it: silent from duration_s on, the fade's last sample just before
    x = s.engine(8_000, duration_s=1.5, ramp_s=0.1).render(16_000)[:, 0]
    assert np.all(x[12_000:] == 0.0) and np.any(x[11_000:12_000] != 0.0)
    whole = s.engine(8_000, duration_s=2.0).render(16_000)[:, 0]
    assert np.array_equal(whole, s.engine(8_000).render(16_000)[:, 0])


def test_render_to_file_names_the_sessions_length_too(tmp_path):
    pytest.importorskip("soundfile")
    from microwave.backends.file import render_to_file
    s = Session("t", (Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 2.0),), channels=1)
    with pytest.raises(ValueError, match=r"seconds=100 is not allowed: it must be a finite number in \(0, 2\] s"):
        render_to_file(s, tmp_path / "s.wav", 8_000, seconds=100)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["", " ", " \u3000"])     # (a tab or a newline is a control character: below)
def test_a_blank_session_name_is_refused_as_a_blank_zone_is(name):
    step = Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 1.0)
    with pytest.raises(ValueError, match=re.escape(f"name={name!r} is not allowed: it must be a non-empty name")):
        Session(name, (step,), channels=1)
    with pytest.raises(ValueError, match=re.escape(f"zone={name!r} is not allowed: it must be a non-empty name")):
        Step(name, mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500), 1.0)


_BIDI = "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"   # (and the line separators)


@settings(max_examples=200, deadline=None)
@given(name=st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(str.strip)
       | st.builds(lambda a, c, b: a + c + b, st.text(max_size=4),
                   st.sampled_from(["\x1b", "\n", "\x9b"] + list(_BIDI)), st.text(max_size=4)))
def test_a_name_with_a_control_character_or_a_bidi_override_is_refused(name):
    """A session's name, a step's zone and label are shown as they are (on
    a terminal, in info's table, in the history): a control character (an
    escape sequence could clear the screen or recolour it) or a
    bidirectional override (it reorders what is shown) is refused naming
    the parameter and where it is; any other text is taken as it is."""
    import unicodedata
    bad = [i for i, ch in enumerate(name) if unicodedata.category(ch) == "Cc" or ch in _BIDI]
    spec = mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=500)
    for make, param in ((lambda: Session(name, (Step("z", spec, 1.0),), channels=1), "name"),
                        (lambda: Step(name, spec, 1.0), "zone"), (lambda: Step("z", spec, 1.0, label=name), "label")):
        if not bad:
            if name.strip() or param == "label":
                make()
            continue
        with pytest.raises(ValueError, match=re.escape(f"{param}={name!r} is not allowed: a name is shown as it is, "
                                                       f"and {name[bad[0]]!r} at {bad[0]} is ")):
            make()


def test_a_pattern_of_too_many_states_is_refused_before_it_is_parsed():
    """A pattern string of half a million states is refused by its count
    at once, its text shown by its start and length (it was parsed whole,
    then refused, its text repeated in full in the message)."""
    with pytest.raises(ValueError, match=r"^pattern='\+ - \+ - .{40,60}\.\.\. \(a str of 1000000 characters\) holds "
                                         r"500000 states: a pattern holds 1 to 64$"):
        mw.Monophasic(freq_hz=100, amp_ua=50, phase_us=1000, pattern="+ - " * 250_000)
    mw.Monophasic(freq_hz=100, amp_ua=50, phase_us=1000, pattern="+ - " * 32)    # 64: the most


def test_fsm_takes_the_pulse_specs_spelling_alternate_and_keeps_alternating():
    from microwave import modes
    a, b = modes.fsm(polarity="alternate")
    assert (a, b) == modes.fsm() == modes.fsm(polarity="alternating")
    assert isinstance(a, mw.Biphasic) and a.freq_hz == 230.0
    assert all(isinstance(s, mw.Monophasic) for s in modes.fsm(polarity="positive"))
    with pytest.raises(ValueError, match="polarity='negative' is not allowed: choose one of 'alternate', 'positive', "
                                         "'alternating'"):
        modes.fsm(polarity="negative")


@pytest.mark.parametrize("call, name, error", [
    (lambda e, g: e.render(-1), "frames=-1", ValueError),
    (lambda e, g: e.render(2 ** 70), "frames=1180591620717411303424", ValueError),
    (lambda e, g: e.render(1.5), "frames=1.5", TypeError),
    (lambda e, g: e.stop_at(2 ** 70), "frame=1180591620717411303424", ValueError),
    (lambda e, g: e.stop_at(-5), "frame=-5", ValueError),
    (lambda e, g: e.stop_at(True), "frame=True", TypeError),
    (lambda e, g: e.set_tail(-1), "frames=-1", ValueError),
    (lambda e, g: e.set_tail("10"), "frames='10'", TypeError),
    (lambda e, g: g.render(-3), "n=-3", ValueError),
])
def test_the_compiled_engines_counts_name_their_parameter(call, name, error):
    """SessionEngine.render, stop_at, set_tail and Generator.render take a
    whole number in range, and say which parameter, its value and the range
    when not (they used to say "negative dimensions are not allowed" or
    "Python int too large to convert to C long", or take -1 silently)."""
    from microwave.sessions import builtin
    engine = builtin("lift").engine()
    gen = mw.Biphasic(freq_hz=10, amp_ua=10, phase_us=100).generator(48_000)
    with pytest.raises(error, match=re.escape(name) + r".* whole number of [a-z ]+, 0 to \d+"):
        call(engine, gen)


@pytest.mark.parametrize("level", [10 ** 400, 10 ** 5000, -1, float("nan"), float("inf")],
                         ids=["10**400", "10**5000", "-1", "nan", "inf"])
def test_a_live_level_beyond_any_float_is_a_value_error_naming_level(level):
    """SessionEngine.set_level takes a finite number >= 0; an int too large
    for a float (a review: OverflowError, and for 5000 digits a repr that
    itself fails) is refused the same way, naming ``level``."""
    engine = builtin("lift").engine()
    with pytest.raises(ValueError, match=r"^level=.* is not allowed: .*finite number >= 0 \(at most [\d.]+ takes") as e:
        engine.set_level(level)
    assert len(str(e.value)) < 150          # (10**400 was quoted whole, 401 digits: a review)
    assert engine.state["target"] == 1.0


@pytest.mark.parametrize("name, value", [
    ("rate", float("nan")), ("rate", -48_000.0), ("rate", 1e9), ("rate", 10 ** 5000),
    ("ramp_s", float("nan")), ("ramp_s", 0.0), ("ramp_s", -1.0), ("ramp_s", float("inf")),
    ("max_level", float("nan")), ("max_level", -1.0), ("max_level", float("inf")),
    ("total_samples", -1), ("total_samples", 2 ** 63), ("total_samples", 10 ** 5000),
], ids=lambda v: v if isinstance(v, str) else ("10**5000" if v == 10 ** 5000 else repr(v)))
def test_a_session_engine_built_directly_refuses_a_bad_number_naming_it(name, value):
    """SessionEngine is built by microwave.sessions, which checks its numbers;
    built directly it took NaN, infinite or negative rates, ramps and top
    levels (a NaN level never reaches its goal; a negative rate made a
    ramp of no samples), and total_samples=2**63 was an OverflowError (a
    review).  Each is refused, naming the parameter and what is allowed."""
    from microwave._core import Generator, SessionEngine
    plan = mw.Biphasic(freq_hz=10, amp_ua=100, phase_us=100).plan(48_000)
    args = dict(total_samples=48_000, rate=48_000.0, ramp_s=0.5, max_level=1.0)
    args[name] = value
    with pytest.raises(ValueError, match=rf"^{name}=.* is not allowed"):
        SessionEngine([Generator(plan)], [48_000], [[0]], Stage(channel_map=(0,)).plan(1, 48_000), **args)


@pytest.mark.parametrize("corner_hz", [5e-324, 1e-20, 1e-9, 1e-4, 0.0099])
def test_an_ac_corner_below_a_hundredth_of_a_hertz_is_refused_naming_it(corner_hz):
    """A corner far below any coupling capacitor's made an end's bleed ask
    for gigabytes (a review: 1e-4 Hz about 2 GB, 1e-9 Hz MemoryError,
    5e-324 Hz OverflowError in render); the stage and a calibration refuse
    it, naming corner_hz, its value and the range."""
    with pytest.raises(ValueError, match=r"corner_hz=.* is not allowed: .*\[0\.01, 1000\] Hz"):
        Stage(coupling="ac", corner_hz=corner_hz)
    with pytest.raises(ValueError, match=r"corner_hz=.* is not allowed: .*\[0\.01, 1000\] Hz"):
        mw.stage.Calibration(corner_hz=corner_hz)
    assert Stage(coupling="ac", corner_hz=0.01, corner_tolerance=0.9).max_bleed_s < 15 * 60


@pytest.mark.parametrize("make", [
    lambda v: mw.Biphasic(freq_hz=v, amp_ua=100, phase_us=100),
    lambda v: Stage().plan(v, 48_000),
    lambda v: mw.Biphasic(freq_hz=10, amp_ua=100, phase_us=100).render(v),
    lambda v: Stage(max_ua=v),
], ids=["number", "count", "render", "stage"])
def test_an_int_too_long_to_print_is_refused_naming_its_parameter(make):
    """An int of 5000 digits: Python refuses to print it (over 4300 digits),
    so a message quoting it raised that instead (a review); the message
    names the parameter and shows the int by its size."""
    with pytest.raises(ValueError, match=r"^\w+=<an int of \d+ bits> is (not allowed|out of range)"):
        make(10 ** 5000)


def test_a_render_that_does_not_fit_in_memory_says_how_big_and_what_to_do_instead():
    """A week of a train at 768 kHz is 1,730 GiB of float32: the render was
    numpy's bare MemoryError (a review); it names what asked, the size and
    the way out (a block at a time), from the spec, the generator and the
    session engine alike."""
    spec = mw.Biphasic(freq_hz=10, amp_ua=100, phase_us=100)
    with pytest.raises(MemoryError, match=r"^seconds=604800 at rate=768000 asks for an array of 1,730 GiB.*"
                                          r"a block at a time from generator\(rate\)"):
        spec.render(604_800, rate=768_000)
    with pytest.raises(MemoryError, match=r"^n=\d+ asks for an array of .* GiB.*a block at a time \(fill\)"):
        spec.generator(48_000).render(2 ** 40)
    engine = builtin("lift").engine()
    with pytest.raises(MemoryError, match=r"^frames=\d+ asks for an array of .* GiB.*a block at a time \(fill\)"):
        engine.render(2 ** 40)
    assert engine.state["position"] == 0                 # nothing was played
    long = Session("long", (Step("jaw", spec, 1200),), channels=1)     # 20 min through 32 DAC channels: 110 GiB
    with pytest.raises(MemoryError, match=r"^session 'long' \(1200 s\) at rate=768000 through 32 DAC channels "
                                          r"asks for an array of 110 GiB.*\(render_to_file\)"):
        long.render(768_000, Stage(channel_map=(0,), out_channels=32))


def test_a_render_of_more_than_half_the_free_memory_is_refused_before_it_is_allocated():
    """numpy allocates lazily: an array larger than the machine's free
    memory was given, and the machine ran out as it was filled (a review:
    a day at 768 kHz, 21 GiB of a 23 GiB machine).  Asked for 70 % of the
    memory free now (Linux's MemAvailable), the spec, the generator, the
    session engine and the session's render refuse at once, saying so."""
    from microwave import _checks
    free = _checks.memory_free()
    if free is None:
        pytest.skip("this system does not say how much memory is free")
    rate, spec = 768_000, mw.Biphasic(freq_hz=10, amp_ua=100, phase_us=100)
    n = int(0.7 * free / 4)
    match = r"asks for an array of .* GiB, more than this machine can give now \(at most half the memory it has free\)"
    with pytest.raises(MemoryError, match=r"^seconds=.*" + match):
        spec.render(n / rate, rate=rate)
    with pytest.raises(MemoryError, match=r"^n=\d+ " + match):
        spec.generator(rate).render(n)
    engine = builtin("lift").engine(rate)
    with pytest.raises(MemoryError, match=r"^frames=\d+ " + match):
        engine.render(n // engine.render(0).shape[1])
    long = Session("long", (Step("jaw", spec, n / 8 / rate),), channels=1)       # (within its auto-off)
    with pytest.raises(MemoryError, match=r"^session 'long' .* through 8 DAC channels " + match):
        long.render(rate, Stage(channel_map=(0,), out_channels=8))


@pytest.mark.parametrize("make, endless, match", [
    (lambda it: mw.CustomTrain(onsets_s=it, amps_ua=(50.0,), phase_us=100), lambda: itertools.count(0.0, 1e-3),
     r"^onsets_s has more than 1000000 items"),
    # (the amplitudes are one per onset: read one past that, and refused saying so; a review)
    (lambda it: mw.CustomTrain(onsets_s=(0.0, 0.1), amps_ua=it, phase_us=100), lambda: itertools.repeat(50.0),
     r"^amps_ua has more than 2 items: at most 2 amplitudes in uA, one per onset"),
    (lambda it: Session("s", it), lambda: itertools.repeat(builtin("lift").steps[0]),
     r"^steps has more than 100000 items"),
    (lambda it: mw.stage.Calibration(loop_gain=it), lambda: itertools.repeat(0.5),
     r"^loop_gain has more than 32 items"),
    (lambda it: mw.stage.Calibration(dc_offset=it), lambda: itertools.repeat(0.0),
     r"^dc_offset has more than 32 items"),
], ids=["onsets_s", "amps_ua", "steps", "loop_gain", "dc_offset"])
def test_an_endless_iterator_is_refused_after_the_most_allowed_naming_the_parameter(make, endless, match):
    """An endless iterator given for a sequence was read until memory ran
    out (a review: CustomTrain's onsets and amplitudes, a Session's steps,
    a calibration's per-channel numbers); each reads one item past its
    most and refuses, naming the parameter and the most allowed."""
    with pytest.raises(ValueError, match=match):
        make(endless())
