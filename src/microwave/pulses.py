"""Pulse trains: biphasic, monophasic and custom, with bursts, sweeps,
sloped edges, envelopes and polarity patterns.

Units are in the names: ``amp_ua`` (microamps), ``phase_us`` (microseconds),
``freq_hz``, ``delay_s``.  Every spec is an immutable dataclass validated
when built; ``render(seconds, rate)`` gives current in uA as float32 and
``generator(rate)`` gives a compiled generator that continues block by block.

Conventions (the ones Pulse Pal and Intan users expect):

* A phase's width is its full width at half maximum, so its charge is
  ``amp_ua * phase_us`` whether its edges are hard or sloped
  (``rise_us``/``fall_us``, the "modified square"); sloped edges widen the
  pulse's footprint by ``(rise_us + fall_us) / 2``.
* A biphasic pulse is charge-balanced by construction: when phase 2 has
  another width (``phase2_us``), its amplitude is the one that balances
  phase 1's charge.  ``triphasic=True`` gives A, -B, A with phase 2 carrying
  the charge of both outer phases (phase 2 is twice as wide by default).
* ``polarity=+1`` is positive-first, ``-1`` negative-first, ``"alternate"``
  flips the leading phase (biphasic) or the polarity (monophasic, what
  consumer devices call "alternates between the probes") pulse to pulse.
* Onsets are exact: a regular train's k-th pulse starts at ``delay + k *
  rate / freq_hz`` samples, computed in rational arithmetic (the frequency
  is taken as the nearest fraction with a denominator up to 10**6).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import numpy as np

from . import _checks
from ._core import Generator, _sweep_log
from .envelopes import Envelope
from .patterns import ALTERNATE, Hold, PolarityPattern
from .plans import (BurstSchedule, CustomSchedule, ProgramPlan, Rational, RegularSchedule, SampleTime, Schedule,
                    SweepSchedule, TemplatePlan)

__all__ = ["Biphasic", "Monophasic", "CustomTrain", "Burst", "Sweep"]

_MAX_DEN = 2**31 - 1
_MAX_HZ = 20_000.0
_MIN_HZ = 1.0 / 86400        # one pulse a day
_MIN_SWEEP_HZ = 1e-3
_POLARITIES = {1: 1, -1: -1, "alternate": "alternate"}


def _frac(x: float, max_den: int = 10**6) -> Fraction:
    return Fraction(x).limit_denominator(max_den)


def _sec(x: float) -> Fraction:
    """Seconds as the decimal the user meant (0.1 is 1/10, not its binary neighbour)."""
    return Fraction(x).limit_denominator(10**9)


#: a CustomTrain's onsets at most (checked without reading past it from an endless iterator; a longer
#: train loops, loop_s)
MAX_ONSETS = 1_000_000
_RESOLVED = " (seconds are read as the decimals they stand for, to about 1e-9 s: these two meet)"


def _end(delay_s: float, duration_s: float | None, rate: int) -> SampleTime | None:
    """Where a train ends, in samples (whole and fraction); pulses start before it."""
    if duration_s is None:
        return None
    end = (_sec(delay_s) + _sec(duration_s)) * rate
    whole = end.numerator // end.denominator
    return SampleTime(whole, float(end - whole))


def _rat(x: Fraction) -> Rational:
    return Rational.nearest(x, _MAX_DEN)


def _common(*xs: Fraction) -> list[Rational]:
    """Rationals over one shared denominator (for exact addition in C)."""
    den = math.lcm(*(x.denominator for x in xs))
    if den > _MAX_DEN:
        xs = tuple(Fraction(round(x * _MAX_DEN), _MAX_DEN) for x in xs)
        den = _MAX_DEN
    return [Rational(x.numerator * (den // x.denominator) // den, x.numerator * (den // x.denominator) % den, den)
            for x in xs]

#: the parameters every regular train shares (written once, in each class's docstring)
_TRAIN_PARAMETERS = """amp_ua : float
        Peak current of the (first) phase, uA (> 0, at most 1000).
    phase_us : float
        A phase's width at half its height, us: its charge is ``amp_ua x phase_us``.
    freq_hz, period_us : float, optional
        Pulses per second, or us from one onset to the next: give one (or a ``sweep``).
    rise_us, fall_us : float
        Each phase's edges, us (default 0: vertical); the width stays the FWHM.
    polarity : {1, -1, "alternate"}
        Positive-first, negative-first, or flipping pulse to pulse (default 1).
    delay_s : float
        Seconds before the first onset (default 0).
    duration_s : float, optional
        Seconds of pulses, then silence (default: for as long as it plays).
    burst : Burst, optional
        Bursts of pulses separated by silence.
    sweep : Sweep, optional
        A pulse rate that sweeps between two frequencies (instead of ``freq_hz``).
    envelope : Envelope, optional
        An amplitude envelope; each pulse takes its gain where it starts.
    pattern : PolarityPattern or str, optional
        The sign of each pulse over a repeating cycle (``"10+ 10-"``, ``"3s+ 1s-"``)."""

#: what every spec raises
_RAISES = """ValueError, TypeError
        A parameter out of range, of the wrong type, or contradicting another (named in the message)."""


@dataclass(frozen=True)
class Burst:
    """Pulses for ``on_s`` seconds, then silence for ``off_s`` (Pulse Pal's
    burst duration and inter-burst interval); the train restarts at each burst.

    Parameters
    ----------
    on_s : float
        Seconds of pulses in each burst (> 0, at most 86400).
    off_s : float
        Seconds of silence after each burst (>= 0).

    Raises
    ------
    RAISES
    """

    on_s: float
    off_s: float

    def __post_init__(self):
        object.__setattr__(self, "on_s", _checks.number("on_s", self.on_s, 0, 86400, lo_open=True, unit="s"))
        object.__setattr__(self, "off_s", _checks.number("off_s", self.off_s, 0, 86400, unit="s"))


@dataclass(frozen=True)
class Sweep:
    """Pulse rate going from ``start_hz`` to ``stop_hz`` over ``seconds``,
    ``"linear"`` or ``"log"`` in frequency, then staying at ``stop_hz``.
    Phase-continuous: pulse k starts where the instantaneous phase reaches k
    cycles (the same phase law as scipy.signal.chirp).  After the sweep the
    train is a regular one at ``stop_hz``, in exact samples from the first
    pulse past the sweep on (:meth:`~microwave.plans.SweepSchedule.held`):
    its onsets never drift, and it is copied from a tile like any
    repeating train.  A log sweep's onsets (and where its held tail
    starts) take their logarithm from the package's own (csrc/mw_log.h,
    within an ulp of the true one), not from the C library's: they are the
    same bits on every system.

    Parameters
    ----------
    start_hz, stop_hz : float
        The pulse rate at the start and at the end of the sweep, Hz (0.001 to 20000).
    seconds : float
        The sweep's length, s (0.001 to 86400).
    scale : {"linear", "log"}
        How the rate moves between them (default "linear").

    Raises
    ------
    RAISES
    """

    start_hz: float
    stop_hz: float
    seconds: float
    scale: str = "linear"

    def __post_init__(self):
        for name in ("start_hz", "stop_hz"):
            object.__setattr__(self, name, _checks.number(name, getattr(self, name), _MIN_SWEEP_HZ, _MAX_HZ, unit="Hz"))
        object.__setattr__(self, "seconds", _checks.number("seconds", self.seconds, 1e-3, 86400, unit="s"))
        _checks.choice("scale", self.scale, ("linear", "log"))

    @property
    def cycles(self) -> float:
        """Pulses (phase cycles) during the sweep."""
        f0, f1, T = self.start_hz, self.stop_hz, self.seconds
        if self.scale == "log" and f0 != f1:
            return f0 * T * (f1 / f0 - 1) / _sweep_log(f1 / f0)     # (the onsets' logarithm: csrc/mw_log.h)
        return T * (f0 + f1) / 2


@dataclass(frozen=True, kw_only=True)
class _Train:
    """Fields and behaviour shared by every pulse train."""

    amp_ua: float
    phase_us: float
    freq_hz: float | None = None
    period_us: float | None = None
    rise_us: float = 0.0
    fall_us: float = 0.0
    polarity: int | str = +1
    delay_s: float = 0.0
    duration_s: float | None = None
    burst: Burst | None = None
    sweep: Sweep | None = None
    envelope: Envelope | None = None
    pattern: PolarityPattern | str | None = None

    # ---- validation -------------------------------------------------------
    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
        set_("amp_ua", _checks.number("amp_ua", self.amp_ua, 0, _checks.MAX_SPEC_UA, lo_open=True, unit="uA"))
        set_("phase_us", _checks.number("phase_us", self.phase_us, 0, 10_000_000, lo_open=True, unit="us"))
        for name in ("rise_us", "fall_us"):
            set_(name, _checks.number(name, getattr(self, name), 0, 10_000_000, unit="us"))
        set_("delay_s", _checks.number("delay_s", self.delay_s, 0, 86400, unit="s"))
        if self.duration_s is not None:
            set_("duration_s", _checks.number("duration_s", self.duration_s, 0, 86400 * 7, lo_open=True, unit="s"))
        set_("polarity", _checks.keyed("polarity", self.polarity, _POLARITIES, "+1, -1 or 'alternate'"))
        if isinstance(self.pattern, str):
            set_("pattern", PolarityPattern._parse(self.pattern, "pattern"))
        for name, typ in (("burst", Burst), ("sweep", Sweep), ("envelope", Envelope), ("pattern", PolarityPattern)):
            _checks.instance(name, getattr(self, name), typ, f"a {typ.__name__}"
                             + (" or a pattern string such as '10+ 10-'" if typ is PolarityPattern else ""), none=True)
        if self.polarity == "alternate" and self.pattern is not None:
            raise ValueError("polarity='alternate' and pattern= both set the sign of each pulse: give one")
        self._check_timing()
        for i, (amp, width) in enumerate(self.phases()):
            if abs(amp) > _checks.MAX_SPEC_UA * (1 + 1e-12):
                raise ValueError(f"phase {i + 1} would carry {abs(amp):g} uA to balance the charge "
                                 f"(phase2_us={getattr(self, 'phase2_us', None)!r}, phase_us={self.phase_us!r}): "
                                 f"at most {_checks.MAX_SPEC_UA:g} uA; widen phase2_us or lower amp_ua")
            if width < (self.rise_us + self.fall_us) / 2:
                raise ValueError(f"rise_us + fall_us = {self.rise_us + self.fall_us:g} us is too slow "
                                 f"for phase {i + 1} of {width:g} us ({self._widths()}): the edges must fit, "
                                 f"(rise_us + fall_us) / 2 <= phase width")

    def _check_timing(self):
        """The timing parameters, each kind by itself (a sweep, or a fixed
        rate with or without bursts), then the pulse against its shortest
        period."""
        shortest, what = self._check_sweep(self.sweep) if self.sweep is not None else self._check_rate()
        if self.footprint_us > float(shortest) * (1 + 1e-9):   # float rounding of "half a period"
            raise ValueError(f"the pulse ({self.footprint_us:g} us including gaps and edges: {self._widths()}) "
                             f"is wider than {what}: shorten phase_us or lower the rate of pulses")
        if self.burst is not None:
            self._check_burst(self.burst)

    def _check_sweep(self, sweep: Sweep) -> tuple[float, str]:
        """A sweep sets the rate alone; its shortest period, for the pulse check."""
        given = [n for n in ("freq_hz", "period_us") if getattr(self, n) is not None]
        if given:
            raise ValueError(f"sweep= sets the pulse rate: do not also give {given[0]}")
        if self.burst is not None:
            raise ValueError("burst= cannot be combined with sweep=: a burst restarts a fixed-rate train; "
                             "give one of them")
        shortest = 1e6 / max(sweep.start_hz, sweep.stop_hz)
        return shortest, (f"the sweep's fastest period ({shortest:g} us: start_hz={sweep.start_hz:g}, "
                          f"stop_hz={sweep.stop_hz:g})")

    def _check_rate(self) -> tuple[Fraction, str]:
        """Exactly one of freq_hz and period_us, within the compiled limits;
        the period, for the pulse check."""
        given = [n for n in ("freq_hz", "period_us") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of freq_hz or period_us, or a sweep "
                             f"(got {', '.join(given) or 'none of them'})")
        if self.freq_hz is not None:
            object.__setattr__(self, "freq_hz", _checks.number("freq_hz", self.freq_hz, _MIN_HZ, _MAX_HZ, unit="Hz"))
            what = f"its period ({float(self.period_us_exact):g} us, freq_hz={self.freq_hz!r})"
        else:
            object.__setattr__(self, "period_us",
                               _checks.number("period_us", self.period_us, 1e6 / _MAX_HZ, 86400e6, unit="us"))
            what = f"its period (period_us={self.period_us!r})"
        return self.period_us_exact, what

    def _check_burst(self, burst: Burst) -> None:
        """The last pulse of a burst ends before the next burst begins."""
        on = _sec(burst.on_s) * 10**6
        period = Fraction(self.period_us_exact)
        last = (math.ceil(on / period) - 1) * period
        if last + Fraction(self.footprint_us) > on + _sec(burst.off_s) * 10**6:
            raise ValueError(f"burst off_s={burst.off_s!r} is too short: the last pulse of a burst "
                             f"(on_s={burst.on_s!r}; {self._widths()}) would run into the next burst")

    def _widths(self) -> str:
        """The parameters that make a pulse's width, as ``name=value``s, for messages."""
        names = ["phase_us", "phase2_us", "interphase_us", "rise_us", "fall_us", "triphasic"]
        return ", ".join(f"{n}={getattr(self, n)!r}" for n in names if getattr(self, n, None) not in (None, False))

    @property
    def _pattern(self) -> PolarityPattern | None:
        """``pattern`` as __post_init__ leaves it: a pattern string is parsed there."""
        return cast("PolarityPattern | None", self.pattern)

    # ---- what a pulse is ---------------------------------------------------
    def phases(self) -> list[tuple[float, float]]:
        """(amplitude uA, width us) of each phase of one positive-first pulse."""
        raise NotImplementedError

    def gaps_us(self) -> list[float]:
        """Gap after each phase but the last."""
        return [0.0] * (len(self.phases()) - 1)

    @property
    def footprint_us(self) -> float:
        """Time from a pulse's onset to its end, edges and gaps included."""
        edge = (self.rise_us + self.fall_us) / 2
        return sum(w + edge for _, w in self.phases()) + sum(self.gaps_us())

    @property
    def period_us_exact(self) -> Fraction:
        """Onset-to-onset interval as an exact fraction of a microsecond."""
        if self.freq_hz is not None:
            return Fraction(10**6) / _frac(self.freq_hz)
        if self.period_us is None:   # a sweep's period changes from pulse to pulse
            raise TypeError("a sweep= train has no fixed period: period_us_exact is for a train given "
                            "freq_hz or period_us")
        return _frac(self.period_us, 10**3)

    @property
    def peak_ua(self) -> float:
        """The largest current magnitude this train can produce."""
        peak = max(abs(a) for a, _ in self.phases())
        return peak * (self.envelope.peak_level if self.envelope is not None else 1.0)

    @property
    def pulse_charge_uc(self) -> float:
        """Net charge of one positive-first pulse, uC (0 for biphasic)."""
        return sum(a * w for a, w in self.phases()) * 1e-6

    @property
    def max_phase_charge_uc(self) -> float:
        """The largest charge one phase carries, uC (what electrode limits are stated in)."""
        return max(abs(a) * w for a, w in self.phases()) * 1e-6

    @property
    def pulse_rate_hz(self) -> float:
        """Average pulses per second (over bursts; over the sweep's span for a sweep)."""
        if self.sweep is not None:
            return self.sweep.cycles / self.sweep.seconds
        f = 1e6 / float(self.period_us_exact)
        if self.burst is not None:
            per_burst = math.ceil(_sec(self.burst.on_s) * 10**6 / self.period_us_exact)
            return per_burst / (self.burst.on_s + self.burst.off_s)
        return f

    def _mean_sign(self) -> float:
        if self.polarity == "alternate":
            return 0.0
        s = float(self.polarity)
        return s * self._pattern.mean_polarity(self.pulse_rate_hz) if self._pattern is not None else s

    @property
    def net_dc_ua(self) -> float:
        """Time-averaged current at full level, uA: the DC component."""
        return self.pulse_charge_uc * self._mean_sign() * self.pulse_rate_hz

    @property
    def net_charge_per_cycle_uc(self) -> float:
        """Net charge over one cycle of the polarity pattern (one pulse when there is none), uC."""
        pulses = self._pattern.cycle_pulses(self.pulse_rate_hz) if self._pattern is not None else 1.0
        return self.pulse_charge_uc * self._mean_sign() * pulses

    # ---- composition ---------------------------------------------------------
    def shaped(self, envelope: Envelope):
        """This train with an amplitude envelope (a copy; the spec is frozen).

        Parameters
        ----------
        envelope : Envelope or None
            The gain over time (each pulse takes its gain where it starts); None removes it.

        Returns
        -------
        same class as the train
            A copy with ``envelope`` replaced.

        Raises
        ------
        TypeError
            ``envelope`` is not an Envelope (or None).
        """
        return dataclasses.replace(self, envelope=envelope)

    def patterned(self, pattern: PolarityPattern | str):
        """This train with a polarity pattern (a copy; the spec is frozen).

        Parameters
        ----------
        pattern : PolarityPattern or str or None
            The sign of each pulse over a repeating cycle (``"10+ 10-"``); None removes it.

        Returns
        -------
        same class as the train
            A copy with ``pattern`` replaced.

        Raises
        ------
        ValueError, TypeError
            ``pattern`` is not a PolarityPattern or its text, or contradicts the train
            (a custom train takes none), named in the message.

        Examples
        --------
        >>> Biphasic(freq_hz=50, amp_ua=100, phase_us=200).patterned("2+ 2-").pattern
        PolarityPattern(holds=(Hold(polarity=1, pulses=2, seconds=None), Hold(polarity=-1, pulses=2, seconds=None)))
        """
        return dataclasses.replace(self, pattern=pattern)

    # ---- rendering -------------------------------------------------------------
    def _template(self, rate: int, unit_amp: float | None = None) -> TemplatePlan:
        spu = rate / 1e6   # samples per microsecond
        r, f = self.rise_us * spu, self.fall_us * spu
        taus, vals, t = [0.0], [0.0], 0.0
        gaps = self.gaps_us() + [0.0]
        for (amp, width_us), gap_us, i in zip(self.phases(), gaps, range(99)):
            w = width_us * spu
            if w < 1.0:
                name = "phase_us" if i % 2 == 0 else "phase2_us"
                raise ValueError(f"{name}={width_us:g} us is shorter than one sample at rate={rate} "
                                 f"(allowed: >= {1e6 / rate:g} us, or raise rate)")
            if unit_amp is not None:
                amp = amp / unit_amp
            pts = [(t, 0.0), (t + r, amp), (t + r / 2 + w - f / 2, amp), (t + r / 2 + w + f / 2, 0.0)]
            for tau, v in pts:
                if (tau, v) != (taus[-1], vals[-1]):
                    taus.append(tau)
                    vals.append(v)
            t += w + (r + f) / 2 + gap_us * spu
        return TemplatePlan(tuple(taus), tuple(vals))

    def _schedule(self, rate: int) -> Schedule:
        """The onsets of a train given a rate: a sweep, bursts, or a regular train (a peer of
        :meth:`CustomTrain._schedule <CustomTrain>`)."""
        end = _end(self.delay_s, self.duration_s, rate)
        if self.sweep is not None:
            sw = self.sweep
            if sw.start_hz * 2 > rate or sw.stop_hz * 2 > rate:
                raise ValueError(f"sweep reaches {max(sw.start_hz, sw.stop_hz):g} Hz: "
                                 f"at rate={rate} pulses need <= {rate / 2:g} Hz")
            return SweepSchedule(start_hz=sw.start_hz, stop_hz=sw.stop_hz, seconds=sw.seconds, log=sw.scale == "log",
                                 delay_s=self.delay_s, phase_at_end_cycles=sw.cycles, end=end)
        period = self.period_us_exact * Fraction(rate, 10**6)
        if period < 2:
            raise ValueError(f"pulse rate {1e6 / float(self.period_us_exact):g} Hz is too high for rate={rate}: "
                             f"allowed up to {rate / 2:g} Hz (two samples a period)")
        delay = _sec(self.delay_s) * rate
        if self.burst is not None:
            delay_r, cycle = _common(delay, (_sec(self.burst.on_s) + _sec(self.burst.off_s)) * rate)
            if not cycle.positive:   # the bursts would all start at once: the train would never advance
                raise ValueError(f"burst on_s + off_s = {self.burst.on_s + self.burst.off_s:g} s is no time at "
                                 f"rate={rate} (on_s={self.burst.on_s!r}, off_s={self.burst.off_s!r}): a burst "
                                 f"cycle needs at least a sample; lengthen on_s or off_s")
            return BurstSchedule(period=_rat(period), delay=delay_r, burst_on=_rat(_sec(self.burst.on_s) * rate),
                                 burst_cycle=cycle, end=end)
        return RegularSchedule(period=_rat(period), delay=_rat(delay), end=end)

    def plan(self, rate: int = _checks.DEFAULT_RATE) -> ProgramPlan:
        """Reduce the spec to samples and uA for the compiled generator
        (a :class:`microwave.plans.ProgramPlan`).

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        ProgramPlan
            The train's template, schedule, pattern and envelope in samples
            and uA (a :class:`microwave.plans.ProgramPlan`).

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range, or the train cannot be
            sampled at it: a phase shorter than a sample, a pulse rate (or a
            sweep's) above ``rate / 2``, onsets closer than two samples, or a
            burst cycle of no sample (named in the message).
        """
        rate = _checks.rate(rate)
        pattern = self._pattern
        if self.polarity == "alternate":
            pattern = PolarityPattern((Hold(ALTERNATE, pulses=1),))
        template, schedule = self._template(rate), self._schedule(rate)
        unit_pulses = self.unit_pulses
        gap = schedule.longest_gap_samples(rate)
        return ProgramPlan(
            rate=rate, template=template, sign=-1.0 if self.polarity == -1 else 1.0, schedule=schedule,
            pattern=pattern.plan(rate) if pattern is not None else None,
            envelope=self.envelope.plan(rate) if self.envelope is not None else None,
            # one gain a unit (csrc/mw_program.h): its pulses, the longest
            # it takes to come round, and the longest it lasts (samples)
            unit_pulses=unit_pulses, unit_period_samples=unit_pulses * gap,
            unit_len_samples=(unit_pulses - 1) * gap + template.end_samples)

    @property
    def unit_pulses(self) -> int:
        """Pulses that share one gain: 2 for monophasic pulses alternating in
        polarity (a pair carries no net charge), else 1 (a biphasic pulse
        balances itself; other patterns are not balanced pair by pair)."""
        pattern = self._pattern
        alternating = self.polarity == "alternate" or (
            pattern is not None and len(pattern.holds) == 1 and pattern.holds[0].polarity == ALTERNATE)
        return 2 if alternating and abs(self.pulse_charge_uc) > 0 else 1

    def generator(self, rate: int = _checks.DEFAULT_RATE) -> Generator:
        """A compiled generator of this train: ``gen.fill(out)`` writes the next
        ``len(out)`` samples (uA, float32) into ``out``.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        Generator
            The compiled generator, at the train's first sample.

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range, or the train cannot be sampled
            at it (a phase or edge shorter than a sample), named in the message.
        """
        return Generator(self.plan(rate))

    def net_charge_uc(self, seconds: float) -> float:
        """The net charge the train delivers in its first ``seconds``, uC, at
        full level: what a dose is made of (:meth:`Session.dose_ua_min
        <microwave.sessions.Session.dose_ua_min>`).

        Counted on the samples the compiled generator renders (at 48 kHz,
        or a higher rate where the train needs one), so every pulse has the
        sign its polarity and its pattern's state give it where it starts,
        its envelope's level included.  :attr:`net_dc_ua` x ``seconds`` is
        an estimate from the average pulse rate, which a timed pattern,
        bursts or a sweep can make wrong: under ``pattern="1s+ 1s-"`` every
        pulse of a 0.5 Hz train lands in a positive state.  A train whose
        every pulse balances its own charge (biphasic) gives 0 at once.

        Parameters
        ----------
        seconds : float
            How long, s (0 to a week).

        Returns
        -------
        float
            The net charge, uC (its sign is the current's).

        Raises
        ------
        ValueError, TypeError
            ``seconds`` is out of range or not a number.
        """
        seconds = _checks.number("seconds", seconds, 0, 86400 * 7, unit="s")
        return 0.0 if self._balanced else _net_charge_uc(self, seconds)

    @property
    def _balanced(self) -> bool:
        """Every pulse carries no net charge (to rounding): a biphasic train."""
        return abs(self.pulse_charge_uc) <= 1e-12 * self.max_phase_charge_uc

    def _repr_png_(self) -> bytes | None:
        """Jupyter shows a spec as a plot of its first pulses (matplotlib,
        imported only then; without it, the text repr)."""
        from .plot import notebook_png
        return notebook_png(self)

    def render(self, seconds: float, rate: int = _checks.DEFAULT_RATE) -> np.ndarray:
        """The first ``seconds`` of current, as a 1-D float32 array.

        Parameters
        ----------
        seconds : float
            How much to render, s (0 to a week); rounded to whole samples.
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        numpy.ndarray
            ``round(seconds * rate)`` samples of current, uA (float32).

        Raises
        ------
        ValueError, TypeError
            ``seconds`` or ``rate`` out of range or of the wrong type, or the train
            cannot be sampled at ``rate``, named in the message.
        MemoryError
            The array does not fit in memory now (the message gives its size
            and how to fill it a block at a time instead).

        Examples
        --------
        >>> x = Biphasic(freq_hz=100, amp_ua=200, phase_us=1000).render(0.01, rate=8000)
        >>> len(x), float(x.max()), float(x.min())
        (80, 200.0, -200.0)
        """
        rate = _checks.rate(rate)
        seconds = _checks.number("seconds", seconds, 0, 86400 * 7, unit="s")
        n = round(seconds * rate)
        generator = self.generator(rate)
        try:
            return generator.render(n)
        except MemoryError:
            raise _checks.no_room(f"seconds={seconds:g} at rate={rate}", 4 * n,
                                  "render less, or fill a buffer a block at a time from generator(rate) "
                                  "(Generator.fill)") from None


