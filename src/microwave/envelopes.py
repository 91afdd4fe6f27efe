"""Ramps and envelopes: how the amplitude of a train rises, holds and falls.

An :class:`Envelope` is a start level and a list of :class:`Ramp` segments,
each reaching a level (0 to 1, a fraction of the train's amplitude) over a
duration with a shape:

* ``"linear"``: constant slope;
* ``"cosine"``: raised cosine, zero slope at both ends (the gentlest start);
* ``"exp"``: exponential approach, fast then settling (time constant 1/5 of
  the segment);
* ``"hold"``: the level jumps to ``to_level`` and stays (use with care: a step).

Common shapes have constructors: :meth:`Envelope.attack_hold_release` (also
the soft start and soft stop of a session) and :meth:`Envelope.wave_slope`
(Frequency Specific Microcurrent's "wave slope": every ``every_s`` seconds
the current re-ramps from zero to the treatment level over ``slope_s``).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import _checks
from ._core import MAX_SEGMENTS, SHAPES  # the compiled core's (csrc/mw_limits.h)
from .plans import EnvelopePlan

__all__ = ["Envelope", "Ramp", "SHAPES", "MAX_SEGMENTS"]


@dataclass(frozen=True)
class Ramp:
    """Go to ``to_level`` (0..1) over ``seconds`` with ``shape``.

    Parameters
    ----------
    seconds : float
        The segment's length, s (0 to a week).
    to_level : float
        The level it reaches, a fraction of the train's amplitude (0 to 1).
    shape : {"linear", "cosine", "exp", "hold"}
        How it gets there (default "linear"; "hold" jumps, then stays).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message).
    """

    seconds: float
    to_level: float
    shape: str = "linear"

    def __post_init__(self):
        object.__setattr__(self, "seconds", _checks.number("seconds", self.seconds, 0, 86400 * 7, unit="s"))
        object.__setattr__(self, "to_level", _checks.number("to_level", self.to_level, 0, 1))
        _checks.choice("shape", self.shape, tuple(SHAPES))


@dataclass(frozen=True)
class Envelope:
    """A start level followed by ramps; ``loop=True`` repeats the ramps forever
    (each loop restarts from ``start_level``).

    Parameters
    ----------
    ramps : sequence of Ramp
        The segments, in order (1 to ``MAX_SEGMENTS``).
    start_level : float
        The level before the first ramp (0 to 1; default 0).
    loop : bool
        Repeat the ramps forever (default False: hold the last level).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, no ramp or more than
        ``MAX_SEGMENTS``, or a loop lasting 0 s (named in the message).

    Examples
    --------
    >>> env = Envelope((Ramp(1.0, 1.0, "cosine"), Ramp(8.0, 1.0, "hold"), Ramp(1.0, 0.0, "cosine")))
    >>> env.seconds, env.edges(rate=1000)
    (10.0, [1000, 9000, 10000])
    """

    ramps: tuple[Ramp, ...]
    start_level: float = 0.0
    loop: bool = False

    def __post_init__(self):
        ramps = _checks.sequence("ramps", self.ramps, "Ramp segments", max_len=MAX_SEGMENTS)
        for i, r in enumerate(ramps):
            _checks.instance(f"ramps[{i}]", r, Ramp, "a Ramp")
        object.__setattr__(self, "ramps", ramps)
        object.__setattr__(self, "start_level", _checks.number("start_level", self.start_level, 0, 1))
        if not 1 <= len(ramps) <= MAX_SEGMENTS:
            raise ValueError(f"ramps has {len(ramps)} segments: an envelope needs 1 to {MAX_SEGMENTS}")
        object.__setattr__(self, "loop", _checks.flag("loop", self.loop))
        if self.loop and sum(r.seconds for r in ramps) <= 0:
            raise ValueError("loop=True needs ramps lasting more than 0 s in all")

    @classmethod
    def attack_hold_release(cls, attack_s: float, hold_s: float | None = None, release_s: float = 0.0,
                            shape: str = "cosine") -> Envelope:
        """Rise from 0 over ``attack_s``, stay at full level for ``hold_s``, then
        fall to 0 over ``release_s``.

        Parameters
        ----------
        attack_s : float
            The rise, s (0 to a week).
        hold_s : float or None
            The time at full level, s (0 to a week); None (default) holds forever
            and leaves out the release.
        release_s : float
            The fall, s (0 to a week; default 0).
        shape : {"cosine", "linear", "exp", "hold"}
            The rise's and the fall's shape (default "cosine").

        Returns
        -------
        Envelope

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (named in the message).
        """
        attack_s = _checks.number("attack_s", attack_s, 0, 86400 * 7, unit="s")
        release_s = _checks.number("release_s", release_s, 0, 86400 * 7, unit="s")
        if hold_s is not None:
            hold_s = _checks.number("hold_s", hold_s, 0, 86400 * 7, unit="s")
        ramps = [Ramp(attack_s, 1.0, shape)]
        if hold_s is not None:
            ramps += [Ramp(hold_s, 1.0, "hold"), Ramp(release_s, 0.0, shape)]
        return cls(tuple(ramps))

    @classmethod
    def soft(cls, total_s: float, start_s: float = 2.0, stop_s: float = 2.0, shape: str = "cosine") -> Envelope:
        """Soft start and soft stop of something lasting ``total_s`` seconds.

        Parameters
        ----------
        total_s : float
            The whole length, s (> 0, at most a week).
        start_s, stop_s : float
            The soft start and the soft stop, s (default 2 s each; together at most ``total_s``).
        shape : {"cosine", "linear", "exp", "hold"}
            Their shape (default "cosine").

        Returns
        -------
        Envelope
            A rise, a hold and a fall lasting ``total_s`` in all.

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (named in the message),
            or ``start_s + stop_s`` longer than ``total_s``.

        Examples
        --------
        >>> Envelope.soft(10.0, start_s=1.0, stop_s=2.0).edges(rate=1000)
        [1000, 8000, 10000]
        """
        total_s = _checks.number("total_s", total_s, 0, 86400 * 7, lo_open=True, unit="s")
        start_s = _checks.number("start_s", start_s, 0, 86400 * 7, unit="s")
        stop_s = _checks.number("stop_s", stop_s, 0, 86400 * 7, unit="s")
        if start_s + stop_s > total_s:
            raise ValueError(f"start_s + stop_s = {start_s + stop_s:g} s exceeds total_s={total_s:g} s")
        return cls.attack_hold_release(start_s, total_s - start_s - stop_s, stop_s, shape)

    @classmethod
    def wave_slope(cls, slope_s: float, every_s: float, shape: str = "linear") -> Envelope:
        """FSM's wave slope: ramp from zero to full over ``slope_s``, hold until
        ``every_s`` has passed, then start again from zero.

        Parameters
        ----------
        slope_s : float
            The ramp, s (> 0, at most a day).
        every_s : float
            The period of the repeat, s (at least ``slope_s``).
        shape : {"linear", "cosine", "exp", "hold"}
            The ramp's shape (default "linear").

        Returns
        -------
        Envelope
            A looping envelope.

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (named in the message),
            or ``every_s`` shorter than ``slope_s``.
        """
        slope_s = _checks.number("slope_s", slope_s, 0, 86400, lo_open=True, unit="s")
        every_s = _checks.number("every_s", every_s, 0, 86400 * 7, unit="s")
        if every_s < slope_s:
            raise ValueError(f"every_s={every_s!r} is shorter than slope_s={slope_s!r}: "
                             f"the slope must fit in the period")
        return cls((Ramp(slope_s, 1.0, shape), Ramp(every_s - slope_s, 1.0, "hold")), loop=True)

    @property
    def peak_level(self) -> float:
        """The highest level the envelope reaches (0..1)."""
        return max([self.start_level] + [r.to_level for r in self.ramps])

    @property
    def seconds(self) -> float:
        """Duration of one pass through the ramps."""
        return sum(r.seconds for r in self.ramps)

    def edges(self, rate: int) -> list[int]:
        """The sample where each ramp ends: the sample nearest its cumulative
        time, so rounding never accumulates along the envelope.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000).

        Returns
        -------
        list of int
            One sample index per ramp, non-decreasing.

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range.
        """
        rate = _checks.rate(rate)
        out, t = [], 0.0
        for r in self.ramps:
            t += r.seconds
            out.append(round(t * rate))
        return out

    def plan(self, rate: int) -> EnvelopePlan:
        """The C plan: segment lengths (samples), shapes and levels, each
        ramp ending at its :meth:`edges` sample (a ramp of no sample is
        left out).

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000).

        Returns
        -------
        EnvelopePlan
            The segments in samples (a :class:`microwave.plans.EnvelopePlan`);
            one constant segment when every ramp is shorter than half a sample.

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range.
        """
        lengths, shapes, a, b = [], [], [], []
        level, edge = self.start_level, 0
        for r, end in zip(self.ramps, self.edges(rate)):
            if r.shape == "hold":
                level = r.to_level
            if end > edge:
                lengths.append(end - edge)
                shapes.append(SHAPES[r.shape])
                a.append(level)
                b.append(r.to_level)
            edge = end
            level = r.to_level
        if not lengths:   # every ramp shorter than half a sample: a constant level
            lengths, shapes, a, b = [1], [0], [level], [level]
        return EnvelopePlan(lengths_samples=tuple(lengths), shapes=tuple(shapes), from_levels=tuple(a),
                            to_levels=tuple(b), loop=self.loop, after_level=level)
