"""The limit holds on the current that flows (issue 9).

Every test here reads the DAC samples the library produces through
``physics`` -- an independent model of the card's coupling (an analog RC
high-pass discretised by scipy), the bridge, and the stage's conversion or
load -- across the stage's whole declared tolerance, and after the last
sample with the DAC at zero.
"""
import dataclasses
import math
import re
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, event, example, given, settings, strategies as st

import microwave as mw
import physics
from forced import forced
from microwave import modes
from microwave._core import Generator
from microwave._core import REWIND_SILENCE, SUPERVISOR_MAX_CORNERS, SUPERVISOR_RESTART, SessionEngine
from microwave._core import supervisor_corners
from microwave import _reconstruct
from microwave.sessions import UA_PER_UNIT, Session, Step, builtin, ua_stage
from microwave.stage import BLEED_FRACTION, Calibration, Stage

RATE = 48_000
PROP_RATE = 8_000     # the property test's rate: steps up to 300 s stay cheap


# ---- the property: any session, any stage, any level, any end ------------------------------
def _spec(kind, freq, amp, frac, burst):
    phase = min(max(250.0, frac * 0.45e6 / freq), 0.45e6 / freq)
    b = mw.Burst(on_s=burst[0], off_s=burst[1]) if burst else None
    if kind == "biphasic":
        return mw.Biphasic(freq_hz=freq, amp_ua=amp, phase_us=phase, burst=b)
    return mw.Monophasic(freq_hz=freq, amp_ua=amp, phase_us=2 * phase * 0.9, polarity=kind, burst=b)


specs = st.builds(
    _spec,
    st.sampled_from(["biphasic", "biphasic", "biphasic", "alternate", 1, -1]),
    st.floats(0.5, 300), st.one_of(st.floats(1, 60), st.floats(1, 450)), st.floats(0.05, 1.0),
    st.one_of(st.none(), st.tuples(st.floats(0.05, 2), st.floats(2.1, 3))),
)


@st.composite
def stages(draw):
    kind = draw(st.sampled_from(["dc-current", "ac-current", "ac-current", "dc-voltage", "ac-voltage"]))
    # one channel or a bridged pair, or two program channels mixing them (each its own loop's corner)
    routes = draw(st.sampled_from([(0,), ((0, 1),), (0,), ((0, 1),), (0, (1, 2)), ((0, 1), 2)]))
    common = dict(full_scale_v=draw(st.floats(0.2, 2.0)), max_ua=draw(st.floats(100, 1000)),
                  channel_map=routes,
                  coupling="ac" if kind.startswith("ac") else "dc",
                  corner_hz=draw(st.floats(0.5, 50)),
                  corner_tolerance=draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9])))
    if kind.endswith("voltage"):
        lo = draw(st.floats(300, 2000))
        # up to 16x the lowest load: through an AC card the corner moves as 1/R (physics.couplings)
        return Stage(load_ohm=lo * draw(st.one_of(st.floats(1, 4), st.floats(4, 16))), load_ohm_min=lo, **common)
    return Stage(ua_per_v=draw(st.floats(300, 3000)), **common)


sessions = st.builds(        # (a session of as many program channels as the stage routes)
    lambda steps, start, stop, auto_off: lambda channels: Session(
        "p", tuple(Step(f"z{i}", p, d) for i, (p, d) in enumerate(steps)),
        channels=channels, soft_start_s=start, soft_stop_s=stop, auto_off_s=auto_off),
    st.lists(st.tuples(specs, st.one_of(st.floats(0.05, 3), st.floats(100, 300))), min_size=1, max_size=2),
    st.floats(0, 2), st.one_of(st.just(0.0), st.floats(0, 2)), st.sampled_from([3600.0, 3600.0, 2.0, 150.0]),
)

ENDS = ["complete", "stop", "pause", "duration", "abrupt", "rewind"]   # rewind: back to the start mid-play
_seen = {"tried": 0, "accepted": 0}


def _play(engine, session_frames, levels, end, end_at, rate):
    """Drive an engine as a player would: level changes between blocks,
    then an end of the given kind; returns every DAC frame it produced
    (what follows is the DAC at zero)."""
    out, pos = [], 0
    marks = sorted([(int(f * session_frames), lv) for f, lv in levels])
    cut = int(end_at * session_frames)
    if end == "duration":
        engine.stop_at(max(1, cut))

    def run(n):
        nonlocal pos
        if n > 0:
            out.append(engine.render(n))
            pos += n
    for frame, lv in marks + [(cut, None)]:
        run(min(frame, session_frames) - pos)
        if lv is not None:
            engine.set_level(min(lv, 10 * engine.max_level))
    if end in ("abrupt", "rewind"):
        # cut mid-pulse, where it rings most: on to the next sample that is not silent,
        # then 0-2 more (a cut at a uniform frame of a sparse train lands in silence)
        for _ in range(rate // 20):       # (an AC stage's drive at rest is not quite 0: its pre-emphasis)
            if out and out[-1].shape[0] and np.abs(out[-1][-1]).max() > 1e-3:
                break
            run(1)
        run(int(end_at * 1e6) % 3)
    if end == "abrupt":
        return np.concatenate(out + [engine.render(0)])
    if end == "rewind":            # back to the start from wherever it is (mid-pulse), then the session again
        engine.rewind()
        run(session_frames)
    if end == "stop":
        engine.stop()
    elif end == "pause":
        engine.pause(True)
        run(rate // 2)            # paused for half a second ...
        return np.concatenate(out)   # ... then the stream dies (the held charge is released at once)
    limit = pos + session_frames + 60 * rate
    while not engine.settled and pos < limit:
        run(rate // 4)
    if not engine.settled:    # a level of 0 holds the session (as a pause does): stop it
        engine.stop()
        limit = pos + 60 * rate
        while not engine.settled and pos < limit:
            run(rate // 4)
    assert engine.settled, "the engine never settled after its end"
    return np.concatenate(out)


@settings(max_examples=150, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(session=sessions, stage=stages(),
       levels=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 4)), max_size=3),
       end=st.sampled_from(ENDS), end_at=st.floats(0, 1.2))
def test_the_current_that_flows_never_exceeds_the_maximum(session, stage, levels, end, end_at):
    _seen["tried"] += 1
    try:
        session = session(len(stage.channel_map))    # a session beyond its dose ceiling is refused here
        engine = session.engine(PROP_RATE, stage, ramp_s=0.1)
    except ValueError as e:   # refused before anything plays: must say why, in uA or the stage's terms
        assert "uA" in str(e)
        event("refused")
        return
    _seen["accepted"] += 1
    length = "long" if session.seconds > 60 else "short"
    event(f"accepted: {stage.coupling} {stage.mode}, {len(stage.channel_map)} ch, {length}, {end}")
    dac = _play(engine, engine.state["total"], levels, end, end_at, PROP_RATE)
    assert np.all(np.isfinite(dac)) and np.max(np.abs(dac), initial=0) <= stage.headroom + 1e-6
    worst = physics.worst_current_ua(dac, stage, PROP_RATE)
    assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA flowed against max_ua={stage.max_ua:g}"


def test_the_property_is_not_vacuous():
    """At least a third of the generated sessions were played, not refused."""
    if _seen["tried"] < 20:
        pytest.skip("the property test did not run in this session")
    assert _seen["accepted"] >= _seen["tried"] / 3, _seen


# ---- the nine defects of issue 9, as regression tests ------------------------------------------
BLEED_LIMIT = BLEED_FRACTION * 1.25   # the bleed's current, with the in-between corners' slack
README_STAGE = dict(full_scale_v=1.0, ua_per_v=1000.0, coupling="ac", corner_hz=5.0, channel_map=((0, 1),), max_ua=400)


def test_ac_net_dc_is_refused_for_the_charge_it_stores():
    """1: a small net DC through an AC coupling stores charge that an end releases."""
    session = Session("dc", (Step("z", mw.Monophasic(freq_hz=100, amp_ua=10, phase_us=500), 120),), channels=1)
    with pytest.raises(ValueError, match=r"(?s)step 1.*charge stored.*1853 uA.*hold up to"):
        session.engine(RATE, Stage(**README_STAGE))


@pytest.mark.parametrize("name, corner", [("tighten", 20.0), ("tighten", 5.0), ("fsm", 5.0)])
def test_ac_top_level_holds_for_every_corner_in_the_tolerance(name, corner):
    """2: at the highest level, what flows through any corner within +-30 % stays within max_ua."""
    session = Session(name, builtin(name).steps[:1], channels=builtin(name).channels, auto_off_s=30)
    stage = Stage(coupling="ac", corner_hz=corner, channel_map=(0, 1), max_ua=500)
    engine = session.engine(RATE, stage)
    engine.set_level(engine.max_level)
    engine.rewind()
    dac = engine.render(engine.state["total"])
    worst = physics.worst_current_ua(dac, stage, RATE, channels=session.channels_on(stage))
    assert worst <= stage.max_ua * 1.005
    # and the top level is not needlessly low: it is where the samples' peak, carried
    # past them between samples by the DAC (tested on its own below), nears the limit
    assert worst * stage.peak_ua(session, RATE) / session.peak_ua >= stage.max_ua * 0.9
    assert engine.supervision["clamped"] == 0


def test_a_long_ac_session_no_longer_drifts_to_the_rail():
    """3: FSM's wave slope used to leave net charge pulse after pulse (a gain
    per sample), which the pre-emphasis carried until the DAC hit its rail
    after about 247 s at a 20 Hz corner.  With one gain per pulse nothing
    drifts: over the whole 300 s the drive stays far from the rail, nothing
    is clamped, and the current through the declared corner is the one asked."""
    stage = Stage(coupling="ac", corner_hz=20.0, channel_map=(0, 1), max_ua=500)
    session = builtin("fsm")
    engine = session.engine(RATE, stage)
    dac = engine.render(engine.state["total"])
    assert engine.supervision["clamped"] == 0
    assert np.max(np.abs(dac)) < 0.2 * stage.headroom
    want = session.render_ua(RATE).astype(np.float64)
    for c in range(2):
        flows = physics.current_ua(dac, stage, c, stage.corner_hz, RATE)
        assert np.max(np.abs(flows[-10 * RATE:] - want[-10 * RATE:, c])) < 1e-3 * 150


@pytest.mark.parametrize("width_ms, freq_hz, corner_hz", [(5, 100, 2.0), (20, 25, 0.5), (5, 100, 0.5)])
def test_a_voltage_mode_stage_on_an_ac_card_holds_at_every_load_its_corner_moves_with(width_ms, freq_hz, corner_hz):
    """Through an AC-coupled card a voltage-mode stage's corner is 1 / (2 pi R C), the card's capacitor
    driving the load R itself: at the lowest load it is load_ohm / load_ohm_min times the declared
    one.  At the highest level, what flows at every load of the range (each with its own corner and
    current, physics.couplings) stays within max_ua: 535 uA of 500 flowed into 500 ohm while only the
    tolerance around the declared corner was modelled."""
    pulse = mw.Monophasic(freq_hz=freq_hz, amp_ua=12, phase_us=width_ms * 1000, polarity="alternate")
    session = Session("v", (Step("z", pulse, 20),), channels=1, soft_start_s=0.5, soft_stop_s=0.5)
    stage = Stage(load_ohm=8000, load_ohm_min=500, coupling="ac", corner_hz=corner_hz, full_scale_v=2.0,
                  channel_map=(0,), max_ua=500, reconstruction="held")
    engine = session.engine(PROP_RATE, stage)
    engine.set_level(engine.max_level)
    engine.rewind()
    dac = engine.render(engine.state["total"])
    worst = physics.worst_current_ua(dac, stage, PROP_RATE, n_corners=9)
    assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA flowed against max_ua={stage.max_ua:g}"
    assert engine.supervision["clamped"] == 0 and not engine.supervision["stopped"]
    # the corners modelled span the load range, each side of the declared one
    lo, hi = stage.corner_range_hz
    assert lo == pytest.approx(corner_hz * 0.7 * 8000 / 10000) and hi == pytest.approx(corner_hz * 1.3 * 16)
    corners = engine.supervision["corners_hz"]
    assert corners[0] == pytest.approx(lo) and corners[-1] == pytest.approx(hi) and corner_hz in corners
    assert max(b / a for a, b in zip(corners, corners[1:])) <= 1.15 + 1e-9
    # a load that can move moves the corner from sample to sample; one load, or a current-mode stage, cannot
    assert stage.plan(1, PROP_RATE).corner_moves
    fixed = dataclasses.replace(stage, load_ohm_min=8000, load_ohm_max=8000)
    assert not fixed.plan(1, PROP_RATE).corner_moves
    assert fixed.corner_range_hz == pytest.approx((corner_hz * 0.7, corner_hz * 1.3))
    assert not Stage(coupling="ac", channel_map=(0,)).plan(1, PROP_RATE).corner_moves


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width_ms=st.sampled_from([2, 5, 20, 60]), polarity=st.sampled_from(["alternate", "biphasic"]),
       corner_hz=st.sampled_from([0.5, 2.0, 8.0]), at=st.floats(-0.3, 0.3),
       switches=st.one_of(st.sampled_from(["rests", "against the next pulse"]), st.lists(
           st.tuples(st.floats(0, 1), st.floats(0, 0.2), st.sampled_from([500.0, 1500.0, 10_000.0])),
           min_size=1, max_size=6)))
@example(width_ms=5, polarity="alternate", corner_hz=2.0, at=0.3, switches="rests")
@example(width_ms=20, polarity="alternate", corner_hz=0.5, at=0.3, switches="against the next pulse")
def test_a_voltage_mode_stage_on_an_ac_card_holds_when_its_load_changes_mid_session(width_ms, polarity, corner_hz,
                                                                                     at, switches):
    """A contact changes mid-session: the load, and with it the corner, moves from sample to sample
    within the declared range.  At the session's highest level, whatever the moves (stretches of other
    loads at random places, 500 ohm otherwise; 10 kohm through every rest between pulses, which
    holds each pulse's charge into the next, opposite one; or the load chosen sample by sample to charge
    the capacitor against the next pulse: physics.hold_against_the_next_pulse) and wherever the corner
    lies in its tolerance, the
    current (physics.current_ua_moving_load, sample-exact from the circuit) stays within max_ua: the
    review's one 5 ms stretch at 10 kohm drove 552 uA of 500 while only fixed corners were modelled."""
    pulse = (mw.Biphasic(freq_hz=1000 / (4.4 * width_ms), amp_ua=5, phase_us=width_ms * 1000)
             if polarity == "biphasic" else
             mw.Monophasic(freq_hz=1000 / (2.2 * width_ms), amp_ua=5, phase_us=width_ms * 1000, polarity=polarity))
    session = Session("v", (Step("z", pulse, 10),), channels=1, soft_start_s=0.5, soft_stop_s=0.5)
    stage = Stage(load_ohm=8000, load_ohm_min=500, coupling="ac", corner_hz=corner_hz, full_scale_v=2.0,
                  channel_map=(0,), max_ua=500, reconstruction="held")
    try:
        engine = session.engine(PROP_RATE, stage)
    except ValueError as e:
        assert "corner moves with the load" in str(e), e      # refused for what a moving corner would drive
        event("refused")
        return
    engine.set_level(engine.max_level)
    engine.rewind()
    dac = engine.render(engine.state["total"])
    dac = np.concatenate([dac, np.zeros((PROP_RATE, 1), dac.dtype)])      # a second of the DAC at zero after it
    loads = np.full(len(dac), 500.0)
    if switches == "rests":
        loads[np.abs(dac[:, 0]) < 0.2 * np.abs(dac).max()] = 10_000.0     # the rests (less the pre-emphasis)
    elif switches == "against the next pulse":
        loads = physics.hold_against_the_next_pulse(dac, 500.0, 10_000.0)
    else:
        for start, length, load in switches:
            a = int(start * len(dac))
            loads[a:a + max(1, int(length * PROP_RATE))] = load
    flows = physics.current_ua_moving_load(dac, stage, loads, corner_hz * (1 + at), PROP_RATE)
    worst = float(np.max(np.abs(flows)))
    assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA flowed against max_ua={stage.max_ua:g}"
    assert engine.supervision["clamped"] == 0 and not engine.supervision["stopped"]


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width_ms=st.sampled_from([1.96, 2, 5, 20]), polarity=st.sampled_from(["alternate", "biphasic"]),
       corner_hz=st.sampled_from([0.5, 5.0, 17.0]), tolerance=st.sampled_from([0.3, 0.5]), at=st.floats(-1, 1),
       load_ohm_min=st.sampled_from([500.0, 8000.0]), fixed=st.booleans(), duty=st.sampled_from([1.1, 3.0, 4.99125]))
