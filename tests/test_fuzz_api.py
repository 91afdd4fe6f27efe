"""Fuzz of the whole public API: one hostile value at a time.

CASES lists every public callable with a keyword set that is valid for
it.  Each example draws one case, one of its parameters and a hostile value
(NaN, infinities, huge ints and Fractions, bools, None, strings, bytes,
containers, numpy scalars and arrays, complex, Decimal, or a random
number), calls the case with that one parameter replaced, and asserts the
contract of microwave._checks:

* it raises ValueError or TypeError -- nothing else (no OverflowError,
  AttributeError, ZeroDivisionError, IndexError, KeyError, no numpy
  overflow RuntimeWarning, ...) -- and the
  message names the parameter; a plain number (int, float, Fraction) is a
  ValueError where a number is expected, never a TypeError -- except in
  the few fields a case declares ``int_only`` (the typed plans' ints, where
  a float or Fraction is a TypeError by design; an int still never is);
* or it succeeds, the value being allowed: then what it made still works
  -- a spec renders finite current within its declared peak, a session
  renders finite current within its peak, a stage's limit stays within
  its max_ua.

test_every_public_callable_is_fuzzed keeps CASES complete: every callable
named in a public module's __all__, every public method of those classes
that takes a parameter, and every parameter of each, or the short list of
exclusions below says why not.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from collections.abc import Callable
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import microwave
from public_api import params as _params, public_callables, unwrap as _fn
from microwave import audio, calibrate, cli, envelopes, files, history, modes, patterns, plans, plot, pulses, sessions
from microwave import stage
from microwave import backends, report as report_module
from microwave.backends import array, file, portaudio
from microwave import Biphasic, Burst, CustomTrain, Envelope, Hold, Monophasic, PolarityPattern, Ramp, Sweep
from microwave.audio import Player, Sense
from microwave.sessions import Session, Step
from microwave.stage import Calibration, Stage

RATE = 8_000          # low, so that every render is cheap
SHORT_S = 0.05        # how much of a spec or session is rendered to check it
NAN, INF = float("nan"), float("inf")

HOSTILE_VALUES = [
    NAN, INF, -INF, -0.0, 0, -1, 1, 2, 1e308, 10**400, Fraction(10**400, 3), -(10**400),
    True, False, None, "3", b"x", [], [1, 2], [1.0, 10**400], {}, object(),
    np.float32(NAN), np.float64(INF), np.int64(-1), np.bool_(True), np.array([1.0, 2.0]), np.array(3.0),
    complex(1, 1), Decimal("NaN"),
]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.floats(allow_nan=True, allow_infinity=True),   # any float, subnormals too
    st.floats(-1e3, 1e3),                             # ordinary numbers: conflicts between parameters
    st.integers(-10, 100_000),
    st.integers(-2, 10),                              # small counts: conflicts with another field (den=1, rem=1)
    st.fractions(min_value=-10, max_value=10, max_denominator=1000),
    st.lists(st.sampled_from(HOSTILE_VALUES), max_size=3),      # containers of hostile values
    st.lists(st.sampled_from(HOSTILE_VALUES), max_size=3).map(tuple),
)

# ---- valid building blocks -----------------------------------------------------------------
BI = dict(freq_hz=50, amp_ua=200, phase_us=500, interphase_us=50, rise_us=20, fall_us=30, delay_s=0.0,
          duration_s=1.0, phase2_us=700, polarity=1, triphasic=False, period_us=None, burst=None, sweep=None,
          envelope=None, pattern=None)
MONO = dict(freq_hz=50, amp_ua=200, phase_us=500, rise_us=20, fall_us=30, delay_s=0.01, duration_s=1.0,
            polarity="alternate", period_us=None, burst=None, sweep=None, envelope=None, pattern=None)
CUSTOM = dict(onsets_s=(0.0, 0.02), amps_ua=(100.0, -50.0), loop_s=0.05, phase_us=300, interphase_us=40,
              biphasic=True, delay_s=0.001, duration_s=1.0, rise_us=10, fall_us=10, polarity=1, amp_ua=1.0,
              freq_hz=None, period_us=None, burst=None, sweep=None, envelope=None, pattern=None)
ENV = Envelope((Ramp(0.01, 1.0), Ramp(0.02, 0.5, "cosine")))
CAL_PLAN = calibrate.Plan.build(rate=8000, out_channels=1, dac_channels=(0,), lowest_corner_hz=2.0)
RAT = plans.Rational(80, 0, 1)   # a period of 80 samples (100 Hz at RATE)
PROGRAM = Biphasic(freq_hz=100, amp_ua=100, phase_us=500).plan(RATE)


def bi():
    return Biphasic(freq_hz=100, amp_ua=100, phase_us=500)


def session(channels=1, seconds=0.3):
    return Session("t", (Step("z", Biphasic(freq_hz=100, amp_ua=100, phase_us=500), seconds),), channels=channels,
                   soft_start_s=0.05, soft_stop_s=0.05)


class DeviceReached(Exception):
    """Raised in place of opening a sound card: every parameter was accepted."""


_TMP = tempfile.TemporaryDirectory(prefix="mw-fuzz-")
TMP = Path(_TMP.name)


def hist():
    """The fuzz's history database (with one record, number REC)."""
    return history.History(TMP / "history.sqlite3")


