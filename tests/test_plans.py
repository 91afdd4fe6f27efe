"""Typed plans (microwave.plans): what the specs compile to, refused when
malformed before C reads them, frozen, hashable, and equal for equal specs."""
from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microwave as mw
from microwave import plans
from microwave._core import MAX_BREAKPOINTS, MAX_CHANNELS, MAX_SEGMENTS, MAX_STATES, Generator
from microwave._core import SessionEngine
from microwave.envelopes import Envelope, Ramp
from microwave.plans import (BurstSchedule, CustomSchedule, EnvelopePlan, PatternPlan, ProgramPlan, Rational,
                             RegularSchedule, SampleTime, StagePlan, SweepSchedule, TemplatePlan)
from microwave.sessions import Session, Step
from microwave.stage import Stage
from forced import forced
from test_pulses import train_specs

RATE = 48_000
FAST = settings(deadline=None, max_examples=60, database=None)


def _specs():
    """One spec of every timing kind, with a pattern and an envelope where they apply."""
    env = Envelope((Ramp(0.05, 1.0, "cosine"), Ramp(0.1, 0.3, "linear")), loop=True)
    return {
        "regular": mw.Biphasic(freq_hz=130, amp_ua=200, phase_us=300, pattern="3+ 2- 4~", envelope=env),
        "burst": mw.Monophasic(freq_hz=200, amp_ua=150, phase_us=400, burst=mw.Burst(0.05, 0.03),
                               polarity="alternate"),
        "sweep": mw.Biphasic(amp_ua=100, phase_us=80, rise_us=20, fall_us=20, sweep=mw.Sweep(300, 40, 1.5, "log"),
                             duration_s=2.2),
        "custom": mw.CustomTrain(onsets_s=(0.0, 0.011, 0.03), amps_ua=(100, -50, 80), phase_us=400, loop_s=0.05,
                                 envelope=env),
    }


# ---- what the specs give ---------------------------------------------------------------
def test_each_timing_kind_is_its_own_schedule_class():
    """The timing kinds are peers: one schedule class each, the spec's fields decide which."""
    kinds = {name: type(spec.plan(RATE).schedule) for name, spec in _specs().items()}
    assert kinds == {"regular": RegularSchedule, "burst": BurstSchedule, "sweep": SweepSchedule,
                     "custom": CustomSchedule}
    assert set(kinds.values()) == set(plans.SCHEDULES)


def test_a_custom_train_keeps_its_fields_and_can_be_replaced():
    """A CustomTrain no longer stores a made-up period_us, so dataclasses.replace
    (shaped(), patterned() and the TOML loader's copies) builds it again."""
    spec = _specs()["custom"]
    assert spec.period_us is None and spec.freq_hz is None
    shaped = spec.shaped(Envelope.soft(1.0, 0.2, 0.2))
    assert shaped.onsets_s == spec.onsets_s and shaped.plan(RATE).schedule == spec.plan(RATE).schedule
    # its spacing is still checked: pulses wider than the gap between two onsets are refused
    with pytest.raises(ValueError, match="onsets_s has pulses"):
        mw.CustomTrain(onsets_s=(0.0, 0.0005), amps_ua=(100, 100), phase_us=400)


def test_plans_are_frozen_and_hashable():
    for name, spec in _specs().items():
        plan = spec.plan(RATE)
        hash(plan)
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.rate = 1   # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.template.taus_samples = ()   # type: ignore[misc]
        assert not hasattr(plan, "__dict__"), name   # slotted: no field can be added either


@FAST
@given(train_specs())
def test_equal_specs_give_equal_plans_and_the_same_samples(spec_rate):
    """A spec built twice from the same fields gives an equal plan with an equal
    hash (what the session engine compiles once); the plan survives a pickle
    round trip and every copy renders the same bits as the spec."""
    spec, rate = spec_rate
    twin = dataclasses.replace(spec)
    assert twin is not spec
    plan, twin_plan = spec.plan(rate), twin.plan(rate)
    assert plan == twin_plan and hash(plan) == hash(twin_plan)
    copy = pickle.loads(pickle.dumps(plan))
    assert copy == plan
    n = 3 * rate // 2
    want = spec.render(n / rate, rate)
    for p in (twin_plan, copy):
        np.testing.assert_array_equal(Generator(p).render(n), want)


def test_different_specs_give_different_plans():
    specs = list(_specs().values()) + [mw.Biphasic(freq_hz=130, amp_ua=201, phase_us=300),
                                       mw.Biphasic(freq_hz=130, amp_ua=200, phase_us=300)]
    assert len({s.plan(RATE) for s in specs}) == len(specs)