@example(width_ms=1.96, polarity="biphasic", corner_hz=17.0, tolerance=0.5, at=1.0, load_ohm_min=8000.0, fixed=True,
         duty=4.99125)
def test_a_bridged_pair_in_voltage_mode_on_an_ac_card_holds_with_its_two_capacitors_in_series(
        width_ms, polarity, corner_hz, tolerance, at, load_ohm_min, fixed, duty):
    """A voltage-mode stage's bridged pair drives its load between two AC-coupled outputs: the loop
    holds both capacitors in series (C / 2), a corner twice one channel's at every load.  At the
    highest level what flows through that loop (physics.volts; and with the load chosen sample by
    sample against the next pulse) stays within max_ua, and at level 1 through the nominal loop it is
    the current asked.  While only one capacitor's corners were modelled, the example (a review's
    hill-climb) carried 521 uA of 500 through the loop at its top level."""
    pulse = (mw.Biphasic(freq_hz=1000 / (2 * duty * width_ms), amp_ua=12, phase_us=width_ms * 1000)
             if polarity == "biphasic" else
             mw.Monophasic(freq_hz=1000 / (duty * width_ms), amp_ua=12, phase_us=width_ms * 1000, polarity=polarity))
    session = Session("v", (Step("z", pulse, 3),), channels=1, soft_start_s=0.5, soft_stop_s=0.5)
    stage = Stage(load_ohm=8000, load_ohm_min=load_ohm_min, load_ohm_max=8000 if fixed else None, coupling="ac",
                  corner_hz=corner_hz, corner_tolerance=tolerance, full_scale_v=20.0, channel_map=((0, 1),),
                  max_ua=500, reconstruction="held")
    try:
        engine = session.engine(PROP_RATE, stage)
    except ValueError as e:
        assert "uA" in str(e), e
        event("refused")
        return
    engine.set_level(1.0)
    want = session.render_ua(PROP_RATE).astype(np.float64)[:, 0]
    flows = physics.current_ua(engine.render(len(want)), stage, 0, corner_hz, PROP_RATE, load_ohm=stage.load_ohm)
    assert np.max(np.abs(flows - want)) <= 1e-3 * np.max(np.abs(want)), "the loop's current is not the one asked"
    engine.set_level(engine.max_level)
    engine.rewind()
    dac = engine.render(engine.state["total"])
    worst = physics.worst_current_ua(dac, stage, PROP_RATE, n_corners=7)
    assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA flowed against max_ua={stage.max_ua:g}"
    dac = np.concatenate([dac, np.zeros((PROP_RATE, 2), dac.dtype)])
    if stage.load_ohm_min < stage.load_ohm_max:
        across = (dac[:, 0].astype(np.float64) - dac[:, 1])[:, None]
        loads = physics.hold_against_the_next_pulse(across, stage.load_ohm_min, stage.load_ohm_max)
        flows = physics.current_ua_moving_load(dac, stage, loads, corner_hz * (1 + at * tolerance), PROP_RATE)
        worst = float(np.max(np.abs(flows)))
        assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA flowed against max_ua={stage.max_ua:g}"
    assert engine.supervision["clamped"] == 0 and not engine.supervision["stopped"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width_ms=st.sampled_from([2, 5, 20]), polarity=st.sampled_from(["alternate", "biphasic"]),
       corner_hz=st.sampled_from([0.5, 5.0, 17.0]), order=st.sampled_from([(0, (1, 2)), ((0, 1), 2)]))
@example(width_ms=20, polarity="alternate", corner_hz=5.0, order=(0, (1, 2)))
def test_a_map_mixing_a_single_channel_and_a_bridged_pair_delivers_the_current_asked_on_both(width_ms, polarity,
                                                                                            corner_hz, order):
    """On a voltage-mode AC stage a single channel's load meets one capacitor and a bridged pair's
    both in series (twice the corner): each program channel's pre-emphasis inverts its own loop's
    nominal corner, so that at level 1 the current through each, at load_ohm, is the one asked (a
    review: 135 uA for 100 on the pair while one corner, the single channel's, was inverted for
    both), and at the highest level neither goes past max_ua."""
    if polarity == "biphasic":
        pulse = mw.Biphasic(freq_hz=1000 / (4.4 * width_ms), amp_ua=12, phase_us=width_ms * 1000)
    else:
        pulse = mw.Monophasic(freq_hz=1000 / (2.2 * width_ms), amp_ua=12, phase_us=width_ms * 1000,
                              polarity=polarity)
    session = Session("v", (Step("z", pulse, 3),), channels=2, soft_start_s=0.5, soft_stop_s=0.5)
    stage = Stage(load_ohm=8000, load_ohm_min=8000, load_ohm_max=8000, coupling="ac", corner_hz=corner_hz,
                  full_scale_v=20.0, channel_map=order, max_ua=500, reconstruction="held")
    plan = stage.plan(2, PROP_RATE)
    assert plan.corner_hz == corner_hz and plan.pair_corner_hz == 2 * corner_hz
    engine = session.engine(PROP_RATE, stage)
    assert corner_hz in engine.supervision["corners_hz"] and 2 * corner_hz in engine.supervision["corners_hz"]
    engine.set_level(1.0)
    want = session.render_ua(PROP_RATE).astype(np.float64)
    dac = engine.render(len(want))
    for c in range(2):
        flows = physics.current_ua(dac, stage, c, corner_hz, PROP_RATE, load_ohm=stage.load_ohm)
        err = np.max(np.abs(flows - want[:, c]))
        assert err <= 1e-3 * np.max(np.abs(want[:, c])), f"channel {c} ({order[c]}): off by {err:.2f} uA"
    engine.set_level(engine.max_level)
    engine.rewind()
    worst = physics.worst_current_ua(engine.render(engine.state["total"]), stage, PROP_RATE, n_corners=7)
    assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA flowed against max_ua={stage.max_ua:g}"
    assert engine.supervision["clamped"] == 0 and not engine.supervision["stopped"]


def test_a_bridged_pairs_corners_are_counted_however_its_routes_are_written():
    """The corners a voltage-mode stage's bridged pair needs (twice the fastest) are counted after the
    routes are read: written as a list (TOML) as well as a tuple, a range needing more than 64 corners is
    refused, saying that single-channel routes would need fewer; one channel alone is not refused."""
    kw = dict(load_ohm=8000, load_ohm_min=500, load_ohm_max=100_000, coupling="ac", corner_hz=5.0,
              corner_tolerance=0.9)
    for routes in (((0, 1),), [[0, 1]]):
        with pytest.raises(ValueError, match=r"twice through a bridged pair.*need \d+ modelled corners.*"
                                             r"or single-channel routes"):
            Stage(channel_map=routes, **kw)
    assert Stage(channel_map=(0,), **kw).corner_range_hz[1] == pytest.approx(5.0 * 1.9 * 16)
    # a session that plays only a single-ended route of a mixed map models that route's corners
    mixed = Stage(load_ohm=8000, load_ohm_min=4000, coupling="ac", corner_hz=5.0, channel_map=(0, (1, 2)))
    one, both = mixed.plan(1, RATE), mixed.plan(2, RATE)
    assert one.corner_hi_hz == pytest.approx(5.0 * 1.3 * 2) and both.corner_hi_hz == pytest.approx(5.0 * 1.3 * 4)
    assert one.corner_hz == both.corner_hz == 5.0
    assert one.pair_corner_hz is None and both.pair_corner_hz == 10.0    # (the pair's loop, only where it plays)
    assert Stage(load_ohm=8000, coupling="ac", corner_hz=5.0, channel_map=((0, 1),)).plan(1, RATE).corner_hz == 10.0
    # every session's routes are counted: a 1-channel session of this map models its corners around twice
    # corner_hz (its one route bridged), 65 of them; the map's two routes, around corner_hz, 64 (a review)
    with pytest.raises(ValueError, match=r"need 65 modelled corners.*or single-channel routes"):
        Stage(load_ohm=5000, load_ohm_min=300, load_ohm_max=500_000, coupling="ac", corner_hz=5.0,
              corner_tolerance=0.3, channel_map=((0, 1), 2))


@settings(max_examples=300, deadline=None)
@given(lo=st.floats(1e-3, 1e3), up=st.floats(1, 1e4), at=st.one_of(st.just(0.0), st.floats(0, 1)),
       pair_at=st.one_of(st.none(), st.just(0.0), st.just(1.0), st.floats(0, 1)))
@example(lo=5.0, up=2.0, at=0.0, pair_at=1.0)       # (the corner at the slowest end, the pair's at the fastest)
@example(lo=1.09765625, up=1.0625, at=0.25, pair_at=1.0)     # (the pair's within rounding of the fastest)
def test_the_modelled_corners_span_the_range_15_percent_apart_with_the_nominal_among_them(lo, up, at, pair_at):
    """Whatever range a stage declares (a tolerance, a voltage-mode stage's loads, a bridged pair's
    second nominal corner between the first and the fastest): the corners start and end at its ends,
    hold each nominal corner exactly, are never more than 15 % apart and at least seven where the range
    is more than a rounding of one corner, never the same one twice; a range needing more than
    SUPERVISOR_MAX_CORNERS is refused, saying how many."""
    hi = lo * up
    nominal = min(max(lo * up ** at, lo), hi)
    pair = None if pair_at is None else min(max(nominal * (hi / nominal) ** pair_at, nominal), hi)
    steps = [(lo, nominal), (nominal, nominal if pair is None else pair), (nominal if pair is None else pair, hi)]
    needed = sum(math.ceil(math.log(b / a) / math.log(1.15) - 1e-9) for a, b in steps) + 1
    if needed > SUPERVISOR_MAX_CORNERS:
        with pytest.raises(ValueError, match=r"need \d+ modelled corners 15 % apart, more than the 64"):
            supervisor_corners(nominal, lo, hi, pair)
        return
    f = supervisor_corners(nominal, lo, hi, pair)
    assert f[0] == pytest.approx(lo, rel=1e-12) and f[-1] == pytest.approx(hi, rel=1e-12) and nominal in f
    assert pair is None or pair in f or pair < nominal * (1 + 1e-12)     # (within rounding of it: the same one)
    assert all(b / a <= 1.15 * (1 + 1e-12) for a, b in zip(f, f[1:])) and all(b > a for a, b in zip(f, f[1:]))
    assert len(f) >= (7 if hi > lo * (1 + 1e-9) else 1) and len(f) <= SUPERVISOR_MAX_CORNERS