_CHARGE_RATES = (_checks.DEFAULT_RATE, 192_000, 768_000)   # net_charge_uc renders at the first the train allows
_CHARGE_BLOCK = 1 << 18                                     # samples summed at a time


def _at_a_rate(count):
    """``(count(rate), rate)`` at the first of _CHARGE_RATES where ``count``
    does not refuse the rate (a train with pulses closer than two samples
    needs a higher one); the first refusal if every rate is refused."""
    first = None
    for rate in _CHARGE_RATES:
        try:
            return count(rate), rate
        except ValueError as e:
            first = first or e
    assert first is not None
    raise first


@functools.lru_cache(maxsize=256)
def _net_charge_uc(spec: _Train, seconds: float) -> float:
    """spec.net_charge_uc(seconds), rendered (kept: a spec is immutable)."""
    def count(rate):
        gen, n, total = spec.generator(rate), round(seconds * rate), 0.0
        block = np.empty(min(n, _CHARGE_BLOCK), dtype=np.float32)
        for start in range(0, n, _CHARGE_BLOCK):
            part = block[:min(_CHARGE_BLOCK, n - start)]
            gen.fill(part)
            total += float(part.sum(dtype=np.float64))
        return total
    total, rate = _at_a_rate(count)
    return total / rate        # uA x s = uC


