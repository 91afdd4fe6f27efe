"""Sessions: what a person runs -- zones, modes, durations, cues.

A :class:`Session` is a list of :class:`Step` s.  Each step treats one zone
(forehead, brows, cheeks, jaw, neck, or any name) with a program -- one spec
for every channel, or one spec per channel -- for some seconds, with a cue
every few seconds to move the device (NuFACE Mini beeps every 5 s).  Every
step starts and ends with a soft ramp, so the current never steps between
steps, and the whole session stops at ``auto_off_s`` (20 minutes by
default, as the NuFACE Mini+ does), ramping down before it.

>>> s = builtin("full-face")
>>> s.seconds                                          # 60 + 45 + 60 + 60 + 45
270.0
>>> frames = s.render(rate=48_000, stage=Stage(), seconds=5.0)   # DAC samples
>>> frames.shape                                       # (frames, DAC channels)
(240000, 2)
"""
from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass, fields

import numpy as np

from . import _checks, _toml, modes
from ._core import Generator
from ._core import SessionEngine
from .envelopes import Envelope, Ramp
from .plans import ProgramPlan
from ._reconstruct import GAP
from .pulses import Biphasic, Burst, Monophasic, Sweep, _at_a_rate, _Train
from .stage import MAX_CHANNELS, UA_PER_UNIT, Stage, ua_stage
from .stage import _given as _stage

__all__ = ["Session", "Step", "builtin", "load", "resolve", "ua_stage", "BUILTINS", "AUTO_OFF_S", "MIN_CUE_S",
           "MAX_STEPS", "UA_PER_UNIT"]

AUTO_OFF_S = 20 * 60.0   # NuFACE Mini+ (K201680): auto-off after 20 min
#: a session's steps at most (counted without reading past it from an endless iterator)
MAX_STEPS = 100_000
#: the shortest interval between cues to move the device (a person cannot
#: follow faster ones; a timeline of a 20-minute session stays small)
MIN_CUE_S = 0.5