@pytest.mark.parametrize("kw, error", [
    (dict(load_ohm=2000, load_ohm_min=10, corner_tolerance=0.9),
     r"load_ohm=2000, moving as 1/R over load_ohm_min=10 \.\. load_ohm_max=10000 ohm: 0\.04 to 760 Hz: corners "
     r"from 0\.04 to 760 Hz need 72 modelled corners.*declare a narrower load range"),
    (dict(corner_hz=0.02, load_ohm=500, load_ohm_max=100_000, corner_tolerance=0.9),
     r"reaches down to 1e-05 Hz: the supervisor models corners down to 0\.001 Hz.*a higher corner_hz"),
])
def test_a_coupling_the_supervisor_cannot_model_is_refused_naming_the_loads_and_tolerance(kw, error):
    with pytest.raises(ValueError, match=error):
        Stage(coupling="ac", **{"corner_hz": 2.0, **kw})
    Stage(coupling="dc", **{"corner_hz": 2.0, **kw})       # a DC-coupled card has no corner to model
    # and a plan built by hand, past the Stage's check, is refused by the engine
    plan = dataclasses.replace(Stage(coupling="ac", channel_map=(0,)).plan(1, RATE), corner_lo_hz=1e-6)
    program = Generator(mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=100).plan(RATE))
    with pytest.raises(ValueError, match=r"need \d+ modelled corners"):
        SessionEngine([program], [RATE], [[0]], plan, RATE, float(RATE))


def test_a_session_beyond_the_dacs_swing_is_refused_naming_it():
    """3: what would reach the DAC's rail is refused before it plays, naming
    the step, the time and the swing."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=1000, headroom=0.2)
    session = Session("t", (Step("forehead", modes.tighten(5), 10),), channels=1)
    with pytest.raises(ValueError, match=r"(?s)at \d+\.\d+ s, in step 1 \('forehead'.*DAC's swing.*hold up to"):
        session.engine(RATE, stage)


@settings(max_examples=6, deadline=None)
@given(before_s=st.floats(0.1, 3.0), held_ua=st.sampled_from([60.0, 120.0]), corner_hz=st.sampled_from([2.0, 5.0]))
def test_an_ac_refusal_names_where_the_trouble_starts_not_where_it_is_worst(before_s, held_ua, corner_hz):
    """A held polarity stores charge step after step; the worst comes later
    (here in a charge-balanced step after it), but the refusal names the
    step and the time where the session first goes past a bound: the
    same session cut just before that time plays, cut just after it is
    refused at the same time."""
    stage = Stage(coupling="ac", corner_hz=corner_hz, corner_tolerance=0.3, channel_map=(0,))
    balanced = mw.Biphasic(freq_hz=300, amp_ua=150, phase_us=500)
    held = mw.Monophasic(freq_hz=100, amp_ua=held_ua, phase_us=4000)

    def refusal(*steps):
        session = Session("e", tuple(Step(z, spec, d) for z, spec, d in steps), channels=1,
                          soft_start_s=0, soft_stop_s=0)
        try:
            session.check(stage, RATE)
        except ValueError as e:
            return str(e)
        return None

    why = refusal(("a", balanced, before_s), ("forehead", held, 10), ("jaw", balanced, 10))
    m = re.search(r": at ([\d.]+) s, in step 2 \('forehead', custom\).*passes the limit first.*at worst, "
                  r"at [\d.]+ s, in step 3 \('jaw'", why or "")
    assert m, why
    first_s = float(m.group(1))
    assert refusal(("a", balanced, before_s), ("forehead", held, first_s - before_s - 0.01)) is None
    assert f"at {first_s:.2f} s, in step 2" in refusal(("a", balanced, before_s),
                                                         ("forehead", held, first_s - before_s + 0.01))


@settings(max_examples=8, deadline=None)
@given(amp=st.floats(55.0, 70.0), closer=st.floats(1e-4, 3e-3), higher=st.integers(0, 1),
       before_s=st.floats(0.0, 0.8))
def test_the_first_sample_past_a_bound_is_the_earliest_of_every_channel(amp, closer, higher, before_s):
    """The supervisor runs a chunk's samples channel by channel: the first
    sample past a bound of a two-channel session is the earlier of each
    channel's alone, and on that channel (a review found channel 0's
    recorded though channel 1 crossed first, within the same chunk)."""
    balanced = mw.Biphasic(freq_hz=300, amp_ua=150, phase_us=500)

    def over(programs):
        n = len(programs)
        steps = ((Step("a", (balanced,) * n, before_s),) if before_s > 0 else ()) + (
            Step("held", tuple(mw.Monophasic(freq_hz=100, amp_ua=a, phase_us=4000) for a in programs), 3.0),)
        stage = Stage(coupling="ac", corner_hz=5.0, corner_tolerance=0.3, channel_map=tuple(range(n)))
        engine = Session("o", steps, channels=n, soft_start_s=0, soft_stop_s=0)._engine(RATE, stage, measure=True)
        block = np.empty((4096, n), np.float32)
        for _ in range(0, engine.state["total"], len(block)):
            engine.fill(block)
        sup = engine.supervision
        return sup["over_at"], sup["over_channel"]

    # (amplitudes close enough that both channels cross within one chunk of samples, in either order)
    amps = tuple(amp * (1 + closer) if c == higher else amp for c in range(2))
    alone = [over((a,))[0] for a in amps]
    assume(None not in alone and alone[0] != alone[1])
    first = min(range(2), key=lambda c: alone[c])
    assert over(amps) == (alone[first], first), (alone, amps)


def test_voltage_mode_holds_at_the_lowest_load_and_reports_every_load(tmp_path):
    """4: a voltage-mode stage: V / R at the lowest declared load stays within max_ua."""
    # (samples held as they are: the current between them is tested on its own, below)
    stage = Stage(load_ohm=2000, max_ua=400, channel_map=(0,), reconstruction="held")
    assert stage.load_ohm_min == 500 and stage.load_ohm_max == 10000
    low = Stage(load_ohm=300)          # a nominal load outside the FDA's range widens the default one
    assert (low.load_ohm_min, low.load_ohm_max) == (300, 10000)
    session = Session("v", (Step("z", mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=1000), 1.0),), channels=1)
    engine = session.engine(RATE, stage)
    engine.set_level(1e9)
    engine.rewind()
    dac = engine.render(RATE)
    for load in (500.0, 2000.0, 10000.0):
        flows = np.max(np.abs(physics.current_ua(dac, stage, 0, rate=RATE, load_ohm=load)))
        assert flows <= stage.max_ua_at(load) * (1 + 1e-6)
        assert flows == pytest.approx(stage.max_ua_at(load), rel=1e-3)   # max_ua_at is what really flows
    assert stage.max_ua_at(500) == pytest.approx(400)
    # at the stage's own load, its limit to the bit (a report printed 399.99999999999994 for 400)
    for ohm, ua in ((500.0, 400.0), (1000.0, 300.0), (2200.0, 123.4), (3300.0, 77.7)):
        assert Stage(load_ohm=ohm, max_ua=ua).max_ua_at(ohm) == Stage(load_ohm=ohm, max_ua=ua).limit_ua
    # expressible in TOML
    f = tmp_path / "v.toml"
    f.write_text("load_ohm = 2000\nload_ohm_min = 800\nmax_ua = 400\nchannel_map = [0]\n")
    v = Stage.from_toml(f)
    assert v.mode == "voltage" and v.load_ohm_min == 800 and v.max_ua_at(800) == pytest.approx(400)
    r = session.report(stage, RATE)
    assert [x["max_ua"] for x in r["loads"]] == pytest.approx([400, 100, 20])


@pytest.mark.parametrize("stage", [Stage(channel_map=(0,)), Stage(coupling="ac", corner_hz=5.0, channel_map=(0,))])
@pytest.mark.parametrize("how", ["duration", "stop_at", "auto-off"])
def test_an_early_end_is_decided_at_its_sample_whatever_the_blocks(stage, how):
    """5: duration_s, stop_at and auto-off end by a ramp, one gain a pulse,
    that reaches silence a whole pulse before their exact sample (so that no
    pulse is cut), bit for bit the same for any block split."""
    square = mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=500)     # current at every sample
    session = Session("t", (Step("z", square, 2.0),), channels=1, soft_start_s=0.05, soft_stop_s=0.05,
                      auto_off_s=1.1 if how == "auto-off" else 1200)
    end, ramp, P = round(1.1 * RATE), round(0.005 * RATE), 48

    def engine():
        eng = session.engine(RATE, stage, ramp_s=0.005, duration_s=1.1 if how == "duration" else None)
        if how == "stop_at":
            eng.stop_at(end)
        return eng
    n = round(1.4 * RATE)
    whole = engine().render(n)
    rng = np.random.default_rng(5)
    splits = [[end - ramp - 7, 3, 500], [end - ramp - 2 * P + 1, 100], [end - 2, 9], [1024] * 2]
    splits += [list(rng.integers(1, 3000, 80)) for _ in range(4)]
    for sizes in splits:
        eng, parts, done = engine(), [], 0
        for k in sizes:
            k = min(int(k), n - done)
            parts.append(eng.render(k))
            done += k
        parts.append(eng.render(n - done))
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    ua = physics.current_ua(whole, stage, 0, stage.corner_hz, RATE)
    peaks = np.abs(ua[:end]).reshape(-1, P).max(axis=1)      # one pulse a row
    pulses = ua[:end].reshape(-1, P).sum(axis=1)             # each pulse's net charge
    on = np.nonzero(peaks < 199)[0]
    fade = on[on > 0.5 * RATE / P]                            # the pulses of the ending ramp
    assert len(fade) >= 3                                     # a ramp, not a step
    assert np.all(np.diff(peaks[fade[0] - 1:]) <= 1e-3)       # falling, pulse by pulse
    assert peaks[-1] <= 1e-9 * 200                            # silent for the last whole pulse
    assert np.all(np.abs(pulses) <= 1e-6 * 200 * P / 2)       # and every pulse balanced
    assert np.max(np.abs(ua[end:]), initial=0) <= BLEED_LIMIT * stage.limit_ua


def test_render_duration_fades_as_play_does(tmp_path):
    """5: ``microwave render --duration`` ends in silence reached by a ramp, not mid-pulse."""
    from microwave.cli import main
    import soundfile as sf
    out = tmp_path / "f.wav"
    assert main(["render", "lift", "--duration", "1.3", "-o", str(out)]) == 0
    data, rate = sf.read(out, dtype="float32", always_2d=True)
    assert len(data) == round(1.3 * rate)
    assert np.all(data[-1] == 0) and np.max(np.abs(data[-3:])) <= 1e-3 * np.max(np.abs(data))
    ref = builtin("lift").engine(rate, Stage(), duration_s=1.3).render(len(data))
    np.testing.assert_array_equal(data, ref)


def _hammer(fill, n_threads=4, rounds=40):
    """Fill from several threads at once; return (blocks filled, errors raised)."""
    got, errors, lock = [], [], threading.Lock()

    def worker():
        for _ in range(rounds):
            try:
                block = fill()
            except RuntimeError as e:
                with lock:
                    errors.append(str(e))
            else:
                with lock:
                    got.append(block)
    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got, errors


def test_two_threads_on_one_generator_get_an_error_or_exact_samples():
    """7: every successful fill is a whole, exact block of the stream; the
    others raise RuntimeError. Blocks are told apart by a sweep (no two alike)."""
    spec = mw.Biphasic(amp_ua=100, phase_us=100, sweep=mw.Sweep(start_hz=200, stop_hz=2000, seconds=3600))
    B = 50_000
    contention = 0
    for _ in range(5):
        gen = spec.generator(RATE)
        got, errors = _hammer(lambda gen=gen: gen.render(B))
        contention += len(errors)
        assert all("another thread" in e for e in errors)
        ref = spec.generator(RATE).render(B * len(got))
        index = {ref[k * B:(k + 1) * B].tobytes(): k for k in range(len(got))}
        assert len(index) == len(got)
        assert sorted(index.get(b.tobytes(), -1) for b in got) == list(range(len(got)))
        if contention:
            break
    assert contention > 0, "the threads never overlapped: the test did not exercise the guard"


def test_two_threads_on_one_session_engine_get_an_error_or_exact_frames():
    """7: the same for a session engine (the audio callback takes the same guard)."""
    session = Session("s", (Step("z", mw.Biphasic(amp_ua=100, phase_us=100,
                                                  sweep=mw.Sweep(start_hz=200, stop_hz=2000, seconds=600)), 600),))
    B = 50_000
    contention = 0
    for _ in range(5):
        eng = session.engine(RATE)
        got, errors = _hammer(lambda eng=eng: eng.render(B), rounds=10)
        contention += len(errors)
        ref = session.engine(RATE).render(B * len(got))
        index = {ref[k * B:(k + 1) * B].tobytes(): k for k in range(len(got))}
        assert sorted(index.get(b.tobytes(), -1) for b in got) == list(range(len(got)))
        if contention:
            break
    assert contention > 0


def test_stop_at_from_a_control_thread_while_another_fills_ends_as_if_asked_between_fills():
    """7b: stop_at called while another thread fills the engine (as the audio callback does) ends the
    session exactly as the same stop_at asked between fills at the frame where the filling thread took it:
    every unit ends whole, at a gain that falls to zero, and nothing plays past the end.  (A review found a
    chunk begun against the old end played on at full gain past the new one (384 frames at most in its
    runs), and cut a pulse mid-phase, in 17 of 20 runs.)"""
    import random
    session = builtin("infuse")
    B = 1024
    probe = session.engine(RATE)
    probe.render(1)
    probe.stop_at(0)
    unit_max = probe.state["total"] - 1          # an end asked in the past comes a unit after the position
    rnd = random.Random(7)
    for trial in range(12):
        eng = session.engine(RATE)
        eng.set_level(eng.max_level)
        out = [eng.render(B) for _ in range(rnd.randrange(20, 60))]

        def filler(eng=eng, out=out):
            while not eng.state["finished"]:
                out.append(eng.render(B))
        t = threading.Thread(target=filler)
        t.start()
        time.sleep(rnd.random() * 0.003)
        eng.stop_at(0)
        t.join()
        out.append(eng.render(B))
        got = np.concatenate(out)
        total = eng.state["total"]
        assert not np.any(got[total:]), trial                       # nothing past the end
        ref = session.engine(RATE)
        ref.set_level(ref.max_level)
        head = ref.render(total - unit_max)                         # up to where the filler took the end
        ref.stop_at(0)
        assert ref.state["total"] == total
        want = np.concatenate([head, ref.render(len(got) - len(head))])
        assert np.array_equal(got, want), trial


def _compiled_callback():
    """The compiled PortAudio callback, callable as PortAudio calls it: (input, output, frames, time_info,
    status, engine address)."""
    import ctypes
    from microwave._core import SessionEngine
    return ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p,
                            ctypes.c_ulong, ctypes.c_void_p)(SessionEngine.callback_address())


def test_the_sense_input_cannot_be_configured_once_a_stream_plays_the_engine():
    """7c: configure_sense frees and replaces the ring the audio callback writes: once the compiled
    callback has run (called here as PortAudio calls it), or the engine is attached to a stream (as a
    Player does before its stream starts), it is refused, for good (a review: reset_stats had cleared
    the count it was told by)."""
    callback = _compiled_callback()
    eng = builtin("tighten").engine(RATE)
    eng.configure_sense(0, 1, 1.0)                  # before a stream: allowed
    out = np.zeros((256, 2), np.float32)
    assert callback(None, out.ctypes.data, 256, None, 0, eng.address()) == 0
    assert eng.state["callbacks"] == 1
    for _ in range(2):
        with pytest.raises(RuntimeError, match="configure_sense: a stream plays this engine"):
            eng.configure_sense(0, 1, 2.0)
        eng.reset_stats()
    attached = builtin("tighten").engine(RATE)
    attached.attach_stream()
    with pytest.raises(RuntimeError, match="configure_sense: a stream plays this engine"):
        attached.configure_sense(0, 1, 2.0)


def test_a_resume_and_a_reset_of_the_statistics_are_taken_by_the_callback_that_alone_writes_what_they_reset():
    """7e: a lost contact (the callback finds it) is a pause of its own, which the control thread never
    writes: a resume asks, the callback lifts it at its next call and finds it again if the contact is
    still lost; a reset of the statistics asks the callback to zero the counts it alone increments
    (pause(False) and reset_stats wrote them under the running callback: a count or a lost contact found
    in between was lost).  ``state`` shows either request as taken at once."""
    callback = _compiled_callback()
    eng = builtin("tighten").engine(RATE)
    eng.set_level(eng.max_level)
    B = 480
    eng.configure_sense(0, 1, 1.0, min_ratio=0.5, min_ua=5.0, lost_after=2 * B, window_frames=B)
    out = np.zeros((B, 2), np.float32)
    silent = np.zeros(B, np.float32)                # no current comes back: the contact is lost
    touching = np.full(B, 1e4, np.float32)          # far more than is driven: in contact

    def call(sense):
        assert callback(sense.ctypes.data, out.ctypes.data, B, None, 0, eng.address()) == 0
        return eng.state
    def lost_after_calls():
        for k in range(1, 1000):
            st_ = call(silent)
            if st_["contact_lost"]:
                assert st_["paused"]
                return k
        raise AssertionError("the contact was never found lost")
    assert lost_after_calls() >= 2
    eng.pause(False)
    st_ = eng.state
    assert not st_["contact_lost"] and not st_["paused"]      # shown lifted at once
    assert lost_after_calls() >= 2                             # taken: lost_frames counted again from 0
    eng.pause(False)
    for _ in range(200):
        st_ = call(touching)
    assert not st_["contact_lost"] and not st_["paused"] and st_["level"] == eng.max_level
    assert st_["callbacks"] > 200
    eng.reset_stats()
    st_ = eng.state
    assert (st_["callbacks"], st_["frames"], st_["callback_max_s"]) == (0, 0, 0.0)   # shown at once
    st_ = call(touching)
    assert (st_["callbacks"], st_["frames"]) == (1, B) and st_["callback_max_s"] > 0.0
    # asked while the callback runs on another thread (ctypes lets go of the GIL around it): each
    # callback counts itself at its start and its frames at its end, so after each call (read on the
    # audio thread: no call in flight) frames == callbacks * B whatever resets landed (one written
    # mid-callback, between its two counts, broke it)
    busy = builtin("tighten").engine(RATE)
    done, broken = threading.Event(), []

    def audio_thread():
        buf = np.zeros((B, 2), np.float32)
        for _ in range(10000):
            callback(None, buf.ctypes.data, B, None, 0, busy.address())
            st_ = busy.state
            if st_["frames"] != st_["callbacks"] * B:
                broken.append((st_["frames"], st_["callbacks"]))
        done.set()
    t = threading.Thread(target=audio_thread)
    t.start()
    resets = 0
    while not done.is_set():
        busy.reset_stats()
        resets += 1
        time.sleep(0.0003)              # (the audio thread reads the counts between two resets)
    t.join()
    assert not broken and resets > 10, (resets, broken[:3])
    # before any stream, both are taken at once
    idle = builtin("lift").engine(RATE)
    idle.reset_stats()
    idle.pause(False)
    assert idle.state["callbacks"] == 0 and not idle.state["paused"]


def test_ends_asked_while_a_stream_plays_are_taken_as_if_asked_between_fills():
    """7d: on an engine a stream plays (stop_at then only taken by the audio thread), two ends asked
    before the callback runs again give the sooner, as on an engine without a stream; an end asked and
    not yet taken when the engine is rewound is taken where the session was, not at its start, and one
    asked after the rewind from the session's start."""
    callback = _compiled_callback()
    session = builtin("infuse")
    out = np.zeros((4800, 2), np.float32)

    def played(streamed, seconds=1):
        eng = session.engine(RATE)
        if streamed:
            eng.attach_stream()
        for _ in range(10 * seconds):                # (fills of 0.1 s)
            if streamed:
                assert callback(None, out.ctypes.data, 4800, None, 0, eng.address()) == 0
            else:
                eng.fill(out)
        return eng

    for asks in ([10 * RATE], [10 * RATE, 15 * RATE], [15 * RATE, 10 * RATE]):
        totals = []
        for streamed in (False, True):
            eng = played(streamed)
            for f in asks:
                eng.stop_at(f)
            eng.fill(out[:1])                        # (a fill takes what the stream would)
            totals.append(eng.state["total"])
        assert totals == [10 * RATE, 10 * RATE], (asks, totals)
    totals = []
    for streamed in (False, True):
        eng = played(streamed)
        eng.stop_at(0)                               # a unit after the position
        eng.rewind()
        totals.append(eng.state["total"])
    assert totals[0] == totals[1] > RATE, totals
    # an end asked after a rewind is taken on the rewound session, as on a new engine where no end taken
    # before the rewind is sooner (an end taken is kept across it; the sooner of the asks was kept too:
    # stop_at(0) then made the next end 0)
    fresh = session.engine(RATE)
    fresh.stop_at(5 * RATE)
    for streamed in (False, True):
        eng = played(streamed, 6)
        eng.stop_at(0)                               # (a unit after 6 s: the end then is past 5 s)
        eng.fill(out[:1])
        eng.rewind()
        eng.stop_at(5 * RATE)
        eng.fill(out[:1])
        assert eng.state["total"] == fresh.state["total"] == 5 * RATE, (streamed, eng.state["total"])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_non_finite_controls_are_refused(bad):
    """8: a level or dose ceiling that is not a finite number is refused, naming it."""
    eng = builtin("lift").engine(RATE)
    with pytest.raises(ValueError, match="level="):
        eng.set_level(bad)
    with pytest.raises(ValueError, match="max_dose_ua_min="):
        modes.infuse(max_dose_ua_min=bad)