@dataclass(frozen=True, kw_only=True)
class Biphasic(_Train):
    """A charge-balanced biphasic (or triphasic) pulse train.

    Parameters
    ----------
    TRAIN_PARAMETERS
    interphase_us : float
        The gap between the phases, us (Intan's interphase delay; default 0).
    phase2_us : float, optional
        Phase 2's width, us; its amplitude then balances phase 1's charge.
    triphasic : bool
        A, -B, A: phase 2 (twice as wide by default) carries both outer phases' charge.

    Raises
    ------
    RAISES

    Examples
    --------
    >>> train = Biphasic(freq_hz=30, amp_ua=200, phase_us=500)
    >>> train.pulse_charge_uc, round(train.max_phase_charge_uc, 6)   # balanced; 200 uA x 500 us
    (0.0, 0.1)
    >>> train.render(1.0, rate=48_000).shape
    (48000,)
    """

    interphase_us: float = 0.0
    phase2_us: float | None = None
    triphasic: bool = False

    def __post_init__(self):
        object.__setattr__(self, "interphase_us",
                           _checks.number("interphase_us", self.interphase_us, 0, 10_000_000, unit="us"))
        if self.phase2_us is not None:
            object.__setattr__(self, "phase2_us",
                               _checks.number("phase2_us", self.phase2_us, 0, 10_000_000, lo_open=True, unit="us"))
        object.__setattr__(self, "triphasic", _checks.flag("triphasic", self.triphasic))
        super().__post_init__()

    def phases(self):
        a, w = float(self.amp_ua), float(self.phase_us)
        if self.triphasic:
            w2 = self.phase2_us if self.phase2_us is not None else 2 * w
            return [(a, w), (-2 * a * w / w2, w2), (a, w)]
        w2 = self.phase2_us if self.phase2_us is not None else w
        return [(a, w), (-a * w / w2, w2)]

    def gaps_us(self):
        return [self.interphase_us] * (2 if self.triphasic else 1)


