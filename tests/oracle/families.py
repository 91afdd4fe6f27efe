"""The waveforms the benchmarks measure: one or more per core family, each
with the numpy reference that builds the same samples and, where the
waveform coincides with one, the scipy.signal function that builds it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import microwave as mw
from microwave import modes
from microwave.envelopes import Envelope, Ramp
from microwave.sessions import Session, Step, builtin
from microwave.stage import Stage

import numpy_ref

RATE = 48_000


@dataclass(frozen=True)
class Family:
    key: str
    family: str            # the core family
    label: str             # what the waveform is
    make: object           # () -> spec
    ref: str               # "mask" (exact, whole-sample edges) or "box" (box-filtered, to 1e-5 of the peak)
    rectangular: bool      # rectangular pulses (whole-sample or fractional edges)
    scipy: str | None = None
    pulse_path: bool = False   # rendered pulse by pulse (sweeps, custom trains): the ns-per-pulse target applies

    def spec(self):
        return self.make()

    def numpy_block(self, rate: int = RATE):
        """A function (start, n) -> float32 samples: the numpy baseline."""
        spec = self.make()
        if self.ref == "mask":
            p = numpy_ref.mask_params(spec, rate)
            return lambda start, n: numpy_ref.mask_train(p, start, n)
        plan = spec.plan(rate)
        tpl = numpy_ref.Template(plan.template)
        sched = numpy_ref.Schedule(plan.schedule, rate)

        def block(start, n):
            return numpy_ref.hold_gain(plan, numpy_ref.train_ref(plan, start, n, tpl, sched), start, tpl, sched)
        return block

    def scipy_block(self, rate: int = RATE):
        """A function (start, n) -> samples by scipy.signal, or None."""
        if self.scipy is None:
            return None
        import scipy.signal as ss
        spec = self.make()
        amp = spec.amp_ua
        if self.scipy == "square":
            w = 2 * math.pi * spec.freq_hz / rate
            return lambda start, n: (amp * ss.square(w * np.arange(start, start + n))).astype(np.float32)
        if self.scipy == "sawtooth":
            # a triangle whose peaks fall where the train's do (box filter of a
            # line = its value at the sample's middle)
            w = 2 * math.pi * spec.freq_hz / rate
            return lambda start, n: (amp * ss.sawtooth(w * (np.arange(start, start + n) + 0.5) + math.pi / 2,
                                                       width=0.5)).astype(np.float32)
        if self.scipy == "chirp":
            sw = spec.sweep
            return lambda start, n: (amp * ss.chirp(np.arange(start, start + n) / rate, sw.start_hz, sw.seconds,
                                                    sw.stop_hz,
                                                    method=sw.scale if sw.scale == "linear" else "logarithmic")
                                     ).astype(np.float32)
        raise ValueError(self.scipy)


# a custom train's loop: 16 onsets from 0.3 ms to 22.8 ms, unevenly spaced (all between samples at 48 kHz),
# amplitudes of both signs
CUSTOM_ONSETS_S = tuple(round(0.0003 + 0.0015 * i + 0.00037 * (i % 3) + (0.0001 if i == 5 else 0.0), 6)
                        for i in range(16))
CUSTOM_AMPS_UA = tuple(float((-1) ** i * (60 + 10 * (i % 5))) for i in range(16))


def _ramp_envelope():
    # always ramping: a raised-cosine rise over 1 s, a linear fall over 1 s, looped
    return Envelope((Ramp(1.0, 1.0, "cosine"), Ramp(1.0, 0.0, "linear")), loop=True)


FAMILIES = [
    Family("rect_bi_1k", "rectangular biphasic", "biphasic 1 kHz, 250 us phases (whole-sample edges)",
           lambda: mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250), "mask", True),
    Family("rect_bi_square", "rectangular biphasic", "biphasic 1 kHz, 500 us phases = bipolar square",
           lambda: mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=500), "mask", True, scipy="square"),
    Family("rect_bi_frac", "rectangular biphasic",
           "biphasic 1001 Hz, 250 us (a period of 47.952 samples: every onset fractional)",
           lambda: mw.Biphasic(freq_hz=1001, amp_ua=200, phase_us=250), "box", True),
    Family("rect_bi_tighten", "rectangular biphasic", "TIGHTEN: biphasic 300 Hz, 500 us + 100 us gap, bursts 0.6/0.4 s",
           lambda: modes.tighten(3), "box", True),
    Family("mono_alt", "monophasic alternating", "monophasic 500 Hz, 1 ms, alternating",
           lambda: mw.Monophasic(freq_hz=500, amp_ua=150, phase_us=1000, polarity="alternate"), "mask", True),
    Family("sloped_lift", "sloped edges", "LIFT: monophasic 1 Hz, 450 ms, 50 ms slopes, alternating",
           lambda: modes.lift(3), "box", False),
    Family("sloped_1k", "sloped edges", "biphasic 1 kHz, 250 us, 50 us edges",
           lambda: mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, rise_us=50, fall_us=50), "box", False),
    Family("ramp_triangle", "ramp-shaped", "triangle pulses: biphasic 250 Hz, 1 ms phases, all slope",
           lambda: mw.Biphasic(freq_hz=250, amp_ua=200, phase_us=1000, rise_us=1000, fall_us=1000), "box", False,
           scipy="sawtooth"),
    Family("ramp_envelope", "ramp-shaped", "biphasic 1 kHz, 250 us, under a looped cosine/linear ramp",
           lambda: mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, envelope=_ramp_envelope()), "box", False),
    Family("ramp_sweep", "ramp-shaped", "biphasic 100 us, rate swept 100 -> 2000 Hz over 4 s",
           lambda: mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 4.0)), "box", False,
           scipy="chirp", pulse_path=True),
    Family("ramp_sweep_log", "ramp-shaped", "biphasic 100 us, rate swept 100 -> 2000 Hz over 4 s, log",
           lambda: mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 4.0, scale="log")), "box", False,
           scipy="chirp", pulse_path=True),
    Family("ramp_sweep_long", "ramp-shaped",
           "biphasic 100 us, rate swept 100 -> 2000 Hz over 400 s (swept throughout the out-of-cache buffer, "
           "where the 4 s sweeps above hold 2000 Hz: pulse by pulse)",
           lambda: mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0)), "box", False,
           pulse_path=True),
    Family("custom", "custom trains", "custom: 16 biphasic 100 us pulses, uneven onsets and amplitudes, looped 25 ms",
           lambda: mw.CustomTrain(onsets_s=CUSTOM_ONSETS_S, amps_ua=CUSTOM_AMPS_UA, loop_s=0.025, phase_us=100),
           "box", False, pulse_path=True),
    Family("custom_between", "custom trains",
           "custom: the same, looped 25.0104 ms (a loop between samples: not copied, pulse by pulse)",
           lambda: mw.CustomTrain(onsets_s=CUSTOM_ONSETS_S, amps_ua=CUSTOM_AMPS_UA, loop_s=0.0250104, phase_us=100),
           "box", False, pulse_path=True),
    Family("burst_1k", "bursts", "biphasic 1 kHz, 250 us, bursts 50 ms on / 30 ms off (whole-sample edges)",
           lambda: mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, burst=mw.Burst(0.05, 0.03)), "box", True),
    Family("pattern_infuse", "polarity patterns", "INFUSE: monophasic 100 Hz, 4 ms, 3 s + / 1 s -",
           lambda: modes.infuse(3), "mask", True),
    Family("pattern_counted", "polarity patterns", "biphasic 1 kHz, 250 us, pattern 10+ 10- 5~ 5rest",
           lambda: mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250, pattern="10+ 10- 5~ 5rest"), "mask", True),
]
BY_KEY = {f.key: f for f in FAMILIES}


# ---- sessions ---------------------------------------------------------------------
def mixed_session(seconds: float) -> Session:
    """A two-channel session of ``seconds`` cycling through LIFT, TIGHTEN,
    INFUSE and FSM (230/430 Hz, one per channel), a quarter each: what the
    file and memory benchmarks render."""
    q = seconds / 4
    steps = (Step("forehead", modes.lift(3), q, 5.0, label="lift"),
             Step("jaw", modes.tighten(3), q, 5.0, label="tighten"),
             Step("cheeks", modes.infuse(3), q, 5.0, label="infuse"),
             Step("neck", modes.fsm(), q, label="fsm"))
    return Session(f"mixed-{seconds:g}s", steps, channels=2, auto_off_s=max(seconds, 1.0))


def full_face() -> Session:
    return builtin("full-face")


def stage() -> Stage:
    return Stage()


def ac_stage() -> Stage:
    """An AC-coupled card (5 Hz +-30 %), two channels."""
    return Stage(coupling="ac", corner_hz=5.0, channel_map=(0, 1))