def test_a_session_compiles_equal_plans_once(monkeypatch):
    """Steps whose specs are equal (built separately) share one compiled
    program: the engine's memory grows with the distinct plans."""
    from microwave import sessions
    a = mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500)
    b = mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500)     # equal, not the same object
    c = mw.Biphasic(freq_hz=31, amp_ua=200, phase_us=500)
    session = Session("s", (Step("forehead", a, 2.0), Step("cheeks", b, 2.0), Step("jaw", c, 2.0)))
    built = []

    def spy(programs, step_samples, step_programs, *args, **kw):
        built.append((len(programs), [list(r) for r in step_programs]))
        return SessionEngine(programs, step_samples, step_programs, *args, **kw)

    monkeypatch.setattr(sessions, "SessionEngine", spy)
    session._engine(RATE, Stage())
    assert built == [(2, [[0] * session.channels, [0] * session.channels, [1] * session.channels])]


def test_a_step_gate_is_a_new_plan():
    """sessions.step_plans gives each step's plans its gate by replacing the
    field: the spec's own plan is unchanged."""
    spec = mw.Biphasic(freq_hz=30, amp_ua=200, phase_us=500)
    session = Session("s", (Step("forehead", spec, 3.0),))
    (_, _, (plan,)), = session.step_plans(RATE, 1)
    assert isinstance(plan.gate, EnvelopePlan) and plan.gate.total_samples > 0
    assert spec.plan(RATE).gate is None
    assert dataclasses.replace(plan, gate=None) == spec.plan(RATE)


def test_a_burst_cycle_of_no_sample_is_refused_not_played():
    """Bursts whose cycle rounds to no sample would all start at once: the
    kernel would never advance (a render that never returned).  The spec
    refuses it naming on_s and off_s; the plan refuses it too."""
    spec = mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=100, burst=mw.Burst(5e-324, 0.0))
    with pytest.raises(ValueError, match=r"burst on_s \+ off_s = .* s is no time at rate=48000"):
        spec.render(0.1, RATE)
    with pytest.raises(ValueError, match=r"BurstSchedule.burst_cycle=.*> 0 samples"):
        BurstSchedule(Rational(480, 0, 1), Rational(0, 0, 1), Rational(0, 0, 1), Rational(0, 0, 1))


def test_a_burst_of_no_time_plays_one_pulse_a_burst():
    """A burst's on_s of (almost) no time is one pulse a burst, as before
    (the kernel's reading: it starts a cycle after the delay)."""
    spec = mw.Monophasic(freq_hz=100, amp_ua=100, phase_us=1000, burst=mw.Burst(5e-324, 0.05))
    plan = spec.plan(RATE)
    assert plan.schedule.burst_on == Rational(0, 0, 1) and plan.schedule.pulses_per_burst == 1
    x = spec.render(0.3, RATE)
    starts = np.flatnonzero(np.diff((x != 0).astype(np.int8)) == 1) + 1
    np.testing.assert_array_equal(starts, [2400, 4800, 7200, 9600, 12000])


# ---- malformed plans are refused before C -----------------------------------------------
def _plan() -> ProgramPlan:
    return mw.Biphasic(freq_hz=100, amp_ua=100, phase_us=200).plan(RATE)


def test_the_generator_takes_only_a_program_plan():
    plan = _plan()
    legacy = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    with pytest.raises(TypeError, match=r"plan=.*must be a microwave.plans.ProgramPlan.*not dict"):
        Generator(legacy)
    with pytest.raises(TypeError, match="ProgramPlan"):
        Generator(None)


def test_the_engine_takes_only_a_stage_plan():
    stage_plan = Stage().plan(1, RATE)
    legacy = {f.name: getattr(stage_plan, f.name) for f in dataclasses.fields(stage_plan)}
    with pytest.raises(TypeError, match=r"stage=.*must be a microwave.plans.StagePlan.*not dict"):
        SessionEngine([Generator(_plan())], [RATE], [[0]], legacy, RATE, float(RATE))


@pytest.mark.parametrize("make, field, limit", [
    (lambda n: TemplatePlan(tuple(float(i) for i in range(n - 1)) + (float(n),), (0.0,) * n),
     "taus_samples", f"MAX_BREAKPOINTS={MAX_BREAKPOINTS}"),
    (lambda n: PatternPlan(False, (1,) * n, (1,) * n), "kinds", f"MAX_STATES={MAX_STATES}"),
    (lambda n: EnvelopePlan((1,) * n, (1,) * n, (0.0,) * n, (1.0,) * n, False, 1.0),
     "lengths_samples", f"MAX_SEGMENTS={MAX_SEGMENTS}"),
    (lambda n: StagePlan(MAX_CHANNELS, tuple((c % MAX_CHANNELS, -1) for c in range(n)), (1.0,) * n, 1.0, "dc",
                         None, None, None, 500.0, (1.0,) * n, 0.1), "routes", f"MAX_CHANNELS={MAX_CHANNELS}"),
])
def test_more_than_the_compiled_state_holds_is_refused(make, field, limit):
    """One more breakpoint, state, segment or channel than the C arrays hold is a
    ValueError naming the field and the limit; exactly the limit is accepted."""
    n = {"taus_samples": MAX_BREAKPOINTS, "kinds": MAX_STATES, "lengths_samples": MAX_SEGMENTS,
         "routes": MAX_CHANNELS}[field]
    make(n)
    with pytest.raises(ValueError, match=rf"\.{field} has {n + 1} .*{limit}"):
        make(n + 1)