@dataclass(frozen=True, kw_only=True)
class Monophasic(_Train):
    """Pulses of one phase: positive, negative, or alternating pulse to pulse.

    A train of one sign carries net charge (``net_dc_ua``), as INFUSE means to.

    Parameters
    ----------
    TRAIN_PARAMETERS

    Raises
    ------
    RAISES

    Examples
    --------
    >>> Monophasic(freq_hz=8, amp_ua=150, phase_us=60_000, polarity="alternate").net_dc_ua
    0.0
    """

    def phases(self):
        return [(float(self.amp_ua), float(self.phase_us))]


@dataclass(frozen=True, kw_only=True)
class CustomTrain(_Train):
    """Pulses at given onsets with given amplitudes (Pulse Pal's custom trains).

    Parameters
    ----------
    onsets_s : sequence of float
        The pulse onsets within one loop, s, ascending (at most
        ``MAX_ONSETS``, a million).
    amps_ua : sequence of float
        Each pulse's signed amplitude, uA (its sign is its polarity; at most 1000).
    loop_s : float, optional
        Repeat the list with this period, s (default: play it once).
    biphasic : bool
        Each pulse a balanced biphasic pair (default) or one phase.
    interphase_us : float
        The gap between a biphasic pulse's phases, us (default 0).
    amp_ua : float
        Derived from ``amps_ua`` (the largest magnitude, uA); a value given is checked, then replaced.
    phase_us, rise_us, fall_us, delay_s, duration_s, envelope
        As for :class:`Biphasic`.
    polarity : {1, -1}
        1 plays the signs as given, -1 flips them all (default 1).
    freq_hz, period_us, sweep, burst, pattern
        Not used (the onsets and signs are given; Hz, us, as for :class:`Biphasic`): refused if set.

    Raises
    ------
    RAISES
    """

    onsets_s: tuple = ()
    amps_ua: tuple = ()
    loop_s: float | None = None
    biphasic: bool = True
    interphase_us: float = 0.0
    amp_ua: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "polarity",
                           _checks.keyed("polarity", self.polarity, {1: 1, -1: -1},
                                         "+1 or -1 (a CustomTrain takes each pulse's sign from amps_ua)"))
        onsets = _checks.sequence("onsets_s", self.onsets_s, "onset times in seconds", max_len=MAX_ONSETS)
        on = tuple(float(_checks.number(f"onsets_s[{i}]", x, 0, 86400 * 7, unit="s")) for i, x in enumerate(onsets))
        if not on:
            raise ValueError("onsets_s is empty: give at least one onset, and one amplitude per onset (amps_ua)")
        amps = tuple(float(_checks.number(f"amps_ua[{i}]", x, -_checks.MAX_SPEC_UA, _checks.MAX_SPEC_UA, unit="uA"))
                     for i, x in enumerate(_checks.sequence("amps_ua", self.amps_ua, "amplitudes in uA, one per onset",
                                                            max_len=len(on))))
        object.__setattr__(self, "onsets_s", on)
        object.__setattr__(self, "amps_ua", amps)
        # amp_ua is derived from amps_ua (dataclasses.replace passes it back): checked, then set
        _checks.number("amp_ua", self.amp_ua, 0, _checks.MAX_SPEC_UA, lo_open=True, unit="uA")
        object.__setattr__(self, "amp_ua", max([abs(a) for a in amps] + [1e-9]))
        if not on or len(on) != len(amps):
            raise ValueError(f"onsets_s has {len(on)} entries and amps_ua {len(amps)}: "
                             f"give one amplitude per onset, at least one")
        if self.loop_s is not None:
            object.__setattr__(self, "loop_s",
                               _checks.number("loop_s", self.loop_s, 0, 86400 * 7, lo_open=True, unit="s"))
        object.__setattr__(self, "interphase_us",
                           _checks.number("interphase_us", self.interphase_us, 0, 10_000_000, unit="us"))
        object.__setattr__(self, "biphasic", _checks.flag("biphasic", self.biphasic))
        unused = [n for n in ("freq_hz", "period_us", "sweep", "burst", "pattern") if getattr(self, n) is not None]
        if unused:
            raise ValueError(f"{unused[0]}={getattr(self, unused[0])!r}: a CustomTrain takes its timing and signs from "
                             f"onsets_s and amps_ua: freq_hz, period_us, sweep, burst and pattern are not used")
        # compared as the schedule reads them: the decimals meant, to 1e-9 s (_sec)
        exact = [_sec(x) for x in on]
        if self.loop_s is not None and exact[-1] >= _sec(self.loop_s):
            raise ValueError(f"onsets_s[-1]={on[-1]!r} must be before loop_s={self.loop_s!r}"
                             f"{_RESOLVED if on[-1] < self.loop_s else ''}")
        for i in range(len(on) - 1):
            if exact[i + 1] <= exact[i]:
                raise ValueError(f"onsets_s must ascend: onsets_s[{i + 1}]={on[i + 1]!r} <= onsets_s[{i}]={on[i]!r}"
                                 f"{_RESOLVED if on[i + 1] > on[i] else ''}")
        super().__post_init__()

    @property
    def _starts_s(self) -> list[float]:
        """The onsets of one pass, and the first of the next when it loops, s."""
        on = self.onsets_s
        return list(on) + ([on[0] + self.loop_s] if self.loop_s is not None else [])

    @property
    def _spacing_us(self) -> float:
        """The closest two onsets come (around the loop too), us: this kind's
        timing (1e15 for a single pulse played once)."""
        starts = self._starts_s
        return min([b - a for a, b in zip(starts, starts[1:])] + [1e9]) * 1e6

    def _check_timing(self):
        # listed onsets: the pulses must fit between them (the peer of _Train's rate check)
        spacing_us = self._spacing_us
        if self.footprint_us > spacing_us:
            raise ValueError(f"onsets_s has pulses {spacing_us:g} us apart (loop_s={self.loop_s!r}), "
                             f"but each lasts {self.footprint_us:g} us ({self._widths()}): "
                             f"space the onsets further or shorten phase_us")

    def phases(self):
        a, w = float(self.amp_ua), float(self.phase_us)
        return [(a, w), (-a, w)] if self.biphasic else [(a, w)]

    def gaps_us(self):
        return [self.interphase_us] if self.biphasic else []

    @property
    def pulse_rate_hz(self) -> float:
        return len(self.onsets_s) / self.loop_s if self.loop_s else 0.0

    @property
    def net_dc_ua(self) -> float:
        return self.net_charge_per_cycle_uc / self.loop_s if self.loop_s else 0.0

    @property
    def net_charge_per_cycle_uc(self) -> float:
        """Net charge of one pass through onsets_s, uC (polarity=-1 flips every pulse)."""
        sign = -1.0 if self.polarity == -1 else 1.0
        return sign * self.pulse_charge_uc / self.amp_ua * sum(self.amps_ua)

    def _template(self, rate: int, unit_amp: float | None = None) -> TemplatePlan:
        # one template of unit amplitude: each pulse's amplitude comes from amps_ua
        return super()._template(rate, unit_amp=self.amp_ua)

    def _schedule(self, rate: int) -> Schedule:
        spacing_us = self._spacing_us
        if spacing_us * rate / 1e6 < 2 and len(self.onsets_s) > 1:
            raise ValueError(f"onsets_s has pulses {spacing_us:g} us apart: "
                             f"at rate={rate} they need >= {2e6 / rate:g} us")
        # the decimal seconds the user meant, in samples (a loop of 0.025 s at 48 kHz is 1200 samples
        # exactly, and the train repeats after it: a tile copies it)
        def samples(seconds: float) -> float:
            return float(_sec(seconds) * rate)
        return CustomSchedule(onsets_samples=tuple(samples(x) for x in self.onsets_s), amps_ua=self.amps_ua,
                              loop_samples=samples(self.loop_s) if self.loop_s else 0.0,
                              delay_samples=samples(self.delay_s), end=_end(self.delay_s, self.duration_s, rate))


# one text for the parameters the trains share (numpydoc reads the class docstrings)
for _cls in (Biphasic, Monophasic, CustomTrain, Burst, Sweep):
    _cls.__doc__ = (_cls.__doc__ or "").replace("TRAIN_PARAMETERS", _TRAIN_PARAMETERS).replace("RAISES", _RAISES)
del _cls
