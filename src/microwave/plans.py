"""Plans: what a spec compiles to, in samples and uA, before it reaches C.

A spec (``Biphasic``, ``Envelope``, ``PolarityPattern``, ``Stage``...) is
in physical units and checked against physical limits.  Its ``plan(rate)``
reduces it to one of these frozen, typed dataclasses, each mirroring a C
struct of ``csrc/`` field by field; :class:`microwave._core.Generator` and
:class:`microwave._core.SessionEngine` copy them into that struct and
nothing else.  The timing kinds are peers, one class each --
:class:`RegularSchedule`, :class:`BurstSchedule`, :class:`SweepSchedule`,
:class:`CustomSchedule` (the :data:`Schedule` union) -- and the generator
dispatches on the class.

Every plan checks, when built, what would otherwise reach C wrong: the
lengths of its arrays against the limits the extension exports
(:data:`~microwave._core.MAX_BREAKPOINTS`, ``MAX_STATES``,
``MAX_SEGMENTS``, ``MAX_CHANNELS``), the kinds against the C enums, and the
invariants the kernels assume (a rational's remainder below its
denominator, ascending onsets, positive lengths); a wrong one is a
``ValueError`` (``TypeError`` for a wrong type) naming the field.  Plans
hold tuples, never lists: they are hashable, and equal specs give equal
plans (the session engine compiles each distinct plan once).

Plans are for the compiled layer and for tests (the numpy oracle reads
them too); users build specs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral, Real

from . import _checks
from ._core import MAX_BREAKPOINTS, MAX_CHANNELS, MAX_SEGMENTS, MAX_STATES, POLARITIES, SHAPES

__all__ = ["Rational", "SampleTime", "TemplatePlan", "RegularSchedule", "BurstSchedule", "SweepSchedule",
           "HeldTail", "CustomSchedule", "Schedule", "SCHEDULES", "PatternPlan", "EnvelopePlan", "ProgramPlan",
           "StagePlan"]

#: a rational's denominator stays below this (csrc/mw_rational.h: products fit in int64)
MAX_DEN = 2**31 - 1


# ---- the checks (cheap: these run every time a generator is built) ----------------
def _typed(owner: str, name: str, value, types, what: str):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise TypeError(f"{owner}.{name}={_checks.shown(value)} must be {what}, not a bool")
    if not isinstance(value, types):
        raise TypeError(f"{owner}.{name}={_checks.shown(value)} must be {what}, not {type(value).__name__}")
    return value


def _int(owner: str, name: str, value, lo: int, hi: int | None = None, hi_from: str = "") -> None:
    """An int from ``lo`` to ``hi``; ``hi_from`` says which field sets ``hi`` (its name and
    value, so that a conflict between two fields names both)."""
    if type(value) is not int:   # the common case without the ABC's isinstance
        _typed(owner, name, value, Integral, "an int")
    if value < lo or (hi is not None and value > hi):
        allowed = f"{lo} to {hi}{f' ({hi_from})' if hi_from else ''}" if hi is not None else f">= {lo}"
        raise ValueError(f"{owner}.{name}={_checks.shown(value)} is not allowed: {allowed}")


def _finite(value) -> bool:
    """Whether a number is finite; an int or Fraction beyond any float is not
    (math.isfinite would raise OverflowError for it)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _real(owner: str, name: str, value, lo: float | None = None, *, lo_open: bool = False,
          hi: float | None = None, hi_open: bool = False) -> None:
    if type(value) is not float and type(value) is not int:   # the common cases without the ABC's isinstance
        _typed(owner, name, value, Real, "a number")
    if not _finite(value) or (lo is not None and (value <= lo if lo_open else value < lo)) \
            or (hi is not None and (value >= hi if hi_open else value > hi)):
        lo_s = "" if lo is None else (f"> {lo:g}" if lo_open else f">= {lo:g}")
        hi_s = "" if hi is None else (f"< {hi:g}" if hi_open else f"<= {hi:g}")
        allowed = " and ".join(s for s in (lo_s, hi_s) if s) or "finite"
        raise ValueError(f"{owner}.{name}={_checks.shown(value)} is not allowed: {allowed} (finite)")


def _reals(owner: str, name: str, values: tuple, lo: float | None = None) -> None:
    """Each item a finite number (>= ``lo``); the item's name is only formatted for an error."""
    for i, v in enumerate(values):
        try:
            ok = (type(v) is float or type(v) is int) and math.isfinite(v) and (lo is None or v >= lo)
        except OverflowError:   # an int beyond any float: _real names it
            ok = False
        if not ok:
            _real(owner, f"{name}[{i}]", v, lo)


def _ints(owner: str, name: str, values: tuple, lo: int) -> None:
    """Each item an int >= ``lo``; the item's name is only formatted for an error."""
    for i, v in enumerate(values):
        if type(v) is not int or v < lo:
            _int(owner, f"{name}[{i}]", v, lo)


def _items(owner: str, name: str, value, limit: int, limit_name: str, what: str) -> tuple:
    """A tuple of 1 to ``limit`` items (the length a C array holds)."""
    _typed(owner, name, value, tuple, "a tuple")
    if not 1 <= len(value) <= limit:
        raise ValueError(f"{owner}.{name} has {len(value)} {what}: 1 to {limit_name}={limit} fit the compiled state")
    return value