class _StepRefusal(ValueError):
    """A session refused for one of its steps (``step``, from 0): a file's
    loader tells it at that step's ``[[step]]`` line."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class Step:
    """One zone treated with ``program`` for ``seconds``.

    Parameters
    ----------
    zone : str
        Where the electrodes go ("forehead", "jaw", any non-empty name).
    program : spec, or a tuple of specs
        One spec for every channel, or one per channel.
    seconds : float
        How long the step lasts, s (> 0, at most 86400).
    cue_every_s : float, optional
        A cue to move the device this often, s (at least :data:`MIN_CUE_S`).
    label : str
        What the step is called in reports (the mode's name, say).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message).
    """

    zone: str
    program: object
    seconds: float
    cue_every_s: float | None = None
    label: str = ""

    def __post_init__(self):
        _checks.text("zone", self.zone, empty=False, line=True)
        object.__setattr__(self, "seconds", _checks.number("seconds", self.seconds, 0, 86400, lo_open=True, unit="s"))
        if self.cue_every_s is not None:
            object.__setattr__(self, "cue_every_s", _checks.number("cue_every_s", self.cue_every_s, MIN_CUE_S, 86400,
                                                                   unit="s"))
        _checks.text("label", self.label, line=True)
        what = "a pulse-train spec (Biphasic, Monophasic, CustomTrain)"
        if isinstance(self.program, (list, tuple)):
            progs = _checks.sequence("program", self.program, "pulse-train specs, one per channel",
                                     max_len=MAX_CHANNELS)
            if not progs:
                raise ValueError("program=() is empty: give a spec, or one spec per channel")
            for i, p in enumerate(progs):
                _checks.instance(f"program[{i}]", p, _Train, what)
            object.__setattr__(self, "program", progs)
        else:
            _checks.instance("program", self.program, _Train, what + " or a tuple of them, one per channel")

    def programs(self, channels: int) -> tuple:
        """The spec of each of ``channels`` program channels.

        Parameters
        ----------
        channels : int
            The session's program channels (1 to 32).

        Returns
        -------
        tuple
            ``channels`` specs: the one spec repeated, or the step's own per channel.

        Raises
        ------
        ValueError, TypeError
            ``channels`` out of range or of the wrong type, or not the number of
            programs the step gives one per channel.
        """
        channels = _checks.integer("channels", channels, 1, MAX_CHANNELS)
        if not isinstance(self.program, tuple):
            return (self.program,) * channels
        if len(self.program) != channels:
            raise ValueError(f"step {self.zone!r} has {len(self.program)} channel programs "
                             f"for a {channels}-channel session")
        return self.program


@dataclass(frozen=True)
class Session:
    """A session: steps played one after the other on ``channels`` channels.

    Parameters
    ----------
    name : str
        What the session is called (reports, records, the player's display);
        not empty nor only blanks.
    steps : tuple of Step
        The steps, in order (at most :data:`MAX_STEPS`, 100000).
    channels : int
        Program channels (electrode pairs), 1 to 32; default 2.
    soft_start_s, soft_stop_s : float
        Each step's soft start and stop, s (0 to 600; default 2).  A ramp
        lasts at least three pulses (or alternating pairs) of its step.
    auto_off_s : float
        The session ends here, s, ramping down before it (default 1200,
        as the NuFACE Mini+; at most 3600).
    max_dose_ua_min : float
        The most net dose (net DC x minutes, uA min) on any channel; a
        session beyond it is refused (default 600).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message),
        or a dose beyond ``max_dose_ua_min``.

    Examples
    --------
    >>> from microwave import modes
    >>> s = Session("evening", (Step("forehead", modes.lift(3), 60), Step("jaw", modes.tighten(3), 45)))
    >>> s.seconds, s.peak_ua
    (105.0, 240.0)
    """

    name: str
    steps: tuple
    channels: int = 2
    soft_start_s: float = 2.0
    soft_stop_s: float = 2.0
    auto_off_s: float = AUTO_OFF_S
    max_dose_ua_min: float = modes.MAX_INFUSE_DOSE_UA_MIN

    def __post_init__(self):
        _checks.text("name", self.name, empty=False, line=True)
        steps = _checks.sequence("steps", self.steps, "Step", max_len=MAX_STEPS)
        for i, s in enumerate(steps):
            _checks.instance(f"steps[{i}]", s, Step, "a Step")
        object.__setattr__(self, "steps", steps)
        if not steps:
            raise ValueError("steps is empty: a session needs at least one step")
        object.__setattr__(self, "channels", _checks.integer("channels", self.channels, 1, MAX_CHANNELS))
        for name in ("soft_start_s", "soft_stop_s"):
            object.__setattr__(self, name, _checks.number(name, getattr(self, name), 0, 600, unit="s"))
        object.__setattr__(self, "auto_off_s",
                           _checks.number("auto_off_s", self.auto_off_s, 0, AUTO_OFF_S * 3, lo_open=True, unit="s"))
        for s in steps:
            s.programs(self.channels)
        object.__setattr__(self, "max_dose_ua_min",
                           _checks.number("max_dose_ua_min", self.max_dose_ua_min, 0, unit="uA*min"))
        dose, whole, steps_ua_min = self._dose(self.max_dose_ua_min)
        if dose > self.max_dose_ua_min or not whole:      # (a count cut short is past the limit, whatever rounds)
            # (a count cut short stopped in its last counted step: the steps after it are not known)
            i = int(np.argmax(steps_ua_min)) if whole else int(np.flatnonzero(steps_ua_min)[-1])
            step = steps[i]
            where = ("the most of it in" if whole else "the count passed it in")
            raise _StepRefusal(f"the session's net dose is {'' if whole else 'at least '}{dose:.1f} uA*min on one "
                             f"channel, beyond max_dose_ua_min={self.max_dose_ua_min:g}; {where} step "
                             f"{i + 1} ({step.zone!r}, {step.label or 'custom'}): {steps_ua_min[i]:.1f} uA*min"
                             f"{'' if whole else ' or more'}.  Shorten the steps that carry a net DC (an INFUSE "
                             f"step, a monophasic train of one polarity or of an uneven pattern) or lower their "
                             f"level or amp_ua", i)

    def _repr_png_(self) -> bytes | None:
        """Jupyter shows a session as a plot of its peak current over time,
        with its steps (matplotlib, imported only then)."""
        from .plot import notebook_png
        return notebook_png(self)

    def dose_ua_min(self) -> float:
        """The largest net dose on any channel, uA x min: in each step, the
        most net charge (unsigned, at level 1) the step has carried at any
        moment of it -- what has flowed if the session stops there -- /
        60, summed over the steps.  Counted on the session as it renders
        (at 48 kHz, or the rate its programs need), soft starts and stops
        and each step's silent last unit included, so every pulse counts
        with the sign it plays with: never estimated from a train's average
        rate, which a timed pattern, bursts or a sweep can make wrong, and
        never a step's final net alone, which a pattern like ``"5min+
        5min-"`` brings back to 0 after carrying 5 minutes one way."""
        return self._dose()[0]

    def _dose(self, stop_above_ua_min: float = math.inf) -> tuple[float, bool, np.ndarray]:
        """(:meth:`dose_ua_min`, whether the whole session was counted, each
        step's share on its most dosed channel, uA x min): the count stops as
        soon as the dose is more than ``stop_above_ua_min`` (a refusal need
        not render the rest: a review, 66 s for an hour of 32 channels)."""
        if all(p._balanced for s in self.steps for p in s.programs(self.channels)):
            return 0.0, True, np.zeros(len(self.steps))     # every pulse balances its own charge
        (_, peaks, whole), rate = _at_a_rate(lambda rate: _step_charges(self, rate, stop_above_ua_min))
        # uA x samples -> uA x min
        return float(peaks.sum(axis=0).max()) / rate / 60, whole, peaks.max(axis=1) / rate / 60

    def _step_sums_ua(self, rate: int) -> np.ndarray:
        """Each step's samples summed on each channel (steps x channels),
        uA x samples, at level 1: the session rendered at ``rate`` through a
        stage that passes the current (the report's DC)."""
        return _step_charges(self, rate)[0].copy()

    # ---- time line -----------------------------------------------------------
    def step_seconds(self) -> list[float]:
        """Each step's duration after the auto-off limit (steps past it are dropped)."""
        out, t = [], 0.0
        for s in self.steps:
            d = min(s.seconds, self.auto_off_s - t)
            if d <= 0:
                break
            out.append(d)
            t += d
        return out

    @property
    def seconds(self) -> float:
        """The session's length: its steps, cut at the auto-off."""
        return sum(self.step_seconds())

    def events(self):
        """(time s, event, zone) in time order, made as they are read: step
        starts, cues to move the device, and the end.  Cues come at most
        every :data:`MIN_CUE_S`, so a session has at most ``seconds /
        MIN_CUE_S`` of them, plus one event a step and the end."""
        t = 0.0
        for s, d in zip(self.steps, self.step_seconds()):
            yield t, f"start {s.label or 'custom'}", s.zone
            if s.cue_every_s:
                k = 1
                while k * s.cue_every_s < d - 1e-9:
                    yield t + k * s.cue_every_s, "cue: move", s.zone
                    k += 1
            t += d
        yield t, "end", ""

    def timeline(self) -> list[tuple[float, str, str]]:
        """:meth:`events` as a list."""
        return list(self.events())

    @property
    def peak_ua(self) -> float:
        """The highest current any step asks of any channel, uA (at level 1)."""
        return max(p.peak_ua for s in self.steps for p in s.programs(self.channels))

    # ---- rendering -------------------------------------------------------------
    def _gate(self, seconds: float, unit_period_s: float = 0.0, unit_len_s: float = 0.0) -> Envelope | None:
        """A step's soft start and soft stop.  Gain is taken one unit (a pulse,
        or an alternating pair) at a time, so each ramp lasts at least three
        units -- a ramp over LIFT's two-second pairs stays a ramp, not one
        step -- and the step's last ``unit_len_s`` is silent: every unit that
        starts in the step ends in it, before the next step's program takes
        over at the edge.  A soft start or stop of 0 s stays 0 s."""
        if seconds <= 0:
            return None
        body = seconds - unit_len_s
        if body <= 0:    # not one whole unit fits: the step is silent
            return Envelope((Ramp(0.0, 1.0, "cosine"), Ramp(0.0, 1.0, "hold"), Ramp(0.0, 0.0, "cosine"),
                             Ramp(seconds, 0.0, "hold")), start_level=0.0)
        a = max(self.soft_start_s, 3 * unit_period_s) if self.soft_start_s > 0 else 0.0
        r = max(self.soft_stop_s, 3 * unit_period_s) if self.soft_stop_s > 0 else 0.0
        if a + r > body:
            a = min(a * body / (a + r), body)
            r = max(0.0, body - a)
            while a + r > body:      # float rounding: never past the step
                if r > 0.0:
                    r = math.nextafter(r, 0.0)
                else:
                    a = math.nextafter(a, 0.0)
        return Envelope((Ramp(a, 1.0, "cosine"), Ramp(max(0.0, body - a - r), 1.0, "hold"), Ramp(r, 0.0, "cosine"),
                         Ramp(unit_len_s, 0.0, "hold")), start_level=0.0)

    def channels_on(self, stage: Stage) -> int:
        """Program channels played through ``stage``: all of them, or, when
        every step plays one program on every channel, as many as the stage
        routes (one bridged pair on a stereo card plays a 2-channel session
        of broadcast steps as one channel).

        Parameters
        ----------
        stage : Stage
            The output stage (None: ``Stage()``).

        Returns
        -------
        int

        Raises
        ------
        TypeError
            ``stage`` is not a Stage.
        """
        stage = _stage(stage)
        broadcast = all(not isinstance(s.program, tuple) for s in self.steps)
        return min(self.channels, len(stage.channel_map)) if broadcast else self.channels

    def check(self, stage: Stage, rate: int = _checks.DEFAULT_RATE) -> float:
        """Raise a clear error if ``stage`` cannot play this session within its
        limit; else the highest level (intensity multiplier) at which the
        current that flows stays within it (:meth:`Stage.assess
        <microwave.stage.Stage.assess>` says how: through an AC-coupled stage
        the whole session is simulated across the corner's tolerance).

        Parameters
        ----------
        stage : Stage
            The output stage (None: ``Stage()``).
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        float
            The highest level allowed: through an AC-coupled stage it may be a
            little below 1 (the supervisor keeps a few % of room below its
            limit for what the check cannot see), and a Player refuses a
            ``level`` above it.

        Raises
        ------
        ValueError
            The session asks more than the stage's limit, or than its drive can
            give through the coupling (the message says which and by how much).
        TypeError
            ``stage`` is not a Stage, or ``rate`` not a whole number.
        """
        rate = _checks.rate(rate)
        self._frames_to_play(rate)
        return _stage(stage).assess(self, rate)[0]

    def step_edges(self, rate: int) -> list[tuple[int, int]]:
        """(first sample, end sample) of each step.  Step boundaries fall at the
        nearest sample of their cumulative time, so they never drift.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000).

        Returns
        -------
        list of (int, int)
            One pair per step; each step starts where the one before ends.

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range.

        Examples
        --------
        >>> from microwave import modes
        >>> Session("s", (Step("a", modes.lift(), 1.5), Step("b", modes.lift(), 1.0))).step_edges(rate=1000)
        [(0, 1500), (1500, 2500)]
        """
        rate = _checks.rate(rate)
        out, t, edge = [], 0.0, 0
        for d in self.step_seconds():
            t += d
            out.append((edge, round(t * rate)))
            edge = out[-1][1]
        return out

    def step_plans(self, rate: int, channels: int) -> list[tuple[int, int, list[ProgramPlan]]]:
        """(first sample, end sample, one generator plan per channel) of each
        step: its spec's plan with the step's soft start and stop as the gate.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000).
        channels : int
            Program channels (1 to 32).

        Returns
        -------
        list of (int, int, list)

        Raises
        ------
        ValueError, TypeError
            ``rate`` or ``channels`` out of range or of the wrong type, or a step
            that gives another number of programs.
        """
        rate = _checks.rate(rate)
        channels = _checks.integer("channels", channels, 1, MAX_CHANNELS)
        out = []
        for s, d, (lo, hi) in zip(self.steps, self.step_seconds(), self.step_edges(rate)):
            plans = [p.plan(rate) for p in s.programs(channels)]
            gate = self._step_gate(d, plans, rate)[0].plan(rate)
            out.append((lo, hi, [dataclasses.replace(plan, gate=gate) for plan in plans]))
        return out

    def _step_gate(self, seconds: float, plans: list[ProgramPlan], rate: int) -> tuple[Envelope, float, float]:
        """A step's gate (:meth:`_gate`) for the programs of ``plans``, with
        their longest unit period and unit length (samples): what the
        engine and the oracle's plans both take."""
        period, length = _units(plans)
        # the silent end: the longest unit, whole samples and one for the gate's rounding, then GAP,
        # where a band-limited DAC's ringing of this step's last pulse has died out before the next's
        gate = self._gate(seconds, period / rate, (math.ceil(length) + 2 + GAP) / rate)
        assert gate is not None   # step_seconds() gives no step of 0 s, the one _gate leaves ungated
        return gate, period, length

    def engine(self, rate: int = _checks.DEFAULT_RATE, stage: Stage | None = None, ramp_s: float = 0.5,
               duration_s: float | None = None) -> SessionEngine:
        """The compiled engine that renders (or streams) this session, checked
        against ``stage`` first (:meth:`check`); its ``max_level`` is the
        highest level at which the current that flows stays within the stage's
        limit.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).
        stage : Stage or None
            The output stage (default None: ``Stage()``, the default stereo stage).
        ramp_s : float
            The length of every live level change, s (> 0, at most 60; default
            0.5), and of the fade when ``duration_s`` ends the session early.
        duration_s : float or None
            End the session here, s (> 0, at most its length): the fade
            reaches silence at ``duration_s`` exactly, whatever the block
            sizes (default None: play it all).

        Returns
        -------
        SessionEngine
            The compiled engine, at the session's first sample.

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type, or the stage cannot
            play the session within its limit (see :meth:`check`).
        """
        rate = _checks.rate(rate)
        stage = _stage(stage)
        ramp_s = _checks.number("ramp_s", ramp_s, 0, 60, lo_open=True, unit="s")
        if duration_s is not None:
            duration_s = _checks.span("duration_s", duration_s, self.seconds, lo_open=True)
        top = self.check(stage, rate)
        engine = self._engine(rate, stage, ramp_s, max_level=top)
        if duration_s is not None:
            engine.stop_at(round(duration_s * rate))
        return engine

    def _engine(self, rate: int, stage: Stage, ramp_s: float = 0.5, max_level: float = 1.0,
                measure: bool = False) -> SessionEngine:
        """The compiled engine.  Its memory grows with the distinct programs,
        not with the steps: equal plans (what equal specs give) compile once,
        and each step is a few numbers (its length, its programs' indices,
        its gate)."""
        channels = self.channels_on(stage)
        edges = self.step_edges(rate)
        n = len(edges)
        compiled: dict[ProgramPlan, int] = {}    # plan -> index: equal plans give equal samples
        plans: list[ProgramPlan] = []
        planned: dict[object, ProgramPlan] = {}   # spec -> its plan: equal specs are planned once
        index = np.empty((n, channels), dtype=np.int64)
        gates = np.empty((n, 4), dtype=np.int64)
        ramp_min = np.empty(n, dtype=np.int64)
        unit_len = np.empty(n, dtype=np.int64)
        for i, (s, d) in enumerate(zip(self.steps, self.step_seconds())):
            for c, spec in enumerate(s.programs(channels)):
                plan = planned.get(spec)
                if plan is None:
                    plan = planned[spec] = spec.plan(rate)
                if plan not in compiled:
                    compiled[plan] = len(plans)
                    plans.append(plan)
                index[i, c] = compiled[plan]
            gate, period, length = self._step_gate(d, [plans[k] for k in index[i]], rate)
            gates[i] = np.diff(gate.edges(rate), prepend=0)
            ramp_min[i] = math.ceil(3 * period)
            unit_len[i] = math.ceil(length) + 1
        total = self._frames_to_play(rate, edges)
        stage_plan = (dataclasses.replace(stage.plan(channels, rate), measure=True) if measure
                      else stage._supervised(self, rate, max_level))
        return SessionEngine([Generator(p) for p in plans], [hi - lo for lo, hi in edges], index, stage_plan, total,
                             float(rate), ramp_s=ramp_s, max_level=max_level, ramp_min=ramp_min,
                             unit_len=unit_len, step_gates=gates)

    def _frames_to_play(self, rate: int, edges: list[tuple[int, int]] | None = None) -> int:
        """The samples an engine plays at ``rate`` (the steps, cut at the
        auto-off), at least one: a session with none is refused naming
        what cuts it (it made a sound file of no frames).  ``edges``: the
        step edges at ``rate``, where the caller has them."""
        edges = self.step_edges(rate) if edges is None else edges
        total = min(edges[-1][1], round(self.auto_off_s * rate))
        if total == 0:
            asked = sum(s.seconds for s in self.steps)
            why = (f"auto_off_s={self.auto_off_s:g} stops it" if self.auto_off_s < asked else
                   f"its steps last {asked:g} s in all")
            raise ValueError(f"session {self.name!r} has no sample to play at rate={rate}: {why}, half a sample "
                             f"or less (1/{rate} s); give it at least {1 / rate:.3g} s")
        return total

    def frames(self, rate: int = _checks.DEFAULT_RATE) -> int:
        """The session's length in samples at ``rate``.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        int

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range.
        """
        rate = _checks.rate(rate)
        return round(self.seconds * rate)

    def render(self, rate: int = _checks.DEFAULT_RATE, stage: Stage | None = None,
               seconds: float | None = None) -> np.ndarray:
        """DAC frames, clamped: :func:`microwave.backends.array.render` of this session.

        ``seconds`` shorter than the session ends it there with the fade
        ``play --duration`` makes: a ramp of 0.5 s (or of three pulses, if
        longer) that reaches silence a whole pulse before the end.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).
        stage : Stage or None
            The output stage (default None: ``Stage()``, the default stereo stage).
        seconds : float or None
            How much to render, s (0 to the session's length, :attr:`seconds`;
            default None: the whole session).

        Returns
        -------
        numpy.ndarray
            float32, shape (frames, ``stage.out_channels``), within -1 to 1:
            the session's frames, then, through an AC stage, the bleed of
            the charge its coupling stores, to silence.

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (``seconds`` longer
            than the session included), or the stage cannot play the session
            within its limit.
        """
        from .backends.array import render
        return render(self, rate, stage, seconds)

    def render_ua(self, rate: int = _checks.DEFAULT_RATE, seconds: float | None = None) -> np.ndarray:
        """The current asked of each channel, through an ideal DC stage of unit
        gain: what ``info`` describes (:func:`microwave.backends.array.render_ua`).

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).
        seconds : float or None
            How much to render, s (0 to the session's length, :attr:`seconds`;
            default None: the whole session).

        Returns
        -------
        numpy.ndarray
            float32 current, uA, shape (frames, channels).

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (``seconds`` longer
            than the session included).

        Examples
        --------
        >>> from microwave import modes
        >>> ua = Session("one", (Step("jaw", modes.tighten(3), 5.0),), channels=1).render_ua(rate=8000)
        >>> ua.shape, float(abs(ua).max()) == modes.tighten(3).amp_ua   # the full current between the ramps
        ((40000, 1), True)
        """
        from .backends.array import render_ua
        return render_ua(self, rate, seconds)

    # ---- report -----------------------------------------------------------------
    def report(self, stage: Stage | None = None, rate: int = _checks.DEFAULT_RATE,
               electrode_area_cm2: float = 1.0) -> dict:
        """The figures IEC 60601-2-10 and the FDA ask a stimulator to state:
        :func:`microwave.report.report` of this session.

        Parameters
        ----------
        stage : Stage or None
            The output stage (default None: ``Stage()``, the default stereo stage).
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).
        electrode_area_cm2 : float
            The electrode's contact area, cm2 (> 0; default 1), for the current density.

        Returns
        -------
        dict
            As :func:`microwave.report.report` gives it.

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type.
        """
        from .report import report
        return report(self, stage, rate, electrode_area_cm2)


def _units(plans: list[ProgramPlan]) -> tuple[float, float]:
    """The longest unit period and unit length (samples) among a step's programs."""
    return max(p.unit_period_samples for p in plans), max(p.unit_len_samples for p in plans)


# ---- built-in sessions -------------------------------------------------------------
def _mode_step(zone, mode, seconds, level=3, cue=5.0):
    return Step(zone, modes.MODES[mode](level), seconds, cue, label=mode)


def builtin(name: str) -> Session:
    """A built-in session.

    Parameters
    ----------
    name : {"lift", "tighten", "infuse", "fsm", "full-face"}
        Which (:data:`BUILTINS`).

    Returns
    -------
    Session

    Raises
    ------
    ValueError, TypeError
        ``name`` is not one of them, or not a str.

    Examples
    --------
    >>> s = builtin("full-face")
    >>> [step.zone for step in s.steps]
    ['forehead', 'brows', 'cheeks', 'jaw', 'neck']
    """
    _checks.text("name", name)
    if name == "full-face":
        return Session("full-face", (
            _mode_step("forehead", "lift", 60), _mode_step("brows", "lift", 45),
            _mode_step("cheeks", "lift", 60), _mode_step("jaw", "tighten", 60),
            _mode_step("neck", "tighten", 45)))
    if name in modes.MODES:
        zones = ("forehead", "cheeks", "jaw")
        return Session(name, tuple(_mode_step(z, name, 60) for z in zones))
    if name == "fsm":
        return Session("fsm", (Step("neck", modes.fsm(), 300, label="fsm"),))
    raise ValueError(f"name={name!r} is not a built-in session: choose one of {', '.join(BUILTINS)} "
                     f"(a session file: microwave.sessions.load, or resolve for either)")


BUILTINS = ("full-face", "lift", "tighten", "infuse", "fsm")


# ---- TOML ------------------------------------------------------------------------------
# The schema of a session file, table by table (docs/toml.md describes it;
# a test keeps the two alike).  Ranges are the constructors' to check: an
# error they raise is reported at the line of the key it names.
SESSION_KEYS = (
    _toml.Key("name", _toml.STRING, "the session's name, not blank; default: the file's name"),
    _toml.Key("channels", _toml.INTEGER, "program channels, 1-32; default 2"),
    _toml.Key("soft_start_s", _toml.NUMBER, "seconds, 0-600; default 2"),
    _toml.Key("soft_stop_s", _toml.NUMBER, "seconds, 0-600; default 2"),
    _toml.Key("auto_off_s", _toml.NUMBER, f"seconds, > 0 and <= {AUTO_OFF_S * 3:g}; default {AUTO_OFF_S:g}"),
    _toml.Key("max_dose_ua_min", _toml.NUMBER, f"uA*min, >= 0; default {modes.MAX_INFUSE_DOSE_UA_MIN:g}"),
    _toml.Key("step", _toml.TABLES, "one [[step]] table per step, in order", required=True),
)
STEP_KEYS = (
    _toml.Key("zone", _toml.STRING, "a non-empty name such as 'forehead'", required=True),
    _toml.Key("seconds", _toml.NUMBER, "seconds, > 0 and <= 86400", required=True),
    _toml.Key("mode", _toml.STRING, "'lift', 'tighten', 'infuse' or 'fsm'; or give spec or specs"),
    _toml.Key("level", _toml.INTEGER, "intensity 1-5 of mode lift, tighten or infuse; default 3"),
    _toml.Key("amp_ua", _toml.NUMBER, "uA, > 0 and <= 1000, for mode lift, tighten or infuse instead of level"),
    _toml.Key("spec", _toml.TABLE, "one pulse train for every channel: a table with type, amp_ua, phase_us, ..."),
    _toml.Key("specs", _toml.TABLES, "one pulse-train table per channel"),
    _toml.Key("cue_every_s", _toml.NUMBER, f"seconds between cues to move the device, >= {MIN_CUE_S:g}; "
                                           f"default: no cue"),
)
SPEC_KEYS = (
    _toml.Key("type", _toml.STRING, "'biphasic' or 'monophasic'", required=True),
    _toml.Key("amp_ua", _toml.NUMBER, "uA, > 0 and <= 1000", required=True),
    _toml.Key("phase_us", _toml.NUMBER, "us, the width of a phase, > 0", required=True),
    _toml.Key("freq_hz", _toml.NUMBER, "pulses per second, 1/86400-20000 Hz; or give period_us or sweep"),
    _toml.Key("period_us", _toml.NUMBER, "us from pulse to pulse, 50-8.64e10; or give freq_hz or sweep"),
    _toml.Key("rise_us", _toml.NUMBER, "us, >= 0; default 0"),
    _toml.Key("fall_us", _toml.NUMBER, "us, >= 0; default 0"),
    _toml.Key("polarity", _toml.NUMBER_OR_STRING, "1, -1 or 'alternate'; default 1"),
    _toml.Key("delay_s", _toml.NUMBER, "seconds before the first pulse, 0-86400; default 0"),
    _toml.Key("duration_s", _toml.NUMBER, "seconds of pulses, > 0; default: to the end of the step"),
    _toml.Key("burst", _toml.TABLE, "{ on_s, off_s }: pulses for on_s, silence for off_s"),
    _toml.Key("sweep", _toml.TABLE, "{ start_hz, stop_hz, seconds, scale }: the pulse rate swept"),
    _toml.Key("wave_slope", _toml.TABLE, "{ slope_s, every_s, shape }: re-ramp from zero every every_s"),
    _toml.Key("pattern", _toml.STRING, "a polarity pattern such as '3s+ 1s-' or '10+ 10-'"),
)
BIPHASIC_KEYS = SPEC_KEYS + (
    _toml.Key("interphase_us", _toml.NUMBER, "us between the phases, >= 0; default 0"),
    _toml.Key("phase2_us", _toml.NUMBER, "us, the width of phase 2, > 0; default phase_us"),
    _toml.Key("triphasic", _toml.BOOL, "true for A, -B, A pulses; default false"),
)
BURST_KEYS = (
    _toml.Key("on_s", _toml.NUMBER, "seconds of pulses, > 0 and <= 86400", required=True),
    _toml.Key("off_s", _toml.NUMBER, "seconds of silence, 0-86400", required=True),
)
SWEEP_KEYS = (
    _toml.Key("start_hz", _toml.NUMBER, "Hz, 0.001-20000", required=True),
    _toml.Key("stop_hz", _toml.NUMBER, "Hz, 0.001-20000", required=True),
    _toml.Key("seconds", _toml.NUMBER, "seconds of the sweep, 0.001-86400", required=True),
    _toml.Key("scale", _toml.STRING, "'linear' or 'log'; default 'linear'"),
)
WAVE_SLOPE_KEYS = (
    _toml.Key("slope_s", _toml.NUMBER, "seconds of the ramp from zero, > 0 and <= 86400", required=True),
    _toml.Key("every_s", _toml.NUMBER, "seconds from ramp to ramp, >= slope_s", required=True),
    _toml.Key("shape", _toml.STRING, "'linear', 'cosine', 'exp' or 'hold'; default 'linear'"),
)
#: the keys of a stage file, to recognise one given as a session
STAGE_FILE_KEYS = frozenset(f.name for f in fields(Stage))
_SPEC_TYPES = {"biphasic": (Biphasic, BIPHASIC_KEYS), "monophasic": (Monophasic, SPEC_KEYS)}
_MODES_WITH_LEVEL = tuple(modes.MODES)


def _spec_from_table(table: _toml.Table, t: dict):
    """A pulse-train spec from its table (``type`` and the spec's keyword
    arguments; ``burst``, ``sweep`` and ``wave_slope`` as tables)."""
    kind = t.get("type")
    if not isinstance(kind, str) or kind not in _SPEC_TYPES:
        if "type" not in t:
            raise table.error(None, f"missing key 'type': {', '.join(map(repr, _SPEC_TYPES))}")
        raise table.error("type", f"type={_toml.show(kind)} is not allowed: "
                                  f"use one of {', '.join(map(repr, _SPEC_TYPES))}")
    cls, keys = _SPEC_TYPES[kind]
    _toml.check(dataclasses.replace(table, title=f"{table.title} (type={kind!r})"), t, keys)
    args = {k: v for k, v in t.items() if k not in ("type", "wave_slope")}
    for name, ctor, sub_keys in (("burst", Burst, BURST_KEYS), ("sweep", Sweep, SWEEP_KEYS)):
        if name in t:
            sub = table.sub(name, f"{table.title}.{name}")
            _toml.check(sub, t[name], sub_keys)
            args[name] = _toml.build(sub, ctor, t[name])
    if "wave_slope" in t:
        sub = table.sub("wave_slope", f"{table.title}.wave_slope")
        _toml.check(sub, t["wave_slope"], WAVE_SLOPE_KEYS)
        args["envelope"] = _toml.build(sub, Envelope.wave_slope, t["wave_slope"])
    return _toml.build(table, cls, t, **args)


def _step_from_table(table: _toml.Table, t: dict, channels) -> Step:
    """A step from its table: ``zone``, ``seconds``, and one of ``mode``
    (with ``level`` or ``amp_ua``), ``spec`` or ``specs``."""
    _toml.check(table, t, STEP_KEYS)
    given = [k for k in ("mode", "spec", "specs") if k in t]
    if len(given) != 1:
        where = given[1] if len(given) > 1 else None
        raise table.error(where, f"give exactly one of mode, spec or specs (got {', '.join(given) or 'none'})")
    mode = t.get("mode")
    if mode is not None and mode not in _MODES_WITH_LEVEL + ("fsm",):
        raise table.error("mode", f"mode={_toml.show(mode)} is not allowed: use one of "
                                  f"{', '.join(map(repr, _MODES_WITH_LEVEL + ('fsm',)))}")
    if mode is None:        # level and amp_ua are a mode's: a spec would ignore them
        _toml.refuse(table, t, ("level", "amp_ua"), f"with {given[0]} (it would be ignored): "
                                                    f"a spec sets its current with its own amp_ua")
    if mode == "fsm":
        _toml.refuse(table, t, ("level", "amp_ua"), "with mode='fsm' (FSM plays 150 uA on 230 and 430 Hz); "
                                                    "give a spec to set its current")
        program = modes.fsm()
    elif mode is not None:
        program = _toml.build(table, modes.MODES[mode], t, level=t.get("level"), amp_ua=t.get("amp_ua"))
    elif "spec" in t:
        program = _spec_from_table(table.sub("spec", f"{table.title} spec"), t["spec"])
    else:
        specs = t["specs"]
        if not specs:
            raise table.error("specs", "specs=[] is empty: give one spec table per channel")
        if len(specs) != channels:      # load() checked channels (an integer) against the schema
            raise table.error("specs", f"specs has {len(specs)} programs for a {channels}-channel session: "
                                       f"give one spec per channel (or set channels)")
        program = tuple(_spec_from_table(table.sub(("specs", i), f"{table.title} specs[{i}]"), x)
                        for i, x in enumerate(specs))
    label = mode if mode is not None else t["spec"]["type"] if "spec" in t else "custom"
    return _toml.build(table, Step, t, zone=t["zone"], program=program, seconds=t["seconds"],
                       cue_every_s=t.get("cue_every_s"), label=label)


def load(path) -> Session:
    """Load a session from a TOML file (docs/toml.md).

    ::

        name = "evening"
        channels = 2
        [[step]]
        zone = "forehead"
        mode = "lift"
        level = 3
        seconds = 60
        cue_every_s = 5

    Parameters
    ----------
    path : str or os.PathLike
        The TOML file.

    Returns
    -------
    Session

    Raises
    ------
    ValueError
        The file cannot be read or is not a valid session: one line
        ``FILE:LINE: what is wrong and what is allowed``.
    TypeError
        ``path`` is not a path.
    """
    src = _toml.Source(path, "session")
    data = src.data
    top = src.top("the session")
    if "step" not in data and set(data) & STAGE_FILE_KEYS:
        first = next(k for k in data if k in STAGE_FILE_KEYS)
        raise top.error(first, f"a stage file (it has {first!r}), not a session: load it with Stage.from_toml "
                               f"(the command's --stage), and give here a session file with [[step]] tables (the "
                               f"command's SESSION)")
    _toml.check(top, data, SESSION_KEYS)
    if not data["step"]:
        raise top.error("step", "step=[] is not allowed: a session needs at least one step")
    steps = [_step_from_table(top.sub(("step", i), f"step {i + 1}"), t, data.get("channels", 2))
             for i, t in enumerate(data["step"])]
    args = {k: v for k, v in data.items() if k != "step"}
    if "name" not in data:
        try:        # the file's name stands for the session's: refused as such, not as a key the file lacks
            _checks.text("name", src.path.stem, empty=False, line=True)
        except ValueError as e:
            raise ValueError(f"{src.path}: no name = \"...\" is given, and the file's name "
                             f"cannot stand for it: {e}; give name = \"...\" in the file") from None
    # (a refusal for one step, as the dose's, is told at that step's [[step]], unless it names a key the
    # file sets, as max_dose_ua_min)
    return _toml.build(top, Session, dict(args, step=data["step"]),
                       at=lambda e: (("step", e.step) if isinstance(e, _StepRefusal)
                                     and _toml.named_key(str(e), args) is None else None),
                       **dict(args, name=data.get("name", src.path.stem), steps=tuple(steps)))


def resolve(name_or_path: str) -> Session:
    """A built-in session by name, or a TOML file by path.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        One of :data:`BUILTINS`, or a session file (see :func:`load`).

    Returns
    -------
    Session

    Raises
    ------
    ValueError, TypeError
        Neither a built-in nor a readable, valid session file (see :func:`load`).
    """
    if isinstance(name_or_path, str) and name_or_path in BUILTINS:
        return builtin(name_or_path)
    p = _checks.path("name_or_path", name_or_path)
    if p.suffix == ".toml" or p.exists():
        return load(p)
    raise ValueError(f"name_or_path={name_or_path!r} is neither a built-in ({', '.join(BUILTINS)}) nor a .toml file")


#: frames a block while _step_charges counts: small enough that its float64 copies stay a few MiB
#: (a session's check must not cost more memory than its render)
_CHARGE_BLOCK = 1 << 15


#: _step_charges's whole counts, the last _CHARGES_KEPT sessions' (a session is immutable, and equal
#: sessions render the same samples)
_CHARGES: dict[tuple[Session, int], tuple[np.ndarray, np.ndarray]] = {}
_CHARGES_KEPT = 64
_CHARGES_LOCK = threading.Lock()


def _step_charges(session: Session, rate: int,
                  stop_above_ua_min: float = math.inf) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each step's samples summed on each channel, and the largest magnitude
    their running sum reaches within the step (steps x channels each, uA x
    samples), at level 1: the session rendered at ``rate`` through a stage
    that passes the current; and whether the whole session was counted.
    The count stops early, once the dose the peaks make (their sum over the
    steps so far, in uA x min) is more than ``stop_above_ua_min``.  Whole
    counts are kept for the sessions counted last; not to be written to
    (Session._step_sums_ua hands out a copy)."""
    with _CHARGES_LOCK:
        got = _CHARGES.get((session, rate))
    if got is not None:
        return got[0], got[1], True
    edges = session.step_edges(rate)
    engine = session._engine(rate, ua_stage(session.channels))
    sums = np.zeros((len(edges), session.channels))
    peaks = np.zeros((len(edges), session.channels))
    before = np.zeros(session.channels)          # the peaks of the steps before this one, summed
    stop = stop_above_ua_min * rate * 60         # uA x min -> uA x samples
    for i, (lo, hi) in enumerate(edges):
        for start in range(lo, hi, _CHARGE_BLOCK):
            running = engine.render(min(_CHARGE_BLOCK, hi - start)).astype(np.float64)
            running *= UA_PER_UNIT
            np.cumsum(running, axis=0, out=running)
            running += sums[i]
            peaks[i] = np.maximum(peaks[i], np.abs(running).max(axis=0))
            sums[i] = running[-1]
            if (before + peaks[i]).max() > stop:
                return sums, peaks, False
        before += peaks[i]
    with _CHARGES_LOCK:
        _CHARGES[(session, rate)] = sums, peaks
        while len(_CHARGES) > _CHARGES_KEPT:
            del _CHARGES[next(iter(_CHARGES))]   # the oldest
    return sums, peaks, True

