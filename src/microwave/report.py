"""The disclosure figures: what IEC 60601-2-10 and the FDA ask a stimulator
to state about a session played through a stage.

:func:`report` returns them as a dict (``microwave info`` prints it;
:meth:`Session.report <microwave.sessions.Session.report>` is the same call):

* per step and channel: the spec's peak, its RMS over a whole number of
  the cycles it repeats with (pulses, bursts, pattern, a looping envelope;
  the whole step where it does not repeat within it), the DC as rendered
  over the step (soft start and stop included) and by the spec, the charge
  per pulse and phase, and the current densities over the electrode area;
* for the session: the DC per channel, the net dose (uA x min), the maximum
  current and voltage at the FDA's loads, the peak density (with a warning
  above :data:`IEC_DENSITY_MA_CM2`), the timeline, and the worst current
  predicted to flow -- at the session's own level and at its highest --
  across the stage's corner tolerance and load range
  (:meth:`Stage.assess <microwave.stage.Stage.assess>`).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from . import _checks
from .plans import BurstSchedule, ProgramPlan, Rational, RegularSchedule
from .sessions import Session
from .stage import FDA_LOADS_OHM, Stage
from .stage import _given as _stage

__all__ = ["report", "IEC_DENSITY_MA_CM2", "MIN_AREA_CM2"]

#: IEC 60601-2-10: above this current density (mA/cm2) the operator's attention is needed
IEC_DENSITY_MA_CM2 = 2.0
#: The least electrode area a report takes, cm2 (1 mm2: below any skin
#: electrode; a smaller one, 5e-324 say, made the density infinite)
MIN_AREA_CM2 = 0.01


def report(session: Session, stage: Stage | None = None, rate: int = _checks.DEFAULT_RATE,
           electrode_area_cm2: float = 1.0) -> dict:
    """The figures IEC 60601-2-10 and the FDA ask a stimulator to state, for
    ``session`` played through ``stage`` (the module's text lists them).

    Parameters
    ----------
    session : Session
        What is played.
    stage : Stage or None
        The output stage (default None: ``Stage()``).
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).
    electrode_area_cm2 : float
        The electrodes' contact area, cm2 (``MIN_AREA_CM2`` to 1000; default 1),
        for the current density.

    Returns
    -------
    dict
        The figures, by name (uA, us, Hz, uC, mA/cm2 as each key says);
        ``played_channels`` is how many of the session's channels the stage
        plays (``Session.channels_on``), and each step lists those.

    Raises
    ------
    ValueError
        The stage cannot play the session (the refusal of :meth:`Stage.assess
        <microwave.stage.Stage.assess>`), or a parameter is out of range.
    TypeError
        A parameter of the wrong type.
    """
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    stage = _stage(stage)
    rate = _checks.rate(rate)
    electrode_area_cm2 = _checks.number("electrode_area_cm2", electrode_area_cm2, MIN_AREA_CM2, 1000, unit="cm2")
    max_level, worst = stage.assess(session, rate)
    # DC per step and channel, as rendered: one streamed pass, split at the step edges
    edges = session.step_edges(rate)
    sums = session._step_sums_ua(rate)
    steps, t = [], 0.0
    played = session.channels_on(stage)
    for i, (s, d) in enumerate(zip(session.steps, session.step_seconds())):
        chans = []
        n_step = edges[i][1] - edges[i][0]
        for c, p in enumerate(s.programs(session.channels)[:played]):
            rms = _rms_over_cycles(p, rate, n_step)
            chans.append({
                "peak_ua": p.peak_ua, "rms_ua": rms, "pulse_rate_hz": p.pulse_rate_hz,
                # a train in bursts: its rate within a burst (pulse_rate_hz is the average); and
                # whether its pulses alternate their polarity (phases are the first pulse's)
                "burst_rate_hz": getattr(p, "freq_hz", None) if getattr(p, "burst", None) is not None else None,
                "alternating": getattr(p, "polarity", None) == "alternate",
                "phase_widths_us": [w for _, w in p.phases()],
                "phase_amps_ua": [a for a, _ in p.phases()],
                "net_charge_per_pulse_uc": p.pulse_charge_uc, "max_phase_charge_uc": p.max_phase_charge_uc,
                "dc_ua": float(sums[i, c] / n_step) if n_step else 0.0, "spec_dc_ua": p.net_dc_ua,
                "peak_density_ma_cm2": p.peak_ua / 1000 / electrode_area_cm2,
                "rms_density_ma_cm2": rms / 1000 / electrode_area_cm2,
            })
        steps.append({"zone": s.zone, "label": s.label, "start_s": t, "seconds": d, "channels": chans})
        t += d
    total = sum(x["seconds"] for x in steps)
    n = edges[-1][1] if edges else 0
    dc = [float(v) for v in sums.sum(axis=0)[:played] / n] if n else [0.0] * played
    loads = [{"load_ohm": r, "max_ua": stage.max_ua_at(r), "max_v": stage.max_ua_at(r) * 1e-6 * r}
             for r in FDA_LOADS_OHM]
    peak_density = session.peak_ua / 1000 / electrode_area_cm2
    return {"name": session.name, "seconds": total, "auto_off_s": session.auto_off_s, "channels": session.channels,
            "played_channels": played,
            "peak_ua": session.peak_ua, "stage_limit_ua": stage.limit_ua, "max_ua": stage.max_ua,
            "max_level": max_level, "worst_ua": worst, "worst_ua_at_max_level": worst * max_level,
            "dc_ua": dc, "dose_ua_min": session.dose_ua_min(), "max_dose_ua_min": session.max_dose_ua_min,
            "steps": steps, "loads": loads, "electrode_area_cm2": electrode_area_cm2,
            "peak_density_ma_cm2": peak_density, "density_warning": peak_density > IEC_DENSITY_MA_CM2,
            "timeline": session.timeline()}


def _repeat_samples(plan: ProgramPlan) -> int | None:
    """Samples after which a spec's current repeats exactly (pulses, bursts,
    polarity pattern and a looping envelope together), or None when it
    does not repeat (a sweep, a custom train, a delay, an end, a one-shot
    envelope)."""
    sc = plan.schedule
    env = plan.envelope
    if not isinstance(sc, (RegularSchedule, BurstSchedule)) or sc.end is not None or sc.delay.whole or sc.delay.rem:
        return None
    if env is not None and not env.loop:
        return None

    def rat(r: Rational) -> Fraction:
        return Fraction(r.whole) + Fraction(r.rem, r.den)
    period = rat(sc.period)
    parts = [period, Fraction(1)]
    if isinstance(sc, BurstSchedule):
        cycle = rat(sc.burst_cycle)
        per_burst = sc.pulses_per_burst
        parts.append(cycle)
    if plan.pattern is not None:
        if plan.pattern.by_time:
            parts.append(Fraction(plan.pattern.cycle))
        else:
            pulses = math.lcm(plan.pattern.cycle, 2)
            if isinstance(sc, BurstSchedule):   # counted across bursts: whole bursts of whole patterns
                parts.append(cycle * (math.lcm(pulses, per_burst) // per_burst))
            else:
                parts.append(period * pulses)
    if env is not None:
        parts.append(Fraction(env.total_samples))
    num = math.lcm(*(p.numerator for p in parts))
    den = math.gcd(*(p.denominator for p in parts))
    return num // den


def _rms_over_cycles(spec, rate: int, n_max: int) -> float:
    """RMS of ``spec`` (uA) over the most whole repeats that fit in
    ``n_max`` samples, or over ``n_max`` samples where none fits."""
    cycle = _repeat_samples(spec.plan(rate))
    n = n_max if cycle is None or cycle > n_max else n_max // cycle * cycle
    gen, sq = spec.generator(rate), 0.0
    for start in range(0, n, 1 << 18):
        y = gen.render(min(1 << 18, n - start)).astype(np.float64)
        sq += float(np.dot(y, y))
    return math.sqrt(sq / n) if n else 0.0