def test_info_figures_are_over_whole_cycles_and_as_rendered():
    """9: RMS over whole repeats, per-step DC as rendered, the INFUSE dose."""
    fsm = Session("fsm", (Step("neck", modes.fsm(), 30),))
    r = fsm.report(rate=RATE)
    for c, spec in enumerate(modes.fsm()):
        # 60 s is a whole number of wave-slope cycles (6 s) and of pulses at both rates
        y = spec.render(60.0, RATE).astype(np.float64)
        assert r["steps"][0]["channels"][c]["rms_ua"] == pytest.approx(math.sqrt(np.mean(y * y)), rel=1e-9)
    ua = fsm.render_ua(RATE).astype(np.float64)
    for c in range(2):
        assert r["steps"][0]["channels"][c]["dc_ua"] == pytest.approx(ua[:, c].mean(), rel=1e-6, abs=1e-9)
    # the dose: in each step, the most net charge the current the session
    # renders has carried at any moment of it, summed over the steps (the
    # soft start and stop, and where the pattern stands, make it a little
    # off net DC x minutes)
    inf = builtin("infuse")
    ri = inf.report(rate=RATE)
    ua = inf.render_ua(RATE)[:, 0].astype(np.float64)
    flowed = sum(np.max(np.abs(np.cumsum(ua[lo:hi]))) for lo, hi in inf.step_edges(RATE)) / RATE / 60
    assert ri["dose_ua_min"] == pytest.approx(flowed, rel=1e-9)
    assert 0.95 < ri["dose_ua_min"] / (abs(modes.infuse().net_dc_ua) * inf.seconds / 60) < 1.05
    # the live level cannot raise the dose past its ceiling (here it binds
    # before the current limit: 20 min at 16 uA net is about 320 of 600 uA*min)
    long = Session("i", (Step("z", modes.infuse(level=3, minutes=20), 1200),), channels=1)
    rl = long.report(rate=RATE)
    assert rl["dose_ua_min"] == pytest.approx(320, rel=0.01)
    assert rl["max_level"] == pytest.approx(600 / rl["dose_ua_min"])
    assert rl["max_level"] * rl["dose_ua_min"] <= long.max_dose_ua_min * (1 + 1e-9)


def test_info_reports_the_worst_current_predicted_to_flow():
    """9: info's worst predicted current matches the independent model,
    between samples included."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=500)
    session = Session("t", builtin("tighten").steps[:1], channels=1, auto_off_s=5)
    r = session.report(stage, RATE)
    dac = session.engine(RATE, stage).render(round(5 * RATE))
    flows = physics.worst_current_ua(dac, stage, RATE, n_corners=7, between=True)
    # a bound (any gain a pulse, and a stream cut mid-pulse, which this one is not), and a close one
    assert flows <= r["worst_ua"] <= flows * 1.15


# ---- the supervisor itself -------------------------------------------------------------------------
def test_the_supervisor_clamps_and_counts_when_the_check_is_bypassed():
    """With no check (an engine built by hand at 3x the level), the AC supervisor
    still keeps what flows, and what an abrupt stop releases, within the limit."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=300)
    spec = mw.Monophasic(freq_hz=2, amp_ua=250, phase_us=200_000)   # a held polarity: unsafe through AC
    engine = SessionEngine([Generator(spec.plan(RATE))], [10 * RATE], [[0]], stage.plan(1, RATE), 10 * RATE,
                           float(RATE), max_level=3.0)
    engine.set_level(3.0)
    engine.rewind()
    dac = engine.render(5 * RATE)       # then the DAC stops dead
    assert engine.supervision["clamped"] > 0
    assert physics.worst_current_ua(dac, stage, RATE) <= stage.max_ua * 1.005