def no_entries(buf):
    """A record feed with nothing in it."""
    return 0


REC = hist().begin(session(), rate=RATE)
RECORDER = history.Recorder(hist(), REC, no_entries, RATE, 1)
RECORDER.close("completed")


@dataclass
class Case:
    """A public callable (``target``, as looked up on its module or class),
    a keyword set valid for it, and how to call it (default: target(**kw))."""
    target: object
    valid: dict
    call: Callable | None = None
    id: str = field(default="")
    #: {param: most}: a valid number above ``most`` would only be slow (a long render), not hostile
    cap: dict = field(default_factory=dict)
    #: parameters that take an int and nothing else, by design: a float or a Fraction there
    #: (even a whole one) is of the wrong type, a TypeError (the typed plans: tests/test_plans.py);
    #: an int is never of the wrong type.  Every other number parameter takes any plain number.
    int_only: frozenset = frozenset()

    def __post_init__(self):
        self.id = self.id or getattr(self.target, "__qualname__", repr(self.target))
        self.call = self.call or self.target


def method(cls_or_obj, name, valid, make=None, **kw):
    """A case for the method ``name``, called on ``make()`` (default: a fresh valid object)."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    make = make or (lambda: cls_or_obj)
    return Case(inspect.getattr_static(cls, name), valid, lambda **k: getattr(make(), name)(**k),
                id=f"{cls.__name__}.{name}", **kw)


CASES = [
    # pulses
    Case(Biphasic, BI),
    Case(Biphasic, dict(BI, freq_hz=None, period_us=20_000, triphasic=True, phase2_us=1500, polarity=-1),
         id="Biphasic-triphasic-period"),
    Case(Biphasic, dict(BI, freq_hz=None, phase2_us=None, interphase_us=0, sweep=Sweep(20, 500, 0.1)),
         id="Biphasic-sweep"),
    Case(Monophasic, MONO),
    Case(Monophasic, dict(MONO, freq_hz=100, polarity=1, pattern="3s+ 1s-", burst=Burst(0.035, 0.02), envelope=ENV),
         id="Monophasic-pattern-burst-envelope"),
    Case(CustomTrain, CUSTOM),
    Case(Burst, dict(on_s=0.035, off_s=0.02)),
    Case(Sweep, dict(start_hz=20, stop_hz=500, seconds=0.1, scale="log")),
    method(Biphasic, "render", dict(seconds=SHORT_S, rate=RATE), bi, cap={"seconds": 10.0}),
    method(Biphasic, "generator", dict(rate=RATE), bi),
    method(Biphasic, "plan", dict(rate=RATE), bi),
    method(Biphasic, "shaped", dict(envelope=ENV), bi),
    method(Monophasic, "net_charge_uc", dict(seconds=SHORT_S), lambda: Monophasic(**MONO), cap={"seconds": 10.0}),
    method(Monophasic, "patterned", dict(pattern="10+ 10-"), lambda: Monophasic(freq_hz=100, amp_ua=100, phase_us=500)),
    # envelopes
    Case(Ramp, dict(seconds=0.01, to_level=0.7, shape="cosine")),
    Case(Envelope, dict(ramps=(Ramp(0.01, 1.0), Ramp(0.02, 0.5, "cosine")), start_level=0.1, loop=False)),
    Case(Envelope.attack_hold_release, dict(attack_s=0.01, hold_s=0.02, release_s=0.01, shape="cosine"),
         id="Envelope.attack_hold_release"),
    Case(Envelope.soft, dict(total_s=0.05, start_s=0.01, stop_s=0.01, shape="cosine"), id="Envelope.soft"),
    Case(Envelope.wave_slope, dict(slope_s=0.01, every_s=0.03, shape="linear"), id="Envelope.wave_slope"),
    method(Envelope, "plan", dict(rate=RATE), lambda: ENV),
    method(Envelope, "edges", dict(rate=RATE), lambda: ENV),
    # patterns
    Case(Hold, dict(polarity="+", pulses=3, seconds=None), id="Hold-pulses"),
    Case(Hold, dict(polarity="~", pulses=None, seconds=0.03), id="Hold-seconds"),
    Case(PolarityPattern, dict(holds=(Hold("+", pulses=2), Hold("-", pulses=1)))),
    Case(PolarityPattern.parse, dict(text="10+ 10-"), id="PolarityPattern.parse"),
    Case(PolarityPattern.polarized, dict(polarity=-1), id="PolarityPattern.polarized"),
    method(PolarityPattern, "mean_polarity", dict(pulse_rate_hz=100), lambda: PolarityPattern.parse("3s+ 1s~")),
    method(PolarityPattern, "cycle_pulses", dict(pulse_rate_hz=100), lambda: PolarityPattern.parse("3s+ 1s~")),
    method(PolarityPattern, "plan", dict(rate=RATE), lambda: PolarityPattern.parse("3s+ 1s-")),
    # modes
    Case(modes.lift, dict(level=None, amp_ua=None)),
    Case(modes.tighten, dict(level=2, amp_ua=None)),
    Case(modes.infuse, dict(level=None, amp_ua=None, serum="alkaline", minutes=5.0, max_dose_ua_min=600.0)),
    Case(modes.fsm, dict(freq_a_hz=230.0, freq_b_hz=430.0, amp_ua=150.0, polarity="positive", slope_s=1.0,
                         every_s=6.0)),
    Case(modes.amplitude, dict(mode="tighten", level=None, amp_ua=None)),
    Case(modes.check_dose, dict(spec=modes.infuse(), minutes=5.0, max_dose_ua_min=600.0)),
    # stage
    Case(Stage, dict(full_scale_v=1.0, ua_per_v=None, load_ohm=None, compliance_v=15.0, coupling="dc", corner_hz=5.0,
                     channel_map=(0, (1, 2)), out_channels=None, max_ua=500.0, headroom=1.0, corner_tolerance=0.3,
                     load_ohm_min=None, load_ohm_max=None, reconstruction="band-limited", calibration=None)),
    Case(Stage, dict(full_scale_v=2.0, ua_per_v=None, load_ohm=2000.0, compliance_v=15.0, coupling="ac", corner_hz=5.0,
                     channel_map=[1, 0], out_channels=4, max_ua=400.0, headroom=0.8, corner_tolerance=0.3,
                     load_ohm_min=500.0, load_ohm_max=10_000.0, reconstruction="held",
                     calibration=Calibration(corner_hz=5.0, corner_uncertainty=0.05, loop_gain=(0.9, 0.9, 1, 1))),
         id="Stage-voltage-ac"),
    Case(Calibration, dict(date="2026-12-01", output_device="card", input_device="card", rate=48_000, latency_ms=12.5,
                           loop_gain=(0.98, 0.97), corner_hz=4.8, corner_uncertainty=0.04, noise_floor_dbfs=-96.0,
                           crosstalk_db=-80.0, dc_offset=(0.001, -0.002), passed=True)),
    method(Stage, "max_ua_at", dict(load_ohm=2000.0), lambda: Stage(load_ohm=1000.0)),
    method(Stage, "dac_per_ua", dict(channel=1), lambda: Stage(channel_map=(0, (1, 2)))),
    method(Stage, "full_scale_ua", dict(channel=1), lambda: Stage(channel_map=(0, (1, 2)))),
    method(Stage, "check_peak", dict(peak_ua=100.0, what="the session"), Stage),
    method(Stage, "peak_ua", dict(session=session(), rate=RATE), Stage),
    method(Stage, "offset_ua", dict(channel=1), lambda: Stage(channel_map=(0, (1, 2)),
                                                             calibration=Calibration(dc_offset=(0.01, 0.0, -0.01)))),
    method(Stage, "plan", dict(n_program_channels=2, rate=RATE), Stage),
    method(Stage, "assess", dict(session=session(), rate=RATE), lambda: Stage(coupling="ac", corner_hz=4.0)),
    # sessions
    Case(Step, dict(zone="forehead", program=bi(), seconds=1.0, cue_every_s=None, label="")),
    Case(Step, dict(zone="cheeks", program=(bi(), bi()), seconds=1.0, cue_every_s=0.5, label="pair"), id="Step-pair"),
    method(Step, "programs", dict(channels=2), lambda: Step("z", bi(), 1.0)),
    Case(Session, dict(name="t", steps=(Step("z", bi(), 0.3),), channels=1, soft_start_s=0.05, soft_stop_s=0.05,
                       auto_off_s=1200.0, max_dose_ua_min=600.0)),
    method(Session, "render", dict(rate=RATE, stage=None, seconds=SHORT_S), session),
    method(Session, "render_ua", dict(rate=RATE, seconds=SHORT_S), session),
    method(Session, "engine", dict(rate=RATE, stage=Stage(), ramp_s=0.5, duration_s=0.1), session),
    method(Session, "check", dict(stage=Stage(), rate=RATE), session),
    method(Session, "report", dict(stage=None, rate=RATE, electrode_area_cm2=1.0), session),
    Case(report_module.report, dict(session=session(), stage=None, rate=RATE, electrode_area_cm2=1.0)),
    method(Session, "frames", dict(rate=RATE), session),
    method(Session, "step_edges", dict(rate=RATE), session),
    method(Session, "step_plans", dict(rate=RATE, channels=2), lambda: session(2)),
    method(Session, "channels_on", dict(stage=Stage()), session),
    Case(sessions.builtin, dict(name="tighten")),
    Case(stage.ua_stage, dict(channels=2)),
    # files and plots (written under TMP; every call runs with TMP as the working directory)
    Case(files.render_to_file, dict(session=session(), path=TMP / "s.wav", rate=RATE, stage=None, seconds=None,
                                    progress=None, block_frames=1024)),
    Case(array.render, dict(session=session(), rate=RATE, stage=None, seconds=None)),
    Case(array.render_ua, dict(session=session(), rate=RATE, seconds=None)),
    Case(files.write_current, dict(path=TMP / "c.flac", current_ua=np.linspace(-100, 100, 64), rate=RATE,
                                   full_scale_ua=None)),
    Case(plot.plot_session, dict(session=session(), path=TMP / "p.png", rate=RATE, start_s=None, span_s=None)),
    # audio: validation only -- opening the device raises DeviceReached (test_play_checks_before_a_device)
    Case(Sense, dict(channel=0, sense_ohm=1000.0, input_full_scale_v=1.0, min_ratio=0.1, min_drive_ua=5.0,
                     lost_after_s=0.2, window_s=0.5)),
    Case(Player, dict(session=session(), stage=None, device=None, rate=RATE, latency=0.02, blocksize=0, level=1.0,
                      ramp_s=0.5, duration_s=None, sense=Sense(), input_channels=1, realtime=False, history=False)),
    Case(audio.play, dict(session=session(), stage=Stage(), device=(None, 0))),
    # the history (a database under TMP)
    Case(history.History, dict(path=None)),
    method(history.History, "begin", dict(session=session(), rate=RATE, dac_time=None, channels=None), hist),
    method(history.History, "records", dict(last=None), hist),
    method(history.History, "record", dict(record_id=REC), hist),
    method(history.History, "timeline", dict(record_id=REC), hist),
    method(history.History, "overuse", dict(session=session(), recommendations=None), hist),
    method(history.History, "acknowledge", dict(version=1), hist),
    method(history.History, "acknowledged", dict(version=1), hist),
    Case(history.Recommendations, dict(max_sessions_per_day=1, max_charge_uc_per_zone_week=120_000.0)),
    Case(history.Recorder, dict(history=hist(), record_id=REC, drain=no_entries, rate=RATE, n_ch=1, poll_s=0.1),
         lambda **k: history.Recorder(**k).close("completed"), id="Recorder"),
    method(history.Recorder, "close", dict(end="completed", dac_time=None), lambda: RECORDER),
    # the TOML readers take a path (their files are fuzzed in tests/test_toml_fuzz.py)
    Case(sessions.load, dict(path=TMP / "session.toml")),
    Case(sessions.resolve, dict(name_or_path=str(TMP / "session.toml"))),
    Case(Stage.from_toml, dict(path=TMP / "stage.toml"), id="Stage.from_toml"),
    # calibration: the signal, its analysis, the stage it writes; the device calls up to opening one
    Case(calibrate.Plan.build, dict(rate=8000, out_channels=2, dac_channels=(0, 1), lowest_corner_hz=2.0),
         id="Plan.build"),
    Case(calibrate.analyse, dict(plan=CAL_PLAN, recording=np.zeros((len(CAL_PLAN.signal), 1), np.float32),
                                 input_channels=None, input_corner_hz=None, output_device="out", input_device="in",
                                 stage=None, reference_ua=None, timestamp_offset_s=0.0, date=None)),
    Case(calibrate.write_stage_toml, dict(stage=Stage(coupling="ac", corner_hz=4.0), path=TMP / "written.toml")),
    Case(calibrate.calibrate, dict(output_device="out", input_device="in", stage=None, rate=RATE, channels=None,
                                   input_channels=None, input_corner_hz=None, reference_ua=None,
                                   lowest_corner_hz=1.0)),
    Case(calibrate.play_reference_tone, dict(output_device="out", stage=None, seconds=30.0, rate=RATE)),
    # plans: what the specs compile to (each field checked when built, before C reads it)
    Case(plans.Rational, dict(whole=3, rem=1, den=7), int_only=frozenset({"whole", "rem", "den"})),
    Case(plans.SampleTime, dict(whole=8000, frac=0.25), int_only=frozenset({"whole"})),
    Case(plans.TemplatePlan, dict(taus_samples=(0.0, 1.0, 4.0, 5.0), values_ua=(0.0, 100.0, 100.0, 0.0))),
    Case(plans.RegularSchedule, dict(period=RAT, delay=plans.Rational(10, 0, 1), end=plans.SampleTime(8000, 0.0))),
    Case(plans.BurstSchedule, dict(period=RAT, delay=plans.Rational(10, 2, 5), burst_on=plans.Rational(280, 0, 1),
                                   burst_cycle=plans.Rational(440, 1, 5), end=None)),
    Case(plans.SweepSchedule, dict(start_hz=20.0, stop_hz=500.0, seconds=0.1, log=True, delay_s=0.0,
                                   phase_at_end_cycles=15.0, end=None)),
    Case(plans.CustomSchedule, dict(onsets_samples=(0.0, 160.0), amps_ua=(100.0, -50.0), loop_samples=400.0,
                                    delay_samples=8.0, end=None)),
    method(plans.RegularSchedule, "longest_gap_samples", dict(rate=RATE),
           lambda: plans.RegularSchedule(RAT, plans.Rational(0, 0, 1))),
    method(plans.BurstSchedule, "longest_gap_samples", dict(rate=RATE),
           lambda: plans.BurstSchedule(RAT, plans.Rational(0, 0, 1), plans.Rational(280, 0, 1),
                                       plans.Rational(440, 0, 1))),
    method(plans.SweepSchedule, "longest_gap_samples", dict(rate=RATE),
           lambda: plans.SweepSchedule(20.0, 500.0, 0.1, True, 0.0, 15.0)),
    method(plans.SweepSchedule, "held", dict(rate=RATE),
           lambda: plans.SweepSchedule(20.0, 500.0, 0.1, True, 0.0, 15.0)),
    Case(plans.HeldTail, dict(first_pulse=16, onset=plans.Rational(250, 3, 2**30), period=RAT),
         int_only=frozenset({"first_pulse"})),
    Case(plans.Rational.nearest, dict(x=Fraction(7, 3), max_den=plans.MAX_DEN), int_only=frozenset({"max_den"}),
         id="Rational.nearest"),
    method(plans.CustomSchedule, "longest_gap_samples", dict(rate=RATE),
           lambda: plans.CustomSchedule((0.0, 160.0), (100.0, -50.0), 400.0, 0.0)),
    Case(plans.PatternPlan, dict(by_time=False, kinds=(1, 2), lengths=(3, 1))),
    Case(plans.EnvelopePlan, dict(lengths_samples=(80, 160), shapes=(0, 1), from_levels=(0.0, 1.0),
                                  to_levels=(1.0, 0.5), loop=False, after_level=0.5)),
    Case(plans.ProgramPlan, dict(rate=RATE, template=PROGRAM.template, sign=1.0, schedule=PROGRAM.schedule,
                                 pattern=None, envelope=ENV.plan(RATE), unit_pulses=1, unit_period_samples=80.0,
                                 unit_len_samples=8.0, gate=None),
         int_only=frozenset({"rate", "unit_pulses"})),
    Case(plans.StagePlan, dict(out_channels=3, routes=((0, -1), (1, 2)), gains_dac_per_ua=(0.002, 0.001),
                               clamp_dac=0.5, coupling="ac", corner_hz=4.0, corner_lo_hz=2.8, corner_hi_hz=5.2,
                               limit_ua=400.0, rail_ua=(500.0, 1000.0), bleed_fraction=0.2, measure=False,
                               between_ua=30.0, pre_ring=0.14, corner_moves=True, pair_corner_hz=5.0),
         int_only=frozenset({"out_channels"})),
]
(TMP / "session.toml").write_text('[[step]]\nzone = "jaw"\nmode = "tighten"\nseconds = 0.3\n')
(TMP / "stage.toml").write_text('max_ua = 400\ncoupling = "ac"\ncorner_hz = 5.0\n')

#: public callables not fuzzed here, and why
EXCLUDED = {
    # what a calibration measured: results the library builds, not inputs a user gives
    calibrate.ChannelResult: "a result", calibrate.CalibrationResult: "a result", calibrate.Figure: "a result",
    calibrate.Plan: "built by Plan.build (fuzzed); the class itself only holds what build made",
    inspect.getattr_static(calibrate.CalibrationResult, "write_stage"): "a result's (write_stage_toml is fuzzed)",
    # they need a sound card (Player and play are fuzzed above up to opening the device)
    audio.list_devices: "queries PortAudio's devices",
    cli.main: "the command line: tests/test_cli.py",
    cli.build_parser: "the command line: tests/test_cli.py",
    # exceptions the library raises, not take parameters from a user
    audio.DeviceLost: "an exception", audio.SupervisorStop: "an exception",
    portaudio.RealtimeWarning: "a warning", history.HistoryVersionError: "an exception",
    # what the history read: results the library builds
    history.Record: "a result", history.StepRecord: "a result", history.ChannelDose: "a result",
    history.Second: "a result",
    # live control of a playing Player: needs an open stream
    inspect.getattr_static(Player, "level"): "needs an open stream",
    inspect.getattr_static(Player, "stop"): "needs an open stream",
    inspect.getattr_static(Player, "wait"): "needs an open stream",
}
PUBLIC_MODULES = [microwave, pulses, envelopes, patterns, modes, stage, sessions, report_module, backends, array, file,
                  portaudio, files, plot, audio, cli, calibrate, history, plans]


# ---- the property -----------------------------------------------------------------------------
def _is_plain_number(value) -> bool:
    return isinstance(value, (int, float, Fraction)) and not isinstance(value, bool)


def _accepts_numbers(case: Case, param: str) -> bool:
    """Whether ``param`` is a number parameter (so a plain number is never of the wrong type)."""
    v = case.valid[param]
    return _is_plain_number(v) or (v is None and param not in NON_NUMBER_NONE)


#: parameters that name a file to read: an error about its contents starts with the file's name
FILE_PARAMS = {"path", "name_or_path"}

#: parameters whose valid value is None but that take something other than a number
NON_NUMBER_NONE = {"burst", "sweep", "envelope", "pattern", "stage", "sense", "progress", "device", "calibration",
                   "date", "output_device", "input_device", "loop_gain", "dc_offset", "passed",
                   "channels", "input_channels", "path", "recommendations", "end", "gate"}


def _check_result(result):
    """What an accepted call made still works: current finite and within its peak."""
    if isinstance(result, pulses._Train):
        x = result.render(SHORT_S, rate=RATE)
        assert x.dtype == np.float32 and np.all(np.isfinite(x))
        assert np.max(np.abs(x), initial=0.0) <= result.peak_ua * (1 + 1e-6)
    elif isinstance(result, tuple) and result and all(isinstance(r, pulses._Train) for r in result):
        for r in result:
            _check_result(r)
    elif isinstance(result, Envelope):
        _check_result(Biphasic(freq_hz=100, amp_ua=100, phase_us=500, envelope=result))
    elif isinstance(result, Ramp):
        _check_result(Envelope((result,)))
    elif isinstance(result, PolarityPattern):
        _check_result(Monophasic(freq_hz=100, amp_ua=100, phase_us=500, pattern=result))
    elif isinstance(result, Hold):
        _check_result(PolarityPattern((result,)))
    elif isinstance(result, Burst):
        _check_result(Monophasic(freq_hz=100, amp_ua=100, phase_us=500, burst=result))
    elif isinstance(result, Sweep):
        _check_result(Biphasic(amp_ua=100, phase_us=200, sweep=result))
    elif isinstance(result, Step):
        n = len(result.program) if isinstance(result.program, tuple) else 1
        _check_result(Session("t", (result,), channels=n))
    elif isinstance(result, Session):
        x = result.render_ua(RATE, seconds=min(SHORT_S, result.seconds))
        assert np.all(np.isfinite(x))
        assert np.max(np.abs(x), initial=0.0) <= result.peak_ua * (1 + 1e-6)
    elif isinstance(result, Stage):
        assert 0 < result.limit_ua <= result.max_ua
    elif isinstance(result, float):
        assert not math.isnan(result)
    elif isinstance(result, np.ndarray):
        assert np.all(np.isfinite(result))


def _call(case: Case, kw: dict):
    # numpy's overflow and invalid-value warnings are errors: a silent inf is a bug
    with contextlib.chdir(TMP), mock.patch.object(portaudio, "_sd", side_effect=DeviceReached), \
            mock.patch.object(calibrate, "_open_sd", side_effect=DeviceReached), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return case.call(**kw)
        except DeviceReached:
            return None


def _too_slow(case: Case, param: str, value) -> bool:
    """A valid but long value for a capped parameter (hostile ones lie beyond 1e7)."""
    most = case.cap.get(param)
    try:
        return most is not None and most < float(value) <= 1e7
    except (TypeError, ValueError, OverflowError):
        return False


def _assert_contract(case: Case, param: str, value):
    kw = dict(case.valid)
    kw[param] = value
    where = f"{case.id}({param}={value!r})"
    try:
        result = _call(case, kw)
    except (ValueError, TypeError) as e:
        msg = str(e)
        # an error about a file's contents names the file itself (FILE: or FILE:LINE:)
        named = param in msg or (param in FILE_PARAMS and msg.startswith(f"{value}:"))
        assert named, f"{where}: {type(e).__name__} does not name {param}: {msg!r}"
        if isinstance(e, TypeError) and _accepts_numbers(case, param):
            if param in case.int_only:   # a float or Fraction is of the wrong type there, an int never
                assert not (_is_plain_number(value) and isinstance(value, int)), \
                    f"{where}: an int is not of the wrong type for an int field: {msg!r}"
            else:
                assert not _is_plain_number(value), f"{where}: a number is not of the wrong type: {msg!r}"
        return
    except Exception as e:  # noqa: BLE001 -- the point: nothing else may escape
        pytest.fail(f"{where} raised {type(e).__name__}: {e}")
    try:
        _check_result(result)
    except ValueError as e:   # accepted, then refused at RATE (a phase shorter than a sample, ...)
        assert param in str(e) or f"rate={RATE}" in str(e), f"{where}: rendering: {e}"


FUZZ = settings(deadline=None, max_examples=600, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FUZZ
@given(data=st.data())
def test_one_hostile_parameter_is_refused_by_name_or_works(data):
    case = data.draw(st.sampled_from(CASES), label="case")
    param = data.draw(st.sampled_from(sorted(case.valid)), label="param")
    value = data.draw(HOSTILE, label="value")
    valid = case.valid[param]
    if isinstance(valid, (tuple, list)) and valid and data.draw(st.booleans(), label="inside"):
        # one element of a list parameter replaced: the message names the list
        i = data.draw(st.integers(0, len(valid) - 1), label="index")
        value = type(valid)(value if k == i else v for k, v in enumerate(valid))
    assume(not _too_slow(case, param, value))
    _assert_contract(case, param, value)


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(HOSTILE_VALUES)])
def test_every_hostile_value_on_every_parameter(value):
    """The listed hostile values on every parameter of every case: the
    exhaustive floor under the random search."""
    for case in CASES:
        for param in case.valid:
            if not _too_slow(case, param, value):
                _assert_contract(case, param, value)


def test_the_valid_sets_are_valid():
    """Each case's keyword set is accepted, else the fuzz would test nothing."""
    for case in CASES:
        result = _call(case, dict(case.valid))
        _check_result(result)