def _same_length(owner: str, names: tuple[str, ...], values: tuple[tuple, ...]) -> None:
    if len({len(v) for v in values}) > 1:
        lens = ", ".join(f"{n} {len(v)}" for n, v in zip(names, values))
        raise ValueError(f"{owner}: {lens} entries: give one of each per entry")


def _optional(owner: str, name: str, value, cls: type) -> None:
    if value is not None:
        _typed(owner, name, value, cls, f"a {cls.__name__} or None")


# ---- the pieces -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rational:
    """An exact, non-negative number of samples: ``whole + rem / den``
    (``mw_rat``, csrc/mw_rational.h).

    Parameters
    ----------
    whole : int
        The whole samples (>= 0).
    rem : int
        The remainder, in ``1 / den`` of a sample (0 to ``den - 1``).
    den : int
        The denominator (1 to ``MAX_DEN`` = 2**31 - 1, so that products fit in int64).

    Raises
    ------
    TypeError
        A field that is not an int (a bool or a whole float is refused too).
    ValueError
        ``den`` outside 1 to ``MAX_DEN``, ``whole`` below 0, or ``rem``
        outside 0 to ``den - 1`` (the field named in the message).
    """

    whole: int
    rem: int
    den: int

    def __post_init__(self):
        _int("Rational", "den", self.den, 1, MAX_DEN)
        _int("Rational", "whole", self.whole, 0)
        _int("Rational", "rem", self.rem, 0, self.den - 1, f"below den={self.den!r}")

    @property
    def samples(self) -> float:
        """The value as a float (for estimates, not for onsets)."""
        return self.whole + self.rem / self.den

    @classmethod
    def nearest(cls, x: Fraction, max_den: int = MAX_DEN) -> Rational:
        """The rational nearest ``x`` whose denominator is at most ``max_den``.

        Parameters
        ----------
        x : fractions.Fraction or number
            A number of samples (>= 0, finite; a float is taken at its exact binary value).
        max_den : int
            The largest denominator allowed (default :data:`MAX_DEN`).

        Returns
        -------
        Rational

        Raises
        ------
        TypeError
            ``x`` not a number, or ``max_den`` not an int (a bool is refused for either).
        ValueError
            ``x`` below 0 or not finite, or ``max_den`` outside 1 to :data:`MAX_DEN` (named in the message).
        """
        _real("Rational.nearest", "x", x, 0.0)
        _int("Rational.nearest", "max_den", max_den, 1, MAX_DEN)
        x = Fraction(x)
        if x.denominator > max_den:
            x = x.limit_denominator(max_den)
        return cls(x.numerator // x.denominator, x.numerator % x.denominator, x.denominator)

    @property
    def positive(self) -> bool:
        """Whether it is above zero."""
        return self.whole > 0 or self.rem > 0


@dataclass(frozen=True, slots=True)
class SampleTime:
    """A time in samples, ``whole + frac`` (where a train ends: its pulses
    start before it; ``end_whole``/``end_frac`` of ``mw_schedule``).

    Parameters
    ----------
    whole : int
        The whole samples (>= 0).
    frac : float
        The fraction of a sample after them (0 <= frac < 1).

    Raises
    ------
    TypeError
        ``whole`` is not an int, or ``frac`` not a number (a bool is refused for either).
    ValueError
        ``whole`` below 0, or ``frac`` not finite or outside [0, 1) (named in the message).
    """

    whole: int
    frac: float

    def __post_init__(self):
        _int("SampleTime", "whole", self.whole, 0)
        _real("SampleTime", "frac", self.frac, 0.0, hi=1.0, hi_open=True)


@dataclass(frozen=True, slots=True)
class TemplatePlan:
    """One pulse as a piecewise-linear function of the time since its onset
    (``mw_template``, csrc/mw_template.h): breakpoints ``taus_samples``
    (from 0, non-decreasing; a hard edge is two at one time) and the current
    at each, ``values_ua`` (0 at both ends).  A custom train's template is
    of 1 uA, scaled by each pulse's ``amps_ua``.

    Parameters
    ----------
    taus_samples : tuple of float
        The breakpoints' times since the onset, samples (finite, the first 0,
        non-decreasing; 1 to ``MAX_BREAKPOINTS`` of them).
    values_ua : tuple of float
        The current at each breakpoint, uA (finite, 0 at the first and the
        last; one per breakpoint).

    Raises
    ------
    TypeError
        A field that is not a tuple, or an item that is not a number.
    ValueError
        No breakpoint or more than ``MAX_BREAKPOINTS``, the two of different
        lengths, an item not finite, a time below 0, a first time other than
        0, a time before the one preceding it, or a current other than 0 at
        either end (named in the message).
    """

    taus_samples: tuple[float, ...]
    values_ua: tuple[float, ...]

    def __post_init__(self):
        own = "TemplatePlan"
        taus = _items(own, "taus_samples", self.taus_samples, MAX_BREAKPOINTS, "MAX_BREAKPOINTS", "breakpoints")
        vals = _items(own, "values_ua", self.values_ua, MAX_BREAKPOINTS, "MAX_BREAKPOINTS", "breakpoints")
        _same_length(own, ("taus_samples", "values_ua"), (taus, vals))
        _reals(own, "taus_samples", taus, 0.0)
        _reals(own, "values_ua", vals)
        if taus[0] != 0.0:
            raise ValueError(f"{own}.taus_samples[0]={taus[0]!r} is not allowed: a pulse starts at its onset (0)")
        for i in range(1, len(taus)):
            # (a rounding of a float's last bits, where an edge meets the next, is allowed)
            if taus[i] < taus[i - 1] - 1e-9 * max(1.0, taus[i - 1]):
                raise ValueError(f"{own}.taus_samples[{i}]={taus[i]!r} is before taus_samples[{i - 1}]="
                                 f"{taus[i - 1]!r}: breakpoints are non-decreasing")
        if vals[0] != 0.0 or vals[-1] != 0.0:
            raise ValueError(f"{own}.values_ua={vals!r} is not allowed: a pulse starts and ends at 0")

    @property
    def end_samples(self) -> float:
        """The pulse's footprint: from its onset to its end, samples."""
        return self.taus_samples[-1]


# ---- the schedules: one class per timing kind ------------------------------------------
@dataclass(frozen=True, slots=True)
class RegularSchedule:
    """Pulses every ``period`` samples from ``delay`` on, exactly
    (``MW_SCHED_REGULAR`` without bursts).

    Parameters
    ----------
    period : Rational
        From one onset to the next, samples (> 0).
    delay : Rational
        The first onset, samples (>= 0).
    end : SampleTime or None
        Where the train ends, samples (pulses start before it); None: never
        (default).

    Raises
    ------
    TypeError
        ``period`` or ``delay`` is not a :class:`Rational`, or ``end`` not a
        :class:`SampleTime` or None.
    ValueError
        ``period`` is 0 samples.
    """

    period: Rational
    delay: Rational
    end: SampleTime | None = None

    def __post_init__(self):
        own = type(self).__name__
        _typed(own, "period", self.period, Rational, "a Rational")
        _typed(own, "delay", self.delay, Rational, "a Rational")
        _optional(own, "end", self.end, SampleTime)
        if not self.period.positive:
            raise ValueError(f"{own}.period={self.period!r} is not allowed: > 0 samples")

    def longest_gap_samples(self, rate: int) -> float:
        """The longest onset-to-onset interval, samples.

        Parameters
        ----------
        rate : int
            The sample rate, Hz (checked, though unused: the period is in samples
            already; taken as every schedule takes it).

        Returns
        -------
        float
            The period, samples.

        Raises
        ------
        TypeError
            ``rate`` is not a number (a bool or a str included).
        ValueError
            ``rate`` is not a whole number of Hz from 1000 to 768000 (the
            sample rates every spec accepts; named in the message).
        """
        _checks.rate(rate)   # (only a sweep reads it: checked by every schedule alike)
        return self.period.samples


@dataclass(frozen=True, slots=True)
class BurstSchedule:
    """A regular train restarted every ``burst_cycle`` samples, its pulses
    starting while less than ``burst_on`` samples into the burst
    (``MW_SCHED_REGULAR`` with bursts; ``burst_cycle`` and ``delay`` share
    a denominator, for exact addition in C).

    Parameters
    ----------
    period : Rational
        From one onset to the next within a burst, samples (> 0).
    delay : Rational
        The first burst's first onset, samples (>= 0).
    burst_on : Rational
        How long into a burst pulses may start, samples (>= 0; 0: one pulse
        a burst).
    burst_cycle : Rational
        From one burst's start to the next, samples (> 0; with the
        denominator of ``delay``).
    end : SampleTime or None
        Where the train ends, samples (pulses start before it); None: never
        (default).

    Raises
    ------
    TypeError
        ``period``, ``delay``, ``burst_on`` or ``burst_cycle`` is not a
        :class:`Rational`, or ``end`` not a :class:`SampleTime` or None.
    ValueError
        ``period`` or ``burst_cycle`` is 0 samples, or ``burst_cycle`` and
        ``delay`` have different denominators (named in the message).
    """

    period: Rational
    delay: Rational
    burst_on: Rational
    burst_cycle: Rational
    end: SampleTime | None = None

    def __post_init__(self):
        own = type(self).__name__
        for name in ("period", "delay", "burst_on", "burst_cycle"):
            _typed(own, name, getattr(self, name), Rational, "a Rational")
        _optional(own, "end", self.end, SampleTime)
        # (burst_on may be 0: then each burst is one pulse; a cycle of 0 would never advance)
        for name in ("period", "burst_cycle"):
            if not getattr(self, name).positive:
                raise ValueError(f"{own}.{name}={getattr(self, name)!r} is not allowed: > 0 samples")
        if self.burst_cycle.den != self.delay.den:
            raise ValueError(f"{own}.burst_cycle={self.burst_cycle!r} and delay={self.delay!r} must share a "
                             f"denominator (they are added exactly)")

    @property
    def pulses_per_burst(self) -> int:
        """Pulses in each burst: those starting before ``burst_on``, and at least one
        (a burst of ``burst_on`` 0 is one pulse, as the kernel plays it)."""
        p, on = self.period, self.burst_on
        # ceil(on / period) in integers
        num, den = (on.whole * on.den + on.rem) * p.den, (p.whole * p.den + p.rem) * on.den
        return max(1, -(-num // den))

    def longest_gap_samples(self, rate: int) -> float:
        """The longest onset-to-onset interval (across the silence between bursts), samples.

        Parameters
        ----------
        rate : int
            The sample rate, Hz (checked, though unused: the schedule is in samples
            already; taken as every schedule takes it).

        Returns
        -------
        float
            The longer of the period and the gap from a burst's last onset to the
            next burst's first, samples (an estimate, in floats).

        Raises
        ------
        TypeError
            ``rate`` is not a number (a bool or a str included).
        ValueError
            ``rate`` is not a whole number of Hz from 1000 to 768000 (the
            sample rates every spec accepts; named in the message).
        """
        _checks.rate(rate)   # (only a sweep reads it: checked by every schedule alike)
        period = self.period.samples
        # in floats (an estimate: it sizes a session step's gate), as it always was
        per_burst = math.ceil(self.burst_on.samples / period - 1e-12)
        return max(period, self.burst_cycle.samples - (per_burst - 1) * period)


@dataclass(frozen=True, slots=True)
class SweepSchedule:
    """Phase-continuous pulses whose rate goes from ``start_hz`` to
    ``stop_hz`` over ``seconds`` (linear or ``log`` in frequency), then
    stays; pulse k where the phase reaches k cycles (``MW_SCHED_SWEEP``).

    Parameters
    ----------
    start_hz : float
        The pulse rate at the start of the sweep, Hz (> 0, finite).
    stop_hz : float
        The pulse rate at its end and after, Hz (> 0, finite).
    seconds : float
        How long the sweep takes, s (> 0, finite).
    log : bool
        Sweep logarithmically in frequency (else linearly).
    delay_s : float
        When the sweep starts, s (>= 0, finite).
    phase_at_end_cycles : float
        The phase at the sweep's end, cycles: the pulses during the sweep
        (>= 0, finite).
    end : SampleTime or None
        Where the train ends, samples (pulses start before it); None: never
        (default).

    Raises
    ------
    TypeError
        A number field that is not a number (or is a bool), ``log`` not a
        bool, or ``end`` not a :class:`SampleTime` or None.
    ValueError
        ``start_hz``, ``stop_hz`` or ``seconds`` not above 0, ``delay_s`` or
        ``phase_at_end_cycles`` below 0, or any of them not finite (named in
        the message).
    """

    start_hz: float
    stop_hz: float
    seconds: float
    log: bool
    delay_s: float
    phase_at_end_cycles: float
    end: SampleTime | None = None

    def __post_init__(self):
        own = type(self).__name__
        for name in ("start_hz", "stop_hz", "seconds"):
            _real(own, name, getattr(self, name), 0.0, lo_open=True)
        _typed(own, "log", self.log, bool, "a bool")
        _real(own, "delay_s", self.delay_s, 0.0)
        _real(own, "phase_at_end_cycles", self.phase_at_end_cycles, 0.0)
        _optional(own, "end", self.end, SampleTime)

    def longest_gap_samples(self, rate: int) -> float:
        """The longest onset-to-onset interval (at the slower end), samples.

        Parameters
        ----------
        rate : int
            The sample rate, Hz (the sweep's rates are per second: this turns them into samples).

        Returns
        -------
        float
            ``rate`` over the lower of ``start_hz`` and ``stop_hz``, samples.

        Raises
        ------
        TypeError
            ``rate`` is not a number (a bool or a str included).
        ValueError
            ``rate`` is not a whole number of Hz from 1000 to 768000 (the
            sample rates every spec accepts; named in the message).
        """
        rate = _checks.rate(rate)
        return rate / min(self.start_hz, self.stop_hz)

    def held(self, rate: int) -> HeldTail:
        """The pulses after the sweep, at ``stop_hz``: a regular train from
        the first pulse past ``phase_at_end_cycles`` on, in exact samples
        (the core's ``tail_k``, ``delay`` and ``period`` of a sweep).

        ``stop_hz`` is read as the decimal it stands for (to 1e-6 Hz, as a
        train's ``freq_hz`` is).  That pulse's onset is the phase law's,
        ``delay_s + seconds + (k - phase_at_end_cycles) / stop_hz`` worked
        out exactly, to 2**-30 of a sample; each one after it comes a
        period later, ``rate / stop_hz`` samples.  So
        the tail repeats exactly, like a regular train, and its onsets
        never drift, however long it holds.

        Parameters
        ----------
        rate : int
            The sample rate, Hz.

        Returns
        -------
        HeldTail

        Raises
        ------
        TypeError, ValueError
            ``rate`` not a whole number of Hz from 1000 to 768000 (named in
            the message).
        """
        rate = _checks.rate(rate)
        first = math.floor(self.phase_at_end_cycles) + 1
        hz = Fraction(self.stop_hz).limit_denominator(10**6)
        t = (Fraction(self.delay_s) + Fraction(self.seconds) + (first - Fraction(self.phase_at_end_cycles)) / hz) * rate
        return HeldTail(first_pulse=first, onset=Rational.nearest(Fraction(round(t * 2**30), 2**30)),
                        period=Rational.nearest(rate / hz))


@dataclass(frozen=True, slots=True)
class HeldTail:
    """A sweep's pulses after its end (:meth:`SweepSchedule.held`): a
    regular train at its stop rate.

    Parameters
    ----------
    first_pulse : int
        The index of its first pulse (>= 1: the pulses before it are the
        sweep's).
    onset : Rational
        That pulse's onset, samples.
    period : Rational
        Onset to onset after it, samples (above 0).

    Raises
    ------
    TypeError
        ``first_pulse`` not an int, or ``onset`` or ``period`` not a :class:`Rational`.
    ValueError
        ``first_pulse`` below 1, or ``period`` 0 (named in the message).
    """

    first_pulse: int
    onset: Rational
    period: Rational

    def __post_init__(self):
        own = type(self).__name__
        _int(own, "first_pulse", self.first_pulse, 1)
        _typed(own, "onset", self.onset, Rational, "a Rational")
        _typed(own, "period", self.period, Rational, "a Rational")
        if not self.period.positive:
            raise ValueError(f"{own}.period={self.period!r} is not allowed: above 0 samples")


@dataclass(frozen=True, slots=True)
class CustomSchedule:
    """Pulses at listed onsets (samples, ascending, within one loop) with
    listed amplitudes, once or every ``loop_samples`` (``MW_SCHED_CUSTOM``).

    Parameters
    ----------
    onsets_samples : tuple of float
        The pulses' onsets within a loop, samples (at least one; >= 0,
        finite, strictly ascending).
    amps_ua : tuple of float
        Each pulse's amplitude, uA (finite, signed; one per onset): it
        scales the template of 1 uA.
    loop_samples : float
        The loop's length, samples: 0 to play the onsets once, else after
        the last onset (finite).
    delay_samples : float
        The first loop's start, samples (>= 0, finite).
    end : SampleTime or None
        Where the train ends, samples (pulses start before it); None: never
        (default).

    Raises
    ------
    TypeError
        ``onsets_samples`` or ``amps_ua`` is not a tuple, an item or a number
        field not a number, or ``end`` not a :class:`SampleTime` or None.
    ValueError
        No onset, the two tuples of different lengths, an item or a number
        field not finite, an onset below 0 or not after the one before it,
        ``loop_samples`` below 0 or (when not 0) not after the last onset,
        or ``delay_samples`` below 0 (named in the message).
    """

    onsets_samples: tuple[float, ...]
    amps_ua: tuple[float, ...]
    loop_samples: float
    delay_samples: float
    end: SampleTime | None = None

    def __post_init__(self):
        own = type(self).__name__
        _typed(own, "onsets_samples", self.onsets_samples, tuple, "a tuple")
        _typed(own, "amps_ua", self.amps_ua, tuple, "a tuple")
        if not self.onsets_samples:
            raise ValueError(f"{own}.onsets_samples=() is not allowed: at least one onset")
        _same_length(own, ("onsets_samples", "amps_ua"), (self.onsets_samples, self.amps_ua))
        _reals(own, "onsets_samples", self.onsets_samples, 0.0)
        _reals(own, "amps_ua", self.amps_ua)
        for i, t in enumerate(self.onsets_samples):
            if i and t <= self.onsets_samples[i - 1]:
                raise ValueError(f"{own}.onsets_samples[{i}]={t!r} is not after onsets_samples[{i - 1}]="
                                 f"{self.onsets_samples[i - 1]!r}: onsets ascend")
        _real(own, "loop_samples", self.loop_samples, 0.0)
        if self.loop_samples > 0 and self.loop_samples <= self.onsets_samples[-1]:
            raise ValueError(f"{own}.loop_samples={self.loop_samples!r} is not allowed: 0 (play once) or after "
                             f"the last onset (onsets_samples[-1]={self.onsets_samples[-1]!r})")
        _real(own, "delay_samples", self.delay_samples, 0.0)
        _optional(own, "end", self.end, SampleTime)

    def longest_gap_samples(self, rate: int) -> float:
        """The longest onset-to-onset interval (around the loop too), samples; 1 for a single pulse once.

        Parameters
        ----------
        rate : int
            The sample rate, Hz (checked, though unused: the onsets are in samples
            already; taken as every schedule takes it).

        Returns
        -------
        float
            The longest gap between consecutive onsets (and from the last onset
            round the loop to the first), samples; 1.0 for a single pulse played once.

        Raises
        ------
        TypeError
            ``rate`` is not a number (a bool or a str included).
        ValueError
            ``rate`` is not a whole number of Hz from 1000 to 768000 (the
            sample rates every spec accepts; named in the message).
        """
        _checks.rate(rate)   # (only a sweep reads it: checked by every schedule alike)
        on = self.onsets_samples
        gaps = [b - a for a, b in zip(on, on[1:])]
        if self.loop_samples > 0:
            gaps.append(self.loop_samples - on[-1] + on[0])
        return max(gaps) if gaps else 1.0


#: a pulse schedule: one of the timing kinds, peers
Schedule = RegularSchedule | BurstSchedule | SweepSchedule | CustomSchedule
#: the schedule classes (for isinstance)
SCHEDULES = (RegularSchedule, BurstSchedule, SweepSchedule, CustomSchedule)
_SCHEDULE_NAMES = "one of " + ", ".join(c.__name__ for c in SCHEDULES)


# ---- pattern, envelope, program, stage ------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatternPlan:
    """A polarity pattern (``mw_pattern``, csrc/mw_pattern.h): a cycle of
    states (``kinds``: :data:`~microwave._core.POLARITIES` numbers), each held
    for ``lengths`` pulses, or samples when ``by_time``.

    Parameters
    ----------
    by_time : bool
        Whether ``lengths`` are samples (a timed pattern) rather than pulses.
    kinds : tuple of int
        Each state's polarity, a :data:`~microwave._core.POLARITIES` number
        (1 to ``MAX_STATES`` states).
    lengths : tuple of int
        How long each state holds: pulses, or samples when ``by_time``
        (>= 1; one per state).

    Raises
    ------
    TypeError
        ``by_time`` is not a bool, ``kinds`` or ``lengths`` not a tuple, or
        an item not an int.
    ValueError
        No state or more than ``MAX_STATES``, the two of different lengths,
        a kind that is not a ``POLARITIES`` number, or a length below 1
        (named in the message).
    """

    by_time: bool
    kinds: tuple[int, ...]
    lengths: tuple[int, ...]

    def __post_init__(self):
        own = "PatternPlan"
        _typed(own, "by_time", self.by_time, bool, "a bool")
        kinds = _items(own, "kinds", self.kinds, MAX_STATES, "MAX_STATES", "states")
        lengths = _items(own, "lengths", self.lengths, MAX_STATES, "MAX_STATES", "states")
        _same_length(own, ("kinds", "lengths"), (kinds, lengths))
        allowed = sorted(POLARITIES.values())
        for i, k in enumerate(kinds):
            if type(k) is not int:
                _typed(own, f"kinds[{i}]", k, Integral, "an int")
            if k not in allowed:
                raise ValueError(f"{own}.kinds[{i}]={k!r} is not allowed: one of {allowed} (POLARITIES)")
        _ints(own, "lengths", lengths, 1)

    @property
    def cycle(self) -> int:
        """One cycle's length: pulses, or samples when ``by_time``."""
        return sum(self.lengths)


@dataclass(frozen=True, slots=True)
class EnvelopePlan:
    """An amplitude envelope or a step's gate (``mw_envelope``,
    csrc/mw_envelope.h): segments of ``lengths_samples`` samples, each going
    from ``from_levels`` to ``to_levels`` with a shape
    (:data:`~microwave._core.SHAPES` numbers), looped or then holding
    ``after_level``.

    Parameters
    ----------
    lengths_samples : tuple of int
        Each segment's length, samples (>= 1; 1 to ``MAX_SEGMENTS`` segments).
    shapes : tuple of int
        Each segment's shape, a :data:`~microwave._core.SHAPES` number.
    from_levels : tuple of float
        The level at each segment's start, a fraction of the amplitude (finite).
    to_levels : tuple of float
        The level at each segment's end, a fraction of the amplitude (finite).
    loop : bool
        Repeat the segments forever (else hold ``after_level`` after them).
    after_level : float
        The level after the last segment when not looping (finite).

    Raises
    ------
    TypeError
        A tuple field that is not a tuple, an item of the wrong type (an int
        for lengths and shapes, a number for levels), ``loop`` not a bool or
        ``after_level`` not a number.
    ValueError
        No segment or more than ``MAX_SEGMENTS``, the four tuples of
        different lengths, a length below 1, a shape that is not a
        ``SHAPES`` number, or a level not finite (named in the message).
    """

    lengths_samples: tuple[int, ...]
    shapes: tuple[int, ...]
    from_levels: tuple[float, ...]
    to_levels: tuple[float, ...]
    loop: bool
    after_level: float

    def __post_init__(self):
        own = "EnvelopePlan"
        names = ("lengths_samples", "shapes", "from_levels", "to_levels")
        cols = tuple(_items(own, n, getattr(self, n), MAX_SEGMENTS, "MAX_SEGMENTS", "segments") for n in names)
        _same_length(own, names, cols)
        allowed = sorted(SHAPES.values())
        _ints(own, "lengths_samples", cols[0], 1)
        for i, s in enumerate(cols[1]):
            if type(s) is not int:
                _typed(own, f"shapes[{i}]", s, Integral, "an int")
            if s not in allowed:
                raise ValueError(f"{own}.shapes[{i}]={s!r} is not allowed: one of {allowed} (SHAPES)")
        _reals(own, "from_levels", cols[2])
        _reals(own, "to_levels", cols[3])
        _typed(own, "loop", self.loop, bool, "a bool")
        _real(own, "after_level", self.after_level)

    @property
    def total_samples(self) -> int:
        """One pass through the segments, samples."""
        return sum(self.lengths_samples)

    @property
    def edges_samples(self) -> tuple[int, ...]:
        """The sample where each segment ends (cumulative lengths)."""
        out, t = [], 0
        for n in self.lengths_samples:
            t += n
            out.append(t)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class ProgramPlan:
    """One channel's program (``mw_program``, csrc/mw_program.h, with its
    ``mw_train``): a pulse ``template`` scaled by ``sign`` at the onsets of
    ``schedule``, signed pulse by pulse by ``pattern``, under ``envelope``
    and a session step's ``gate``.  A *unit* (``unit_pulses`` pulses: 2
    for an alternating monophasic pair) takes one gain;
    ``unit_period_samples`` is the longest a unit takes to come round and
    ``unit_len_samples`` the longest it lasts.

    Parameters
    ----------
    rate : int
        Samples per second, Hz (>= 1), the rate the plan is in.
    template : TemplatePlan
        One pulse.
    sign : float
        1.0, or -1.0 to flip every pulse.
    schedule : RegularSchedule, BurstSchedule, SweepSchedule or CustomSchedule
        When the pulses start (the :data:`Schedule` union).
    pattern : PatternPlan or None
        The pulses' polarities, or None for the template's own.
    envelope : EnvelopePlan or None
        The amplitude envelope, or None for a constant amplitude.
    unit_pulses : int
        Pulses that share one gain (1, or 2 for an alternating monophasic pair).
    unit_period_samples : float
        The longest a unit takes to come round, samples (> 0, finite).
    unit_len_samples : float
        The longest a unit lasts, samples (>= 0, finite).
    gate : EnvelopePlan or None
        A session step's gate, or None (default).

    Raises
    ------
    TypeError
        A field of the wrong type: ``rate`` or ``unit_pulses`` not an int, a
        number field not a number, ``template`` not a :class:`TemplatePlan`,
        ``schedule`` not one of :data:`SCHEDULES`, ``pattern`` not a
        :class:`PatternPlan` or None, ``envelope`` or ``gate`` not an
        :class:`EnvelopePlan` or None.
    ValueError
        ``rate`` below 1, ``sign`` other than 1.0 or -1.0, ``unit_pulses``
        other than 1 or 2, ``unit_period_samples`` not above 0,
        ``unit_len_samples`` below 0, or a number not finite (named in the
        message).
    """

    rate: int
    template: TemplatePlan
    sign: float
    schedule: Schedule
    pattern: PatternPlan | None
    envelope: EnvelopePlan | None
    unit_pulses: int
    unit_period_samples: float
    unit_len_samples: float
    gate: EnvelopePlan | None = None

    def __post_init__(self):
        own = "ProgramPlan"
        _int(own, "rate", self.rate, 1)
        _typed(own, "template", self.template, TemplatePlan, "a TemplatePlan")
        _real(own, "sign", self.sign)
        if self.sign not in (1.0, -1.0):
            raise ValueError(f"{own}.sign={self.sign!r} is not allowed: 1.0 or -1.0")
        _typed(own, "schedule", self.schedule, SCHEDULES, _SCHEDULE_NAMES)
        _optional(own, "pattern", self.pattern, PatternPlan)
        _optional(own, "envelope", self.envelope, EnvelopePlan)
        _optional(own, "gate", self.gate, EnvelopePlan)
        _int(own, "unit_pulses", self.unit_pulses, 1, 2)
        _real(own, "unit_period_samples", self.unit_period_samples, 0.0, lo_open=True)
        _real(own, "unit_len_samples", self.unit_len_samples, 0.0)


@dataclass(frozen=True, slots=True)
class StagePlan:
    """The output stage and its supervisor (``mw_stage``, csrc/mw_stage.h):
    each program channel's ``routes`` (a DAC channel and the one that
    carries its negative for a bridged pair, or -1) and gain
    (``gains_dac_per_ua``), the DC clamp (``clamp_dac``), and for an AC
    coupling the supervisor's model and bounds; ``measure`` records the
    worst ratio instead of stopping (``Session.check``).

    Parameters
    ----------
    out_channels : int
        The DAC channels of the output (1 to ``MAX_CHANNELS``).
    routes : tuple of (int, int)
        Per program channel, its DAC channel and the DAC channel carrying its
        negative (a bridged pair) or -1 (1 to ``MAX_CHANNELS`` program channels).
    gains_dac_per_ua : tuple of float
        Per program channel, DAC units per uA (> 0, finite).
    clamp_dac : float
        The DC clamp: no DAC sample's magnitude exceeds it, DAC units (>= 0, finite).
    coupling : {"dc", "ac"}
        The stage's coupling.
    corner_hz : float or None
        The AC coupling's nominal corner frequency, Hz: the one whose charge
        the pre-emphasis makes up for (> 0, finite; required for "ac",
        checked whenever given).
    corner_lo_hz, corner_hi_hz : float or None
        The slowest and fastest corner the coupling may really have, Hz
        (``Stage.corner_range_hz``): the supervisor models corners across
        them (``microwave._core.supervisor_corners``).  Required for "ac":
        0 < corner_lo_hz <= corner_hz <= corner_hi_hz, finite, and at most
        ``SUPERVISOR_MAX_CORNERS`` corners (the session engine refuses more).
    pair_corner_hz : float or None
        The nominal corner of a bridged pair's loop where it is not
        ``corner_hz``, Hz: the one the pre-emphasis of a program channel
        routed to a pair inverts (a voltage-mode stage on an AC-coupled
        card, whose pair holds both capacitors in series: twice a single
        channel's; ``Stage.plan`` sets it where a map mixes the two).
        None (the default): ``corner_hz`` for every channel.  Checked
        whenever given: corner_hz <= pair_corner_hz <= corner_hi_hz.
    limit_ua : float
        The current the supervisor allows, uA (> 0, finite).
    rail_ua : tuple of float
        Per program channel, the DAC's swing in uA-equivalent (> 0, finite).
    bleed_fraction : float
        The current while a coupling's charge is bled, a fraction of
        ``limit_ua`` (>= 0, finite).
    measure : bool
        Record the worst ratio instead of stopping (default False).
    between_ua : float
        The supervisor's room, below its soft bound, for what the specs'
        own current rings past the samples at the highest level, uA (>= 0,
        finite; default 0: a held DAC, or measuring).
    pre_ring : float
        ... and for what a cut of the drive's pre-emphasis rings past the
        samples, a fraction of it (>= 0, finite; default 0).
    corner_moves : bool
        The corner may move from sample to sample within
        ``corner_lo_hz`` .. ``corner_hi_hz`` (a voltage-mode stage on an
        AC-coupled card, whose load changes as the contact does): the
        supervisor also bounds the current of every such path
        (``csrc/mw_supervisor.h``; default False).

    Raises
    ------
    TypeError
        A field of the wrong type: ``out_channels`` or a route's channel not
        an int, ``routes``, ``gains_dac_per_ua``, ``rail_ua`` or a route not
        a tuple, a number not a number (a corner None for "ac"
        included), ``coupling`` not a str, or ``measure`` or
        ``corner_moves`` not a bool.
    ValueError
        ``out_channels`` outside 1 to ``MAX_CHANNELS``; no program channel or
        more than ``MAX_CHANNELS``, or the three per-channel tuples of
        different lengths; a route not of two channels, or a channel outside
        the DAC's (-1 allowed for the negative); a gain, ``rail_ua``,
        ``limit_ua`` or ``corner_hz`` not above 0; the corners not in the
        order ``corner_lo_hz <= corner_hz <= corner_hi_hz``;
        ``pair_corner_hz`` given but not an AC coupling's, or not in
        ``corner_hz <= pair_corner_hz <= corner_hi_hz``; ``clamp_dac``,
        ``bleed_fraction``, ``between_ua`` or ``pre_ring`` below 0; a
        number not finite; or ``coupling`` other than "dc" or "ac" (named
        in the message).
    """

    out_channels: int
    routes: tuple[tuple[int, int], ...]
    gains_dac_per_ua: tuple[float, ...]
    clamp_dac: float
    coupling: str
    corner_hz: float | None
    corner_lo_hz: float | None
    corner_hi_hz: float | None
    limit_ua: float
    rail_ua: tuple[float, ...]
    bleed_fraction: float
    measure: bool = False
    between_ua: float = 0.0
    pre_ring: float = 0.0
    corner_moves: bool = False
    pair_corner_hz: float | None = None

    def __post_init__(self):
        own = "StagePlan"
        _int(own, "out_channels", self.out_channels, 1, MAX_CHANNELS)
        names = ("routes", "gains_dac_per_ua", "rail_ua")
        cols = tuple(_items(own, n, getattr(self, n), MAX_CHANNELS, "MAX_CHANNELS", "channels") for n in names)
        _same_length(own, names, cols)
        for i, (route, g, r) in enumerate(zip(*cols)):
            _typed(own, f"routes[{i}]", route, tuple, "a (DAC channel, negative DAC channel or -1) tuple")
            if len(route) != 2:
                raise ValueError(f"{own}.routes[{i}]={route!r} is not allowed: (DAC channel, negative or -1)")
            dac = f"the DAC's channels: out_channels={self.out_channels!r}"
            _int(own, f"routes[{i}][0]", route[0], 0, self.out_channels - 1, dac)
            _int(own, f"routes[{i}][1]", route[1], -1, self.out_channels - 1, dac)
            _real(own, f"gains_dac_per_ua[{i}]", g, 0.0, lo_open=True)
            _real(own, f"rail_ua[{i}]", r, 0.0, lo_open=True)   # (a stage plan is built once a session)
        _real(own, "clamp_dac", self.clamp_dac, 0.0)
        _typed(own, "coupling", self.coupling, str, "'dc' or 'ac'")   # (an array's `in` would be ambiguous)
        if self.coupling not in ("dc", "ac"):
            raise ValueError(f"{own}.coupling={self.coupling!r} is not allowed: 'dc' or 'ac'")
        corners = ("corner_hz", "corner_lo_hz", "corner_hi_hz")
        for name in corners:
            if self.coupling == "ac" or getattr(self, name) is not None:
                _real(own, name, getattr(self, name), 0.0, lo_open=True)
        if self.coupling == "ac" and not self.corner_lo_hz <= self.corner_hz <= self.corner_hi_hz:
            raise ValueError(f"{own}.corner_lo_hz={self.corner_lo_hz!r}, corner_hz={self.corner_hz!r}, "
                             f"corner_hi_hz={self.corner_hi_hz!r} are not allowed: corner_lo_hz <= corner_hz "
                             f"<= corner_hi_hz")
        if self.pair_corner_hz is not None:
            _real(own, "pair_corner_hz", self.pair_corner_hz, 0.0, lo_open=True)
            if self.coupling != "ac" or not self.corner_hz <= self.pair_corner_hz <= self.corner_hi_hz:
                raise ValueError(f"{own}.pair_corner_hz={self.pair_corner_hz!r} is not allowed: an AC coupling's, "
                                 f"corner_hz={self.corner_hz!r} <= pair_corner_hz <= "
                                 f"corner_hi_hz={self.corner_hi_hz!r}")
        _real(own, "limit_ua", self.limit_ua, 0.0, lo_open=True)
        _real(own, "bleed_fraction", self.bleed_fraction, 0.0)
        _typed(own, "measure", self.measure, bool, "a bool")
        _real(own, "between_ua", self.between_ua, 0.0)
        _real(own, "pre_ring", self.pre_ring, 0.0)
        _typed(own, "corner_moves", self.corner_moves, bool, "a bool")