def test_every_end_bleeds_the_coupling_within_a_fraction_of_the_limit():
    """After a stop the drive returns to zero by a ramp: the current while it
    bleeds is a fraction of the limit, and then nothing is stored."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=500)
    session = Session("i", (Step("z", modes.infuse(level=1), 0.2),), channels=1, soft_start_s=0.01, soft_stop_s=0.01)
    engine = session.engine(RATE, stage)
    body = engine.render(engine.state["total"])
    held = abs(float(body[-1, 0])) / stage.dac_per_ua(0)
    assert held > 20                       # a charge really was stored
    tail = []
    while not engine.settled and len(tail) < 1000:
        tail.append(engine.render(480))
    assert engine.settled, "the coupling was never bled"
    tail = np.concatenate(tail)
    assert tail[-1, 0] == 0
    flows = physics.current_ua(np.concatenate([body, tail]), stage, 0, stage.corner_hz, RATE)[len(body):]
    assert np.max(np.abs(flows)) <= BLEED_LIMIT * stage.limit_ua


@pytest.mark.parametrize("rate", [48_000, 96_000, 192_000])
def test_a_bleed_through_a_slow_corner_at_a_high_rate_moves_the_drive_at_its_rate(rate):
    """The bleed moves the drive towards zero at its rate, however small a
    step that is against the float sample's resolution: through a 0.001 Hz
    corner at 96 kHz a step is about 1e-8 of full scale, below half a float
    step at a drive over a quarter of it, and the drive, stepped from its
    rounded value, never moved (a review: 0.455 of full scale after 15
    minutes of bleed; the stream never ended, a pause never resumed).
    max_bleed_s is the longest a bleed may take from a charge at the limit,
    so over T s the drive falls by at least limit * T / max_bleed_s."""
    stage = Stage(coupling="ac", corner_hz=0.01, corner_tolerance=0.9, channel_map=(0,), max_ua=1000,
                  reconstruction="held")
    spec = mw.Monophasic(freq_hz=10, amp_ua=200, phase_us=45_000)        # a held polarity: it stores charge
    session = Session("slow", (Step("z", spec, 60.0),), channels=1, soft_start_s=0, soft_stop_s=0)
    engine = session.engine(rate, stage)
    engine.set_level(engine.max_level)
    engine.render(engine.state["total"])
    engine.stop()
    drive = engine.render(2 * rate)[:, 0].astype(np.float64) / stage.dac_per_ua(0)
    assert drive[0] > 0.4 * stage.full_scale_ua(0)           # where half a float step is larger than the bleed's
    assert np.all(np.diff(drive) <= 0)                       # towards zero, never back
    fell = drive[0] - drive[-1]
    assert fell >= 0.99 * stage.limit_ua * (len(drive) - 1) / rate / stage.max_bleed_s
    assert not engine.settled


@pytest.mark.parametrize("seconds", [None, 0.15])
def test_a_rendered_array_ends_bled_as_a_file_does(tmp_path, seconds):
    """Session.render through an AC stage goes on past the session while the
    coupling bleeds, to silence: the frames are the file's, bit for bit, and
    what flows after the session, the DAC at zero after the frames, is a
    fraction of the limit (the frames used to end with the drive holding
    the stored charge, which a player of them would release at once)."""
    pytest.importorskip("soundfile")
    import soundfile as sf
    from microwave.files import render_to_file
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=500)
    session = Session("i", (Step("z", modes.infuse(level=1), 0.2),), channels=1, soft_start_s=0.01, soft_stop_s=0.01)
    frames = session.render(RATE, stage, seconds)
    n = round((seconds or session.seconds) * RATE)
    assert len(frames) > n and frames[-1, 0] != 0 and abs(float(frames[n - 1, 0])) / stage.dac_per_ua(0) > 20
    flows = physics.current_ua(np.concatenate([frames, np.zeros((RATE, 1), np.float32)]), stage, 0,
                               stage.corner_hz, RATE)[n:]
    assert np.max(np.abs(flows)) <= BLEED_LIMIT * stage.limit_ua   # the bleed, then the DAC at zero
    wav = render_to_file(session, tmp_path / "i.wav", RATE, stage, seconds=seconds, block_frames=777)
    np.testing.assert_array_equal(sf.read(wav, dtype="float32", always_2d=True)[0], frames)
    assert len(session.render(RATE, Stage(channel_map=(0,)), seconds)) == n     # a DC stage: the session's frames


@pytest.mark.parametrize("coupling", ["dc", "ac"])
def test_a_nan_never_reaches_the_dac(coupling):
    """Whatever a program computes (here a plan with a NaN amplitude, which no
    spec lets through), the stage sends no NaN, and nothing beyond the limit."""
    plan = mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=1000).plan(RATE)
    values = tuple(v if v == 0 else float("nan") for v in plan.template.values_ua)
    plan = forced(plan, template=forced(plan.template, values_ua=values))   # past the plan's own check
    stage = Stage(coupling=coupling, channel_map=(0,), max_ua=300)
    engine = SessionEngine([Generator(plan)], [RATE], [[0]], stage.plan(1, RATE), RATE, float(RATE))
    out = engine.render(RATE)
    assert np.all(np.isfinite(out)) and np.any(out == 0)
    assert physics.worst_current_ua(out, stage, RATE) <= stage.max_ua * 1.005


@pytest.mark.parametrize("cmap, error", [([[0]], ValueError), ([[0, 1, 2]], ValueError), ([[0, 0]], ValueError),
                                         ([(1.5,)], (ValueError, TypeError)), ("01", TypeError), (3, TypeError)])
def test_a_channel_map_that_is_not_a_channel_or_a_pair_is_refused(cmap, error):
    """A route must be one DAC channel or a bridged pair: anything else is
    refused when the stage is built, naming channel_map (a wrong type is a
    TypeError, a wrong value a ValueError)."""
    with pytest.raises(error, match="channel_map"):
        Stage(channel_map=cmap)


# ---- balanced under any gain: one gain a pulse (a pair) -------------------------------------------
envelopes = st.one_of(
    st.none(),
    st.builds(lambda a, h, r: mw.Envelope.attack_hold_release(a, h, r), st.floats(0.01, 1), st.floats(0, 1),
              st.floats(0.01, 1)),
    st.builds(lambda s, e: mw.Envelope.wave_slope(s, s + e), st.floats(0.01, 0.5), st.floats(0, 0.5)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["biphasic", "pair"]), P=st.integers(24, 3000), width=st.floats(0.1, 0.45),
       gap=st.floats(0, 0.1), env=envelopes, soft=st.floats(0, 0.5),
       levels=st.lists(st.tuples(st.floats(0, 1), st.floats(0.05, 3)), max_size=4),
       end=st.sampled_from(["complete", "duration", "stop"]), end_at=st.floats(0.2, 1))
def test_every_pulse_and_pair_stays_balanced_however_the_gain_moves(kind, P, width, gap, env, soft, levels, end,
                                                                     end_at):
    """Under an envelope, a soft start and stop, live level ramps and any end,
    each biphasic pulse (each alternating pair of monophasic pulses) carries
    a net charge within 1e-6 of a phase's: every unit takes one gain.  (The
    pulses stay on their grid of P samples: a level above zero never holds
    the session; a pause is tested below.)"""
    phase_us = width * P / RATE * 1e6
    if kind == "biphasic":
        spec = mw.Biphasic(freq_hz=RATE / P, amp_ua=300, phase_us=phase_us, interphase_us=gap * P / RATE * 1e6,
                           envelope=env)
        unit = P
    else:
        spec = mw.Monophasic(freq_hz=RATE / P, amp_ua=300, phase_us=2 * phase_us, polarity="alternate", envelope=env)
        unit = 2 * P
    session = Session("b", (Step("z", spec, 3.0),), channels=1, soft_start_s=soft, soft_stop_s=soft)
    engine = session.engine(RATE, ua_stage(1), ramp_s=0.05)
    n = engine.state["total"]
    if end == "duration":
        engine.stop_at(int(end_at * n))
    out, pos = [], 0
    for at, lv in sorted(levels) + [(end_at, None)]:
        k = int(at * n) - pos
        if k > 0:
            out.append(engine.render(k))
            pos += k
        if lv is not None:
            engine.set_level(lv)
    if end == "stop":
        engine.stop()
    out.append(engine.render(n + 4 * RATE - pos))
    ua = np.concatenate(out)[:, 0].astype(np.float64) * UA_PER_UNIT
    m = len(ua) // unit * unit
    net = ua[:m].reshape(-1, unit).sum(axis=1)          # each unit's charge, uA x samples
    phase = 300 * width * P
    assert np.max(np.abs(net)) <= 1e-6 * phase, f"a unit carried {np.max(np.abs(net)) / phase:.2e} of a phase"


def test_a_ramp_of_slow_pulses_lasts_at_least_three_of_them():
    """LIFT's alternating pairs take 2 s: its soft start, a level change and
    a stop each ramp over at least three pairs, so that a ramp stays a ramp
    (with one gain a pair, a 0.5 s ramp would be a single step)."""
    session = Session("lift", (Step("z", modes.lift(3), 40),), channels=1, soft_start_s=2, soft_stop_s=2)
    engine = session.engine(RATE, ua_stage(1), ramp_s=0.5)
    ua = engine.render(20 * RATE)[:, 0].astype(np.float64) * UA_PER_UNIT
    pairs = np.abs(ua).reshape(-1, 2 * RATE).max(axis=1)     # one peak a pair
    rising = pairs[:np.argmax(pairs >= 239.9)]
    assert np.sum((rising > 0) & (rising < 239.9)) >= 2 and np.all(np.diff(rising) > 0)
    engine.set_level(0.5)                                      # a level change, from a pair's start
    ua = engine.render(12 * RATE)[:, 0].astype(np.float64) * UA_PER_UNIT
    pairs = np.abs(ua).reshape(-1, 2 * RATE).max(axis=1)
    between = (pairs < 239.9) & (pairs > 120.1)
    assert np.sum(between) >= 2 and pairs[-1] == pytest.approx(120, abs=0.1)


@pytest.mark.parametrize("at", [RATE + 100, RATE + 333, RATE + 700, RATE + 1111, RATE + 1500])
@pytest.mark.parametrize("block", [1024, 100, 7])
def test_a_pause_mid_pulse_finishes_the_pulse_and_resumes_on_a_whole_one(at, block):
    """A pause (or a level of zero) lets the pulse in progress finish at its
    gain; the programs then hold, and resume later: every pulse is whole and
    balanced, the silence between them only longer."""
    spec = mw.Biphasic(freq_hz=RATE / 480, amp_ua=300, phase_us=4000)     # 192-sample phases, 96 apart
    session = Session("p", (Step("z", spec, 10.0),), channels=1, soft_start_s=0, soft_stop_s=0)
    engine = session.engine(RATE, ua_stage(1), ramp_s=0.01)
    parts = [engine.render(at)]
    engine.pause(True)
    parts += [engine.render(block) for _ in range((RATE // 2) // block)]
    engine.pause(False)
    parts.append(engine.render(2 * RATE))
    ua = np.concatenate(parts)[:, 0].astype(np.float64) * UA_PER_UNIT
    on = ua != 0
    edges = np.flatnonzero(np.diff(on.astype(int)))
    runs = np.split(ua, edges + 1)[1::2] if on[0] == 0 else np.split(ua, edges + 1)[0::2]
    phase = 300 * 192
    assert len(runs) > 20
    for r in runs[:-1]:                   # each pulse (the render may end in the last): whole, balanced
        assert abs(r.sum()) <= 1e-6 * phase
    gaps = np.diff(np.flatnonzero(np.diff(on.astype(int)) == 1))
    assert np.max(gaps) > RATE // 4      # the pause really held the pulses


def test_the_supervisor_ends_a_session_whose_level_pumps_charge_into_the_coupling():
    """A level that moves with the polarity (high on the positive pulses, low
    on the negative ones) pumps net charge into an AC coupling, which no
    check of a steady level can see.  The supervisor ends the session when
    the drive comes within its soft bound -- a falling gain, then a bleed --
    and what flows stays within the limit throughout and after."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=300)
    spec = mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=4000, pattern="10+ 10-")
    session = Session("pump", (Step("z", spec, 60),), channels=1, soft_start_s=0.1, soft_stop_s=0.1)
    engine = session.engine(RATE, stage, ramp_s=0.001)
    out = []
    for i in range(300):                      # 0.1 s a polarity
        if engine.settled:
            break
        engine.set_level(engine.max_level if i % 2 == 0 else 0.05)
        out.append(engine.render(RATE // 10))
    while not engine.settled and len(out) < 400:
        out.append(engine.render(RATE // 10))
    sup = engine.supervision
    assert sup["stopped"] and engine.settled
    assert engine.state["position"] < 30 * RATE          # it ended the session early
    assert physics.worst_current_ua(np.concatenate(out), stage, RATE) <= stage.max_ua * 1.005


def test_a_pause_bleeds_the_coupling_and_resumes_after_the_bleed():
    """Through an AC coupling a pause ramps down, lets the pulse finish, bleeds
    the stored charge (a current of at most a fifth of the limit), and a
    resume waits for the bleed before it ramps up again."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=500)
    spec = mw.Monophasic(freq_hz=100, amp_ua=60, phase_us=3000, pattern="300ms+ 300ms-")   # balanced, slow
    session = Session("p", (Step("z", spec, 10),), channels=1, soft_start_s=0.05, soft_stop_s=0.05)
    engine = session.engine(RATE, stage, ramp_s=0.02)
    parts = [engine.render(RATE // 4)]          # inside a positive hold: charge stored
    assert abs(parts[0][-1, 0]) / stage.dac_per_ua(0) > 30
    engine.pause(True)
    parts.append(engine.render(RATE // 10))      # the ramp down and the last pulse
    engine.pause(False)                          # resumed at once: the bleed goes on first
    parts += [engine.render(480) for _ in range(100)]
    dac = np.concatenate(parts)
    flows = physics.current_ua(dac, stage, 0, stage.corner_hz, RATE)
    paused = RATE // 4 + RATE // 20
    zero = paused + int(np.argmax(dac[paused:, 0] == 0))
    assert dac[zero, 0] == 0 and zero > paused         # the drive was bled to zero ...
    assert np.max(np.abs(flows[paused:zero])) <= BLEED_LIMIT * stage.limit_ua    # ... gently
    assert np.max(np.abs(flows[zero:])) > 50      # then it played again
    assert physics.worst_current_ua(dac, stage, RATE) <= stage.max_ua * 1.005



# ---- found by an independent review (a helper with its own model) -------------------------------
def test_a_waveform_aimed_between_two_modelled_corners_is_refused_or_held():
    """A waveform found by linear programming to drive the most current
    through a corner *between* the supervisor's modelled ones (a +-90 %
    tolerance, 0.1..1.9 Hz) went 6 % over the limit when the corners were
    spaced evenly; spaced geometrically (at most 15 % apart) the session is
    refused, or plays within the limit through every corner."""
    rate = 1000
    stage = Stage(coupling="ac", corner_hz=1.0, corner_tolerance=0.9, channel_map=(0,), max_ua=500,
                  full_scale_v=10.0)
    frac = [0.649, 0.433, 0.272, 0.111, 0.06, 0.033, 0.018, -0.493, -0.732, -0.594, -0.399, -0.281, -0.21,
            -0.167, -0.141, -0.079, -0.035, -0.019, -0.01, -0.006, -0.003, -0.002, 0.689, 0.652, 0.547]
    amps = tuple(round(0.98 * a * stage.limit_ua, 3) for a in frac)
    for scale in (1.0, 0.9):
        spec = mw.CustomTrain(onsets_s=tuple(round(0.1 * j, 3) for j in range(len(amps))),
                              amps_ua=tuple(a * scale for a in amps), phase_us=99_999, biphasic=False)
        session = Session("lp", (Step("z", spec, 6.5),), channels=1, soft_start_s=0, soft_stop_s=0)
        try:
            engine = session.engine(rate, stage)
        except ValueError as e:
            assert "uA" in str(e)
            continue
        engine.set_level(engine.max_level)
        out = [engine.render(engine.state["total"])]
        while not engine.settled and len(out) < 100:
            out.append(engine.render(1000))
        worst = physics.worst_current_ua(np.concatenate(out), stage, rate, n_corners=81)
        assert worst <= stage.max_ua * 1.005, f"{worst:.1f} uA at scale {scale}"


def test_a_rewind_keeps_what_the_coupling_stores_and_bleeds_it_first():
    """The coupling is physical: a rewind mid-stream must not forget its
    charge.  The engine bleeds it, then starts again from silence."""
    rate = 4000
    stage = Stage(coupling="ac", corner_hz=0.5, corner_tolerance=0.3, channel_map=(0,), max_ua=500)
    spec = mw.Monophasic(freq_hz=1, amp_ua=200, phase_us=400_000, polarity="alternate")
    session = Session("s", (Step("z", spec, 20),), channels=1, soft_start_s=0)
    engine = session.engine(rate, stage)
    engine.set_level(engine.max_level)
    engine.rewind()
    a = engine.render(int(2.4 * rate))          # just after a negative pulse: charge stored
    engine.rewind()
    b = engine.render(4 * rate)
    engine.stop()
    tail = []
    while not engine.settled and len(tail) < 100:
        tail.append(engine.render(4000))
    dac = np.concatenate([a, b] + tail)
    assert physics.worst_current_ua(dac, stage, rate) <= stage.max_ua * 1.005


def test_an_end_scheduled_too_close_for_its_ramp_still_cuts_no_unit():
    """An end closer than a full ramp (render(seconds=), duration_s), or one
    asked for in the past (stop_at), still ends a whole unit after the last
    one started: the level falls as fast as it must, and no pair is cut."""
    rate = 4000
    pair = mw.Monophasic(freq_hz=1, amp_ua=250, phase_us=400_000, polarity="alternate")
    s = Session("s", (Step("z", pair, 30),), channels=1, soft_start_s=0)
    y = s.render(rate, ua_stage(1), seconds=3.3)[:, 0].astype(np.float64) * UA_PER_UNIT
    assert len(y) == round(3.3 * rate)
    assert abs(y[:2 * rate].sum()) <= 1e-6 * 250 * 0.4 * rate and abs(y.sum()) <= 1e-6 * 250 * 0.4 * rate
    lift = Session("l", (Step("z", modes.lift(level=3), 30),), channels=1)
    e = lift.engine(rate, ua_stage(1))
    a = e.render(int(5.2 * rate))                # inside the second pulse of a pair
    e.stop_at(int(5.0 * rate))                   # an end already passed
    y = np.concatenate([a, e.render(4 * rate)])[:, 0].astype(np.float64) * UA_PER_UNIT
    pairs = y[: len(y) // (2 * rate) * 2 * rate].reshape(-1, 2 * rate).sum(axis=1)
    assert np.all(np.abs(pairs) <= 1e-6 * 240 * 0.45 * rate)
    assert y[int(5.2 * rate)] == y[int(5.2 * rate) - 1]       # no step inside the pulse
    assert np.all(y[int(5.6 * rate):] == 0)                     # and silence after the pair



def test_a_short_step_with_a_soft_start_and_no_soft_stop_builds_at_once():
    """The soft gate of a step shorter than its soft start, with no soft stop,
    once spun forever on float rounding (found by the review's fuzz)."""
    import signal as sig
    spec = mw.Biphasic(freq_hz=50, amp_ua=100, phase_us=1000)
    old = sig.signal(sig.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("Session.engine hung")))
    sig.alarm(20)
    try:
        for seconds in (0.0545, 0.0525, 0.1, 0.07, 0.3):
            for start, stop in ((0.3, 0.0), (2.0, 0.0), (0.0, 0.3), (1e-3, 3.0)):
                session = Session("short", (Step("z", spec, seconds),), channels=1, soft_start_s=start,
                                  soft_stop_s=stop)
                assert len(session.engine(4000, Stage(channel_map=(0,))).render(round(seconds * 4000))) > 0
    finally:
        sig.alarm(0)
        sig.signal(sig.SIGALRM, old)


def test_refusals_name_their_real_cause():
    """A one-shot held pulse has no 'net DC' of a periodic train: the refusal
    does not claim 0 uA; a voltage-mode stage names its lowest load."""
    held = mw.CustomTrain(onsets_s=(0.0,), amps_ua=(300.0,), phase_us=2_000_000, biphasic=False)
    with pytest.raises(ValueError) as e:
        Session("held", (Step("z", held, 4),), channels=1, soft_start_s=0, soft_stop_s=0).engine(
            4000, Stage(coupling="ac", corner_hz=5, channel_map=(0,)))
    assert "net DC is 0 uA" not in str(e.value) and "held polarity" in str(e.value)
    stage = Stage(channel_map=(0,), load_ohm=3000, load_ohm_min=200, full_scale_v=5)
    with pytest.raises(ValueError, match=r"lowest load of 200 ohm.*nominal 3000 ohm"):
        Session("v", (Step("z", mw.Biphasic(freq_hz=100, amp_ua=140, phase_us=500), 4),), channels=1).engine(
            4000, stage)


@pytest.mark.parametrize("spec", [
    mw.Monophasic(freq_hz=20, amp_ua=300, phase_us=10_000, polarity="alternate"),
    mw.Biphasic(freq_hz=10, amp_ua=300, phase_us=20_000),
    mw.Biphasic(freq_hz=300, amp_ua=300, phase_us=500, interphase_us=100, burst=mw.Burst(on_s=0.6, off_s=0.4)),
])
@pytest.mark.parametrize("dc_offset", [None, 0.1])
def test_a_coupling_declared_but_absent_never_drives_more_than_the_limit(spec, dc_offset):
    """A stage declared AC-coupled (3 Hz, as a calibration through an AC
    input mistakes a DC output for) played through a card that is in fact
    DC-coupled: the current is the drive, and the supervisor keeps the
    drive itself within the limit at the session's highest level (the
    review measured 569 and 657 uA through a 500 uA stage before).  With
    the card's measured DC offset (a DC card's stage file typed in as AC)
    the offset flows too, and the drive leaves room for it (a review: 540
    uA of 500, when an AC stage ignored the offset; a held DAC, whose limit
    leaves no room for ringing, lets the drive come closest to it)."""
    cal = Calibration(dc_offset=(dc_offset,)) if dc_offset is not None else None
    stage = Stage(coupling="ac", corner_hz=3.0, channel_map=(0,), max_ua=500, calibration=cal,
                  reconstruction="band-limited" if dc_offset is None else "held")
    session = Session("dc-card", (Step("z", spec, 3.0),), channels=1, soft_start_s=0.2, soft_stop_s=0.2)
    try:
        engine = session.engine(RATE, stage)
    except ValueError as refused:        # (the 20 ms phases' pre-emphasis: beyond what the offset leaves)
        assert dc_offset is not None and "100 uA the card's measured DC offset adds" in str(refused)
        return
    engine.set_level(engine.max_level)
    engine.rewind()
    dac = engine.render(session.frames(RATE) + RATE)[:, 0].astype(np.float64)
    flows = (dac + (dc_offset or 0.0)) / stage.dac_per_ua(0)      # what a DC card passes: the drive, its offset
    assert np.max(np.abs(flows)) <= stage.max_ua * (1 + 1e-6)
    assert engine.supervision["clamped"] == 0


# an AC session whose level a player moves with its polarity (high through
# each + hold, low through each -): a stored charge the check, made at a
# steady level, could not see, so the supervisor ends it (found by a review)
_SUP_RATE = 8000
_SUP_STAGE = Stage(coupling="ac", corner_hz=5, channel_map=(0,))
_SUP_SESSION = Session("ac", (Step("z", mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=3000,
                                                       pattern="300ms+ 300ms-"), 6.0),),
                       channels=1, soft_start_s=0.1, soft_stop_s=0.1)
_sup_top = {}


def _played_in_blocks(blocks, level_follows=True, actions=()):
    """The session's frames and 2 s after, filled in blocks cycling through
    `blocks` (cut where the level changes or an action is taken, as a
    player's would be), the level following the polarity (or steady at the
    highest the check allows), and `actions`, (frame, name) pairs: "stop",
    "pause", "resume", "rewind"."""
    if "top" not in _sup_top:
        _sup_top["top"] = _SUP_SESSION.check(_SUP_STAGE, _SUP_RATE)
    top, rate = _sup_top["top"], _SUP_RATE
    levels = {k * 2400: (top if k % 2 == 0 or not level_follows else 0.1) for k in range(20)}
    todo = dict(actions)
    marks = sorted(set(levels) | set(todo))
    e = _SUP_SESSION.engine(rate, _SUP_STAGE, ramp_s=0.02)
    n = _SUP_SESSION.frames(rate) + 2 * rate
    out = np.empty((n, 1), np.float32)
    i = j = 0
    while i < n:
        if i in levels:
            e.set_level(levels[i])
        act = todo.get(i)
        if act == "stop":
            e.stop()
        elif act in ("pause", "resume"):
            e.pause(act == "pause")
        elif act == "rewind":
            e.rewind()
        nxt = min([p for p in marks if p > i], default=n)
        k = min(blocks[j % len(blocks)], n - i, nxt - i)
        e.fill(out[i:i + k])
        i += k
        j += 1
    return out, e.supervision


_ACTIONS = st.one_of(
    st.just(()),
    st.tuples(st.tuples(st.integers(1000, 20000), st.just("stop"))),
    st.integers(1000, 15000).flatmap(lambda a: st.integers(1, 6000).map(
        lambda d: ((a, "pause"), (a + d, "resume")))),
    st.tuples(st.tuples(st.integers(1000, 30000), st.just("rewind"))),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(st.integers(1, 3000), min_size=1, max_size=5), actions=_ACTIONS,
       level_follows=st.booleans())
@example(blocks=[64], actions=(), level_follows=True)
@example(blocks=[1000, 24], actions=((9000, "pause"), (9300, "resume")), level_follows=True)
@example(blocks=[777], actions=((30000, "rewind"),), level_follows=True)
def test_the_supervisors_stop_and_a_hold_come_at_the_same_sample_whatever_the_blocks(blocks, actions,
                                                                                     level_follows):
    """Block-size invariance through an AC stage whose supervisor ends the
    session (the drive came within its soft bound), and through stop,
    pause and resume, and rewind: the supervisor decides where the
    session's position is a multiple of MW_SUP_CHUNK frames or where a hold
    starts, and the programs are held (the bleed starts) at the sample the
    last unit ends, not where a block happens to start.  Filled in blocks
    of 1024 the supervisor once stopped later than in blocks of 64 (196
    samples clamped against none), and the bleed started where the next
    block did.  The one-fill run is the oracle (its chunks are the
    engine's own)."""
    one, sup_one = _played_in_blocks([1 << 20], level_follows, actions)
    other, sup_other = _played_in_blocks(blocks, level_follows, actions)
    if level_follows and not actions:
        assert sup_one["stopped"]        # (the case is one the supervisor ends)
    if not level_follows:                # a steady level the check allows is never stopped, played on
        assert (sup_one["stopped"], sup_one["tight"], sup_one["clamped"]) == (False, 0, 0)   # after a hold too
    assert (sup_one["stopped"], sup_one["tight"], sup_one["clamped"]) == \
        (sup_other["stopped"], sup_other["tight"], sup_other["clamped"])
    np.testing.assert_array_equal(one, other)


# ---- between samples: a sound card's DAC reconstructs, and hard edges go past the samples -------
def _at_max_level(session, stage, rate):
    """The whole session at its highest level (reached before its first
    sample), as DAC frames, then silence."""
    engine = session.engine(rate, stage, ramp_s=1e-6)
    engine.set_level(engine.max_level)
    return engine.render(engine.state["total"])


def _short_phases(rate):
    """Trains whose phases and gaps are 1 to 12 samples (whole or not): what
    rings most through a reconstruction filter."""
    sample_us = 1e6 / rate
    width = st.one_of(st.integers(1, 12).map(float), st.floats(1.0, 12.0)).map(lambda k: k * sample_us)
    gap = st.one_of(st.just(0.0), width, st.floats(0.0, 3.0).map(lambda k: k * sample_us))
    # regular trains also have long phases, with hard edges or sloped ones (a cut mid-plateau rings)
    long_width = st.one_of(width, st.floats(20.0, 400.0).map(lambda k: k * sample_us))
    # ... and sparse ones: short pulses far apart have a low bound of their own, so what a
    # rewind or a step puts next to them is what rings (a rewind mid-pulse was found so)
    spare = st.one_of(gap, st.floats(20.0, 100.0).map(lambda k: k * sample_us))

    def regular(kind, phase, ipi, spare, pattern, slope):
        period = (2 * phase + ipi if kind == "biphasic" else phase) + spare
        edges = dict(rise_us=slope * phase, fall_us=slope * phase)
        if kind == "biphasic":
            return mw.Biphasic(period_us=period + 2 * slope * phase, amp_ua=40, phase_us=phase, interphase_us=ipi,
                               pattern=pattern, **edges)
        return mw.Monophasic(period_us=period + slope * phase, amp_ua=40, phase_us=phase,
                             pattern=pattern or "1+ 1-", **edges)

    def custom(phase, gaps, signs, biphasic):
        onsets, t = [], 0.0
        for g in gaps:
            onsets.append(t * 1e-6)
            t += (2 * phase if biphasic else phase) + g
        return mw.CustomTrain(onsets_s=onsets, amps_ua=[40.0 * s for s in signs[:len(onsets)]], phase_us=phase,
                              biphasic=biphasic, loop_s=t * 1e-6 + 1e-3)

    def sweep(phase, hz, scale):
        return mw.Biphasic(amp_ua=40, phase_us=phase, sweep=mw.Sweep(hz[0], hz[1], 0.05, scale))
    fastest = 1e6 / (2 * 12 * sample_us + 3 * sample_us)
    return st.one_of(
        st.builds(regular, st.sampled_from(["biphasic", "monophasic"]), long_width, gap, spare,
                  st.sampled_from([None, "1+ 1-", "2+ 1-", "3+ 3-"]), st.sampled_from([0.0, 0.0, 0.0, 0.3, 1.0])),
        st.builds(custom, width, st.lists(gap, min_size=1, max_size=12),
                  st.lists(st.sampled_from([1.0, -1.0]), min_size=12, max_size=12), st.booleans()),
        st.builds(sweep, width, st.tuples(st.floats(50, fastest), st.floats(50, fastest)),
                  st.sampled_from(["linear", "log"])))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rate=st.sampled_from([8_000, 48_000]), max_ua=st.floats(250, 1000),
       seconds=st.lists(st.floats(0.01, 0.08), min_size=1, max_size=3), soft_s=st.sampled_from([0.0, 0.0, 0.01, 0.05]),
       levels=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 4)), max_size=3),
       end=st.sampled_from(ENDS), end_at=st.floats(0, 1.2))