def test_the_generator_checks_the_schedule_itself():
    """A plan forced past its own checks (tests/forced.py) with a schedule of no
    timing kind is refused by the generator before it reads it (the limits:
    tests/test_kernels_c.py)."""
    with pytest.raises(TypeError, match="plan.schedule='regular' must be one of"):
        Generator(forced(_plan(), schedule="regular"))


@pytest.mark.parametrize("make, error, match", [
    (lambda: Rational(1, 3, 3), ValueError, r"Rational.rem=3 is not allowed: 0 to 2"),
    (lambda: Rational(1, 0, 0), ValueError, r"Rational.den=0"),
    (lambda: Rational(-1, 0, 1), ValueError, r"Rational.whole=-1"),
    (lambda: Rational(1.0, 0, 1), TypeError, r"Rational.whole=1.0 must be an int"),
    (lambda: SampleTime(3, 1.0), ValueError, r"SampleTime.frac=1.0"),
    (lambda: TemplatePlan([0.0, 1.0], [0.0, 0.0]), TypeError,
     r"TemplatePlan.taus_samples=\[0.0, 1.0\] must be a tuple"),
    (lambda: TemplatePlan((0.0, 1.0), (0.0,)), ValueError, r"taus_samples 2, values_ua 1"),
    (lambda: TemplatePlan((0.0, 2.0, 1.0), (0.0, 1.0, 0.0)), ValueError, r"taus_samples\[2\]=1.0 is before"),
    (lambda: TemplatePlan((0.0, float("nan")), (0.0, 0.0)), ValueError, r"taus_samples\[1\]=nan"),
    (lambda: TemplatePlan((0.0, 1.0), (1.0, 0.0)), ValueError, r"values_ua=.* starts and ends at 0"),
    (lambda: RegularSchedule(Rational(0, 0, 1), Rational(0, 0, 1)), ValueError, r"RegularSchedule.period=.*> 0"),
    (lambda: RegularSchedule((1600, 0, 1), Rational(0, 0, 1)), TypeError, r"RegularSchedule.period=.*a Rational"),
    (lambda: BurstSchedule(Rational(10, 0, 1), Rational(0, 0, 3), Rational(50, 0, 1), Rational(90, 0, 1)),
     ValueError, r"burst_cycle=.*delay=.*share a denominator"),
    (lambda: SweepSchedule(0.0, 10.0, 1.0, False, 0.0, 5.0), ValueError, r"SweepSchedule.start_hz=0.0"),
    (lambda: SweepSchedule(10.0, 10.0, 1.0, 1, 0.0, 5.0), TypeError, r"SweepSchedule.log=1 must be a bool"),
    (lambda: CustomSchedule((), (), 0.0, 0.0), ValueError, r"onsets_samples=\(\) is not allowed"),
    (lambda: CustomSchedule((5.0, 5.0), (1.0, 1.0), 0.0, 0.0), ValueError, r"onsets_samples\[1\]=5.0 is not after"),
    (lambda: CustomSchedule((5.0, 9.0), (1.0, 1.0), 9.0, 0.0), ValueError, r"loop_samples=9.0"),
    (lambda: PatternPlan(False, (3,), (1,)), ValueError, r"PatternPlan.kinds\[0\]=3 is not allowed"),
    (lambda: PatternPlan(False, (1,), (0,)), ValueError, r"PatternPlan.lengths\[0\]=0"),
    (lambda: EnvelopePlan((10,), (9,), (0.0,), (1.0,), False, 1.0), ValueError, r"EnvelopePlan.shapes\[0\]=9"),
    (lambda: EnvelopePlan((0,), (1,), (0.0,), (1.0,), False, 1.0), ValueError, r"lengths_samples\[0\]=0"),
    (lambda: dataclasses.replace(_plan(), sign=0.5), ValueError, r"ProgramPlan.sign=0.5"),
    (lambda: dataclasses.replace(_plan(), unit_pulses=3), ValueError, r"ProgramPlan.unit_pulses=3"),
    (lambda: dataclasses.replace(_plan(), pattern=(False, (1,), (1,))), TypeError,
     r"ProgramPlan.pattern=.*PatternPlan"),
    (lambda: dataclasses.replace(_plan(), envelope={"lengths": [1]}), TypeError, r"ProgramPlan.envelope="),
    (lambda: dataclasses.replace(Stage().plan(1, RATE), routes=((2, -1),)), ValueError, r"routes\[0\]\[0\]=2"),
    (lambda: dataclasses.replace(Stage().plan(1, RATE), coupling="ac", corner_hz=None), TypeError,
     r"StagePlan.corner_hz=None"),
    (lambda: dataclasses.replace(Stage().plan(1, RATE), measure=1), TypeError, r"StagePlan.measure=1 must be a bool"),
    (lambda: dataclasses.replace(Stage(coupling="ac").plan(1, RATE), corner_lo_hz=5.5), ValueError,
     r"StagePlan.corner_lo_hz=5.5, corner_hz=5.0, corner_hi_hz=6.5 are not allowed: corner_lo_hz <= corner_hz"),
    (lambda: dataclasses.replace(Stage(coupling="ac").plan(1, RATE), corner_hi_hz=None), TypeError,
     r"StagePlan.corner_hi_hz=None"),
    (lambda: dataclasses.replace(Stage().plan(1, RATE), pair_corner_hz=5.0), ValueError,
     r"StagePlan.pair_corner_hz=5.0 is not allowed: an AC coupling's"),
    (lambda: dataclasses.replace(Stage(coupling="ac").plan(1, RATE), pair_corner_hz=7.0), ValueError,
     r"StagePlan.pair_corner_hz=7.0 is not allowed: an AC coupling's, corner_hz=5.0 <= pair_corner_hz <= "
     r"corner_hi_hz=6.5"),
    (lambda: dataclasses.replace(Stage(coupling="ac").plan(1, RATE), pair_corner_hz=4.0), ValueError,
     r"StagePlan.pair_corner_hz=4.0 is not allowed"),
    (lambda: dataclasses.replace(Stage(coupling="ac").plan(1, RATE), pair_corner_hz="6"), TypeError,
     r"StagePlan.pair_corner_hz='6'"),
    # what tests/test_fuzz_api.py found: beyond any float, an array for a str, a conflict naming one field only
    (lambda: SampleTime(3, 10**400), ValueError, r"SampleTime.frac=<an int of 1329 bits>"),
    (lambda: TemplatePlan((0.0, 10**400), (0.0, 0.0)), ValueError,
     r"TemplatePlan.taus_samples\[1\]=<an int of 1329 bits>"),
    (lambda: SweepSchedule(10.0, 10.0, 1.0, False, 0.0, -(10**400)), ValueError,
     r"phase_at_end_cycles=<a negative int of 1329 bits>"),
    (lambda: dataclasses.replace(Stage().plan(1, RATE), coupling=np.array([1.0, 2.0])), TypeError,
     r"StagePlan.coupling=array\(\[1., 2.\]\) must be 'dc' or 'ac'"),
    (lambda: Rational(3, 1, 1), ValueError, r"Rational.rem=1 is not allowed: 0 to 0 \(below den=1\)"),
    (lambda: dataclasses.replace(Stage().plan(1, RATE), out_channels=1, routes=((1, -1),)), ValueError,
     r"routes\[0\]\[0\]=1 is not allowed: 0 to 0 \(the DAC's channels: out_channels=1\)"),
    (lambda: CustomSchedule((5.0, 9.0), (1.0, 1.0), 9.0, 0.0), ValueError, r"onsets_samples\[-1\]=9.0"),
    (lambda: SweepSchedule(10.0, 20.0, 1.0, False, 0.0, 5.0).longest_gap_samples(float("nan")), ValueError,
     r"rate=nan"),
    (lambda: SweepSchedule(10.0, 20.0, 1.0, False, 0.0, 5.0).longest_gap_samples("48000"), TypeError, r"rate='48000'"),
    (lambda: RegularSchedule(Rational(10, 0, 1), Rational(0, 0, 1)).longest_gap_samples(None), TypeError,
     r"rate=None"),
])
def test_a_malformed_plan_names_its_field(make, error, match):
    with pytest.raises(error, match=match):
        make()


@given(st.sampled_from(sorted(_specs())), st.sampled_from([16_000, 44_100, 48_000, 96_000]))
@settings(deadline=None, max_examples=20, database=None)
def test_every_spec_plan_passes_its_own_checks_at_any_rate(name, rate):
    """What the specs give is always a well-formed plan (its checks hold at
    every rate a spec accepts), and the generator renders it."""
    spec = _specs()[name]
    plan = spec.plan(rate)
    assert plan == dataclasses.replace(plan)    # rebuilt through __post_init__: accepted
    assert np.isfinite(Generator(plan).render(rate // 10)).all()