def _public_callables():
    """(where, object) for every callable in a public module's __all__ and
    every public method (or property) of those classes, inherited ones too
    (tests/public_api.py), less the exclusions."""
    return public_callables(PUBLIC_MODULES, EXCLUDED)


def test_every_public_callable_is_fuzzed():
    """A public function, class or method with parameters that has no case
    (nor an exclusion saying why) fails here; so does a parameter that no
    case varies.  Properties are skipped unless settable."""
    targets = {id(_fn(c.target)) for c in CASES}
    missing = []
    for where, obj in _public_callables():
        if isinstance(obj, property):
            if obj.fset is not None:
                missing.append(where + " (settable property)")
        elif id(_fn(obj)) not in targets:
            missing.append(where)
    assert not missing, f"public callables without a fuzz case: {missing}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_parameter_is_fuzzed(case):
    """Each case gives every parameter of its target, so every one is drawn."""
    fn = _fn(case.target)
    assert sorted(_params(fn)) == sorted(case.valid), f"{case.id}: parameters {_params(fn)} vs {sorted(case.valid)}"
    for param in case.int_only:   # an int-only field is an int parameter of the case
        assert type(case.valid.get(param)) is int, f"{case.id}: int_only {param!r} is not a valid int parameter"


def test_play_checks_before_a_device():
    """Player and play check their parameters before they open a device:
    a bad value is refused with DeviceReached never raised, a good set reaches it."""
    with mock.patch.object(portaudio, "_sd", side_effect=DeviceReached):
        with pytest.raises(DeviceReached):
            Player(session(), rate=RATE)
        with pytest.raises(TypeError, match="session="):
            audio.play("lift")
        with pytest.raises(ValueError, match="blocksize="):
            Player(session(), rate=RATE, blocksize=-1)