def test_between_samples_the_current_stays_within_the_maximum(data, rate, max_ua, seconds, soft_s, levels, end,
                                                               end_at):
    """At any level up to the highest allowed, moved while it plays, with
    soft starts and stops, across steps, and any end (an abrupt one cuts a
    pulse where it is), the current a sound card's DAC delivers between the
    samples -- an independent raised-cosine reconstruction in the time
    domain -- stays within max_ua; through a DAC declared to hold its
    samples, the same trains go past it (so the property has teeth)."""
    try:
        specs = [data.draw(_short_phases(rate)) for _ in seconds]
        for spec in specs:
            spec.plan(rate)
    except ValueError:          # a pulse wider than its period, or closer than a sample to the next
        assume(False)
    session = Session("s", tuple(Step(f"z{i}", p, d) for i, (p, d) in enumerate(zip(specs, seconds))), channels=1,
                      soft_start_s=soft_s, soft_stop_s=soft_s)
    kind = data.draw(st.sampled_from(["dc", "dc", "ac", "voltage"]))
    ac = dict(coupling="ac", corner_hz=data.draw(st.sampled_from([0.5, 5.0, 50.0])),
              corner_tolerance=data.draw(st.sampled_from([0.1, 0.6])))
    stage = Stage(max_ua=max_ua, channel_map=(0,), **{"dc": {}, "ac": ac,
                                                      "voltage": dict(load_ohm=2000, load_ohm_min=1000)}[kind])
    try:
        engine = session.engine(rate, stage, ramp_s=data.draw(st.sampled_from([1e-6, 0.01])))
    except ValueError as e:      # an AC stage refuses what its coupling cannot pass (long phases, high corners)
        if kind != "ac" or "cannot be played through this AC-coupled output" not in str(e):
            raise
        assume(False)
    engine.set_level(engine.max_level)
    dac = _play(engine, engine.state["total"], levels, end, end_at, rate)
    assume(len(dac) > 0)         # ended before its first frame
    dac = np.concatenate([dac, np.zeros((rate // 10, dac.shape[1]), dac.dtype)])   # then the DAC at zero
    peak = held = 0.0
    for corner in physics.corners(stage, 7):    # the lowest load, every corner across the tolerance
        current = physics.current_ua(dac, stage, corner_hz=corner, rate=rate)
        peak = max(peak, float(np.abs(physics.reconstructed(current)).max()))
        held = max(held, float(np.abs(current).max()))
    assert peak <= max_ua * (1 + 2e-3), (specs, stage, peak)
    event(f"between samples / held: {peak / held if held else 1:.2f}")


_US48 = 1e6 / 48_000
REVIEWS_CASES = {   # each went 4-14 % past max_ua between samples in the review of the first bound
    "long phases 2 samples apart": ((mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=10_000 - 2 * _US48,
                                                   polarity="alternate"), 0.5),),
    "a pulse across a step's end": ((mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=2000, pattern="1+ 1-"),
                                     2498 / 48_000),
                                    (mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=2000, pattern="1+ 1-"), 0.05)),
    "opposite steps back to back": ((mw.Monophasic(period_us=480.7 * _US48, amp_ua=100, phase_us=96.4 * _US48),
                                     2019 / 48_000),
                                    (mw.Monophasic(period_us=480.7 * _US48, amp_ua=100, phase_us=96.4 * _US48,
                                                   polarity=-1), 0.02)),
}


@pytest.mark.parametrize("case", sorted(REVIEWS_CASES))
def test_the_reviews_cases_stay_within_the_maximum_between_samples(case):
    rate, stage = 48_000, Stage(max_ua=500, channel_map=(0,))
    session = Session("r", tuple(Step(f"z{i}", p, d) for i, (p, d) in enumerate(REVIEWS_CASES[case])), channels=1,
                      soft_start_s=0, soft_stop_s=0)
    engine = session.engine(rate, stage, ramp_s=1e-6)
    engine.set_level(engine.max_level)
    dac = np.concatenate([engine.render(engine.state["total"]), np.zeros((400, 1), np.float32)])
    assert np.abs(physics.reconstructed(physics.current_ua(dac, stage, rate=rate))).max() <= 500 * (1 + 2e-3)


def test_a_stream_cut_mid_plateau_stays_within_the_maximum_between_samples():
    """LIFT's 50 ms edges barely ring, but a stream that dies mid-pulse (an
    underrun, a crash) steps the DAC to zero from the plateau: its ringing
    is within the limit too (the review measured 569 uA of 500)."""
    rate, stage = 48_000, Stage(channel_map=(0, 1))
    engine = builtin("lift").engine(rate, stage, ramp_s=1e-6)
    engine.set_level(engine.max_level)
    dac = np.concatenate([engine.render(int(11.25 * rate)), np.zeros((400, 2), np.float32)])
    assert np.abs(physics.reconstructed(physics.current_ua(dac, stage, rate=rate))).max() <= 500 * (1 + 2e-3)


def test_a_held_step_rings_past_itself_by_at_most_the_step_overshoot():
    """What Stage.assess adds for a drive (the pre-emphasis) stepped to
    zero: the step's ringing either side of it, reconstructed independently
    (scipy's polyphase FIR, 256 points a sample), is within
    _reconstruct.step_overshoot() and no more than 0.1 % of the step
    below it (a bound that was loose would lower the highest level for
    nothing; one too small would let the current past the limit)."""
    up, half = 256, 256
    x = np.r_[np.ones(600), np.zeros(600)]
    y = physics.reconstructed(x, up=up, half=half)[half * up:][200 * up:1000 * up]   # the step at 600
    ringing = max(float(y.max()) - 1.0, -float(y.min()))
    bound = _reconstruct.step_overshoot()
    assert bound - 1e-3 <= ringing <= bound, (ringing, bound)


@pytest.mark.parametrize("corner_hz, tolerance", [(0.106, 0.6), (0.2, 0.3), (0.05, 0.6)])
def test_the_predicted_worst_holds_when_a_stream_dies_with_the_pre_emphasis_high(corner_hz, tolerance):
    """An AC stage's drive carries the coupling's charge (the pre-emphasis)
    under the pulses; a stream that dies steps it to zero with them, and
    that step rings between samples too.  Cut where LIFT's drive is largest
    at the highest level, the current between samples, at every corner
    across the tolerance, stays within the worst the stage predicts
    (Stage.assess) and so within max_ua.  (An outside review's stage:
    0.987 of max_ua flowed where 0.960 was predicted, the step's ringing
    left out.)"""
    rate = 8_000
    stage = Stage(coupling="ac", corner_hz=corner_hz, corner_tolerance=tolerance, channel_map=(0,), max_ua=737.86,
                  full_scale_v=0.8384, ua_per_v=2799.16)
    session = builtin("lift")
    top, worst_ua = stage.assess(session, rate)
    engine = session.engine(rate, stage, ramp_s=1e-6)
    engine.set_level(engine.max_level)
    dac = engine.render(10 * rate)
    cut = int(np.argmax(np.abs(dac[:, 0]))) + 1          # the stream dies after the drive's largest sample
    dac = np.concatenate([dac[:cut], np.zeros((600, 1), np.float32)])
    flows = max(float(np.abs(physics.reconstructed(physics.current_ua(dac, stage, 0, f, rate)[cut - 300:])).max())
                for f in physics.corners(stage, 25))
    assert flows <= worst_ua * engine.max_level * (1 + 1e-3), (flows, worst_ua * engine.max_level)
    assert flows <= stage.max_ua
    # and through a card declared AC but in fact DC-coupled, where the drive itself flows (a second
    # review: 808 uA of 737.86 when the drive's peak was left out of the bound)
    dc = physics.current_ua(dac, dataclasses.replace(stage, coupling="dc"), 0, None, rate)[cut - 300:]
    assert float(np.abs(physics.reconstructed(dc)).max()) <= stage.max_ua


@settings(max_examples=20, deadline=None)
@given(corner_hz=st.sampled_from([1.0, 5.0]), tolerance=st.sampled_from([0.1, 0.6, 0.9]),
       run=st.integers(10, 150), low=st.floats(0.0, 0.3), phase=st.sampled_from([125.0, 250.0, 400.0]),
       cut=st.booleans())
@example(corner_hz=1.0, tolerance=0.9, run=100, low=0.02, phase=250.0, cut=False)
@example(corner_hz=1.0, tolerance=0.9, run=100, low=0.02, phase=250.0, cut=True)
def test_a_level_pumped_with_the_polarity_ends_the_session_within_the_limit_between_samples(
        corner_hz, tolerance, run, low, phase, cut):
    """A level raised on one polarity and lowered on the other (in step
    with a ``"N+ N-"`` pattern, each run) pumps charge into an AC coupling:
    the supervisor's soft bound must end the session before the current
    between samples passes the limit, at every corner across the tolerance,
    also through a card declared AC but in fact DC-coupled, and also when
    the stream dies at the drive's largest sample.  (A review: 522.6 uA of
    500 between samples, 567 uA DC-coupled, the samples at 440, when the
    soft bound looked at the samples alone; and with the soft bound's room
    alone, 520 uA through a 5 Hz corner, whose charge grows within the
    256 frames before a stop is decided: the clamp keeps the room too.)"""
    rate = 8_000
    stage = Stage(coupling="ac", corner_hz=corner_hz, corner_tolerance=tolerance, channel_map=(0,), max_ua=500)
    spec = mw.Monophasic(period_us=1000, amp_ua=100, phase_us=phase, pattern=f"{run}+ {run}-")
    session = Session("pump", (Step("jaw", spec, 30),), channels=1, soft_start_s=0, soft_stop_s=0)
    engine = session.engine(rate, stage, ramp_s=1e-6)
    blocks = []
    for k in range(12):                                   # each run of the pattern at its own level
        engine.set_level(engine.max_level if k % 2 == 0 else low)
        blocks.append(engine.render(run * rate // 1000))
        if engine.supervision["stopped"]:
            break
    blocks.append(engine.render(rate // 2))                # the stop's fall, and the bleed begun
    dac = np.concatenate(blocks)
    if cut:                                               # the stream dies after the drive's largest sample
        at = int(np.argmax(np.abs(dac[:, 0]))) + 1
        dac = np.concatenate([dac[:at], np.zeros((rate // 10, 1), np.float32)])
    for f in physics.corners(stage, 9):
        flows = float(np.abs(physics.reconstructed(physics.current_ua(dac, stage, 0, f, rate))).max())
        assert flows <= stage.max_ua, (f, flows)
    dc = physics.current_ua(dac, dataclasses.replace(stage, coupling="dc"), 0, None, rate)
    assert float(np.abs(physics.reconstructed(dc)).max()) <= stage.max_ua


@pytest.mark.parametrize("max_ua, headroom", [(1000, 0.9), (500, 0.4), (500, 1.0)])
def test_a_steady_level_at_the_top_through_an_ac_stage_is_never_stopped_whatever_its_swing(max_ua, headroom):
    """The soft bound keeps room for what the current rings between samples,
    but the DAC's swing is not a current: with a rail below the limit (a
    review: max_ua 1000 at headroom 0.9) a steady session at its highest
    level was ended by the soft bound when the room was added to the rail's
    measure too.  At a steady level up to max_level nothing is clamped and
    nothing stops."""
    stage = Stage(coupling="ac", corner_hz=5.0, channel_map=(0,), max_ua=max_ua, headroom=headroom)
    session = Session("s", (Step("jaw", mw.Biphasic(freq_hz=100, amp_ua=200 * headroom, phase_us=500), 3),),
                      channels=1)
    engine = session.engine(48_000, stage)
    engine.set_level(engine.max_level)
    engine.render(engine.state["total"] + 48_000)
    sup = engine.supervision
    assert not sup["stopped"] and sup["tight"] == 0 and sup["clamped"] == 0, sup


def _sparse_train(kind, width, spare, pattern, rate=48_000):
    """Pulses of phases ``width`` samples long, ``spare`` samples of silence
    between them, at 40 uA: the shape a rewind's or a cut's jump rings most
    beside (their own bound is low)."""
    sample_us = 1e6 / rate
    if kind == "biphasic":
        return mw.Biphasic(period_us=(2 * width + spare) * sample_us, amp_ua=40, phase_us=width * sample_us,
                           pattern=pattern)
    return mw.Monophasic(period_us=(width + spare) * sample_us, amp_ua=40, phase_us=width * sample_us,
                         pattern=pattern or "1+ 1-")


def _into_a_pulse(engine, frames, into, above):
    """``frames`` frames of ``engine``, then on sample by sample until the
    last one's magnitude is more than ``above`` x the largest of the first
    ``frames`` (into a pulse), then ``into`` samples more: the blocks."""
    out = [engine.render(frames)]
    level = above * float(np.abs(out[0]).max())
    for _ in range(200):
        if np.abs(out[-1][-1]).max() > level:
            break
        out.append(engine.render(1))
    assert np.abs(out[-1][-1]).max() > level
    out.append(engine.render(into))
    return out


@settings(max_examples=40, deadline=None)
@given(width=st.one_of(st.integers(1, 3).map(float), st.floats(1.0, 3.0)), spare=st.floats(10.0, 100.0),
       pattern=st.sampled_from([None, "1+ 1-"]), kind=st.sampled_from(["biphasic", "monophasic"]),
       at=st.integers(1, 4000), into=st.integers(0, 2))
@example(width=1.0 + 1e-3, spare=46.0, pattern="1+ 1-", kind="biphasic", at=4800, into=1)
def test_a_rewind_mid_pulse_starts_again_after_silence(width, spare, pattern, kind, at, into):
    """A rewind from mid-play jumps from wherever the pulse is to the
    session's first sample: with 1-sample phases far apart at the highest
    level, the jump from the last sample played straight into the first
    pulse rang to 625 uA of 500 between samples (found by a review; 770 uA
    in the example).  The engine plays REWIND_SILENCE frames of silence
    first (a cut, then silence: what the bound covers), then the session
    from its start: the same frames as an engine rewound before it played."""
    rate = 48_000
    session = Session("s", (Step("jaw", _sparse_train(kind, width, spare, pattern), 0.2),), channels=1,
                      soft_start_s=0, soft_stop_s=0)
    stage = Stage(max_ua=500, channel_map=(0,))
    engine = session.engine(rate, stage, ramp_s=1e-6)
    engine.set_level(engine.max_level)
    before = _into_a_pulse(engine, at, into, above=0.0)
    engine.rewind()
    after = engine.render(engine.state["total"] + REWIND_SILENCE)
    fresh = session.engine(rate, stage, ramp_s=1e-6)      # a rewind before anything played costs nothing:
    fresh.set_level(fresh.max_level)
    fresh.rewind()                                        # (at the level set, with no ramp, as a rewind does)
    start = fresh.render(engine.state["total"])
    assert start[0, 0] != 0
    assert REWIND_SILENCE >= _reconstruct.CONTEXT       # the model's ringing is dropped beyond that
    assert not after[:REWIND_SILENCE].any()
    np.testing.assert_array_equal(after[REWIND_SILENCE:], start)
    dac = np.concatenate(before + [after, np.zeros((400, 1), np.float32)])
    assert np.abs(physics.reconstructed(physics.current_ua(dac, stage, rate=rate))).max() <= 500 * (1 + 2e-3)


@pytest.mark.parametrize("corner_hz, kind, into", [(5.0, "biphasic", 1), (5.0, "monophasic", 0), (50.0, "biphasic", 1),
                                                     (500.0, "biphasic", 0)])
def test_a_rewind_mid_pulse_through_an_ac_coupling_cuts_the_drive(corner_hz, kind, into):
    """Through an AC coupling a rewind bleeds what the coupling stores before
    the session starts again; the bleed used to start from the drive where
    the pulse was, a 1-sample phase held as a plateau, which rang to 593 uA
    of 500 between samples (found by a review).  The rewind cuts the drive
    to zero (the stored charge then flows as after an abrupt end) and bleeds
    from there."""
    rate = 48_000
    stage = Stage(max_ua=500, channel_map=(0,), coupling="ac", corner_hz=corner_hz)
    spec = _sparse_train(kind, 1.0, 90.0, "1+ 1-") if kind == "biphasic" else _sparse_train(kind, 2.0, 90.0, None)
    session = Session("s", (Step("z", spec, 0.2),), channels=1, soft_start_s=0, soft_stop_s=0)
    engine = session.engine(rate, stage, ramp_s=1e-6)
    engine.set_level(engine.max_level)
    # (the drive at rest is the pre-emphasis, not 0: into a pulse is past half the peak so far)
    out = _into_a_pulse(engine, 4000, into, above=0.5)
    engine.rewind()
    out.append(engine.render(3000))
    dac = np.concatenate(out + [np.zeros((400, 1), np.float32)])
    for corner in physics.corners(stage, 5):
        flows = physics.reconstructed(physics.current_ua(dac, stage, 0, corner, rate=rate))
        assert np.abs(flows).max() <= 500 * (1 + 2e-3), corner


@pytest.mark.parametrize("first_ms", [3000, 475])
def test_a_second_rewind_finds_the_coupling_drained(first_ms):
    """A rewind's cut stores charge in an AC coupling (the drive steps to
    zero); a session started again at once, with that charge, drove to the
    supervisor's bound, and a second rewind's cut of that drive rang to
    550 uA of 500 between samples (found by a review).  The restart waits
    until the coupling stores no more than a bleed leaves."""
    rate = 48_000
    stage = Stage(max_ua=500, channel_map=(0,), coupling="ac", corner_hz=1.0)
    spec = mw.Monophasic(freq_hz=1, amp_ua=89, phase_us=450_000, rise_us=50_000, fall_us=50_000,
                         polarity="alternate")
    session = Session("s", (Step("z", spec, 4.0),), channels=1, soft_start_s=0, soft_stop_s=0)
    engine = session.engine(rate, stage, ramp_s=1e-4)
    engine.set_level(engine.max_level)
    parts = [engine.render(rate * first_ms // 1000)]
    engine.rewind()
    parts.append(engine.render(REWIND_SILENCE + rate * 975 // 1000))
    engine.rewind()
    parts.append(engine.render(rate))
    dac = np.concatenate(parts + [np.zeros((400, 1), np.float32)])
    for corner in physics.corners(stage, 9):
        flows = physics.reconstructed(physics.current_ua(dac, stage, 0, corner, rate=rate))
        assert np.abs(flows).max() <= 500 * (1 + 2e-3), corner


def _hold_spec(kind, run, phase_us):
    """A train at 100 uA whose period is 2 ms: a monophasic one alternating
    in runs of ``run`` pulses (the charge its coupling stores swings with
    them), or a biphasic one."""
    if kind == "biphasic":
        return mw.Biphasic(period_us=2000, amp_ua=100, phase_us=phase_us / 2, pattern=f"{run}+ {run}-")
    return mw.Monophasic(period_us=2000, amp_ua=100, phase_us=phase_us, pattern=f"{run}+ {run}-")


@settings(max_examples=40, deadline=None)
@given(corner_hz=st.sampled_from([1.0, 5.0, 50.0, 200.0, 500.0]), tolerance=st.sampled_from([0.0, 0.3, 0.6, 0.9]),
       rate=st.sampled_from([8_000, 48_000]), kind=st.sampled_from(["monophasic", "biphasic"]),
       run=st.sampled_from([1, 5, 12, 50]), phase_us=st.sampled_from([250.0, 500.0, 900.0]),
       first_s=st.floats(0.01, 0.9), hold=st.sampled_from(["rewind", "pause", "zero"]),
       held_s=st.floats(0.0, 0.2), ramp_s=st.sampled_from([1e-3, 0.2]), early=st.booleans())
@example(corner_hz=5.0, tolerance=0.3, rate=48_000, kind="monophasic", run=5, phase_us=500.0, first_s=0.5137,
         hold="rewind", held_s=0.0, ramp_s=1e-3, early=False)      # a review: stopped 512 frames after the restart
@example(corner_hz=50.0, tolerance=0.3, rate=48_000, kind="monophasic", run=5, phase_us=500.0, first_s=0.2021,
         hold="rewind", held_s=0.0, ramp_s=1e-3, early=False)
@example(corner_hz=5.0, tolerance=0.3, rate=8_000, kind="monophasic", run=50, phase_us=900.0, first_s=0.25,
         hold="pause", held_s=0.1, ramp_s=0.2, early=True)          # lifted during its fall: clamped, stopped
def test_a_session_played_on_after_a_hold_starts_from_a_drained_coupling_and_is_never_stopped(
        corner_hz, tolerance, rate, kind, run, phase_us, first_s, hold, held_s, ramp_s, early):
    """After a hold (a rewind mid-pulse, a pause, a level of zero) an AC
    session plays on only once what its coupling stores has flowed to
    SUPERVISOR_RESTART of the limit: the pre-emphasis would keep any charge
    left for good (the drive carries it), and the fifth of the limit a
    bleed leaves ended a session at its highest level (a review: a rewind
    at 5 Hz +-30 %, the soft bound tripped 512 frames after the restart,
    and at 1 and 50 Hz).  At the session's highest level, played on after
    the hold, nothing is clamped and nothing stops; the charge at the
    restart is measured from the DAC samples through an independent model
    of the coupling, at the declared corner and the ends of its tolerance
    (corners the supervisor models); and the current stays within max_ua
    between samples, also through a card in fact DC-coupled.  With
    ``early`` the pause is lifted (the level raised) ``held_s`` into the
    level's fall, before the hold: the fall goes on to the hold all the
    same (a review: a dip of the level without one left the coupling's
    charge beyond what the check measured; clamped and stopped)."""
    stage = Stage(coupling="ac", corner_hz=corner_hz, corner_tolerance=tolerance, channel_map=(0,), max_ua=500)
    session = Session("s", (Step("jaw", _hold_spec(kind, run, phase_us), 60),), channels=1,
                      soft_start_s=0, soft_stop_s=0)
    try:
        engine = session.engine(rate, stage, ramp_s=ramp_s)
    except ValueError:                            # (the charge a run stores is more than the stage allows)
        assume(False)
    top = engine.max_level
    engine.set_level(top)
    parts = [engine.render(max(1, int(first_s * rate)))]
    held_at = len(parts[0])

    def silent_since_hold():
        dac = np.concatenate(parts)[held_at:, 0]
        return int(np.flatnonzero(dac == 0)[0]) if np.any(dac == 0) else None
    if hold == "rewind":
        engine.rewind()
    else:
        engine.pause() if hold == "pause" else engine.set_level(0.0)
        while not early and silent_since_hold() is None and len(parts) < 400:   # the fall, then the bleed
            parts.append(engine.render(rate // 100))
        parts.append(engine.render(int(held_s * rate) + 1))
        engine.pause(False) if hold == "pause" else engine.set_level(top)
    for _ in range(400):                          # the bleed, the charge flowing, and on
        parts.append(engine.render(rate // 20))
        dac = np.concatenate(parts)[:, 0]
        quiet = silent_since_hold()
        if quiet is not None and np.any(dac[held_at + quiet:] != 0) and len(dac) - held_at - quiet > rate // 2:
            break
    sup = engine.supervision
    assert (sup["stopped"], sup["tight"], sup["clamped"]) == (False, 0, 0), sup
    dac = np.concatenate(parts)
    silent = held_at + int(np.flatnonzero(dac[held_at:, 0] == 0)[0])
    restart = silent + int(np.flatnonzero(dac[silent:, 0] != 0)[0])   # the first sample played on
    drive = physics.current_ua(dac, dataclasses.replace(stage, coupling="dc"), 0, None, rate)
    for f in (corner_hz * (1 - tolerance), corner_hz, corner_hz * (1 + tolerance)):
        flows = physics.current_ua(dac, stage, 0, f, rate)
        # y = x - q at the sample before, and the charge decays by d over it
        stored = abs(float(drive[restart - 1] - flows[restart - 1])) * math.exp(-2 * math.pi * f / rate)
        assert stored <= SUPERVISOR_RESTART * stage.limit_ua * (1 + 1e-3) + 1e-3, (f, stored, restart - silent)
    window = slice(max(0, held_at - rate // 20), len(dac))
    for f in physics.corners(stage, 9):
        flows = physics.reconstructed(physics.current_ua(dac, stage, 0, f, rate)[window])
        assert float(np.abs(flows).max()) <= stage.max_ua, f
    assert float(np.abs(physics.reconstructed(drive[window])).max()) <= stage.max_ua


def test_a_train_of_two_sample_phases_delivers_sqrt2_of_its_samples_and_is_held_to_the_maximum():
    """[a, a, -a, -a] repeated is a sine of amplitude sqrt(2) a through those
    samples (exact arithmetic): a band-limited DAC delivers that, so the
    highest level allowed is below max_ua / (sqrt(2) a), and what flows at
    it, cut off anywhere, stays within max_ua and comes within 20 % of it;
    a DAC declared to hold its samples is allowed max_ua / a and goes past
    max_ua between them."""
    rate = 48_000
    spec = mw.Biphasic(freq_hz=rate / 4, amp_ua=100, phase_us=2e6 / rate - 1e-6)
    session = Session("s", (Step("jaw", spec, 0.2),), channels=1, soft_start_s=0, soft_stop_s=0)
    stage = Stage(max_ua=500, channel_map=(0,))
    assert session.check(stage, rate) <= 500 / (100 * math.sqrt(2))
    for cut in (None, 4803, 4806):
        dac = _at_max_level(session, stage, rate)[:cut]
        flows = physics.reconstructed(physics.current_ua(dac, stage, rate=rate))
        assert np.abs(flows).max() <= 500 * (1 + 2e-3)
    assert np.abs(flows).max() >= 500 * 0.8
    held = Stage(max_ua=500, channel_map=(0,), reconstruction="held")
    assert session.check(held, rate) == pytest.approx(5.0)
    flows = physics.reconstructed(physics.current_ua(_at_max_level(session, held, rate), held, rate=rate))
    assert np.abs(flows).max() > 500 * 1.4


def test_smooth_edges_lose_to_the_reconstruction_only_what_a_cut_rings():
    """LIFT's 50 ms edges do not ring; what lowers its highest level is a
    stream that dies mid-pulse, a step from the plateau to zero, which
    rings 14 % of the step (the raised-cosine's sampled step response)."""
    session = builtin("lift")
    band, held = Stage().assess(session)[0], Stage(reconstruction="held").assess(session)[0]
    assert held / 1.15 <= band <= held / 1.13
