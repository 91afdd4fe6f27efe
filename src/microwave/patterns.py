"""Polarity patterns: the INFUSE family.

A pattern is a cycle of *holds*: positive, negative, alternating or rest,
each held for a number of pulses or for a duration, repeated for as long as
the train runs.  Applied to a pulse train it decides the sign of every pulse:

>>> geske = PolarityPattern.parse("10+ 10-")   # GESKE pen: 10 positive then 10 negative pulses
>>> geske.mean_polarity(pulse_rate_hz=100.0)    # balanced over a cycle
0.0
>>> PolarityPattern.parse("3s+ 1s-").mean_polarity(pulse_rate_hz=100.0)   # INFUSE: 3 s one way, 1 s back
0.5
>>> PolarityPattern.polarized(+1).mean_polarity(pulse_rate_hz=230.0)      # FSM "polarized positive"
1.0

A monophasic train under a pattern carries net charge, which is what
galvanic/iontophoretic INFUSE modes rely on (docs/references.md: net DC of one
polarity pushes like-charged ions away from that electrode); a biphasic
train under any pattern stays charge-balanced pulse by pulse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from . import _checks
from ._core import MAX_STATES, POLARITIES
from .plans import PatternPlan

__all__ = ["PolarityPattern", "Hold", "MAX_STATES"]

# the state kinds and the limit are the compiled core's (csrc/mw_limits.h)
REST, POSITIVE, NEGATIVE, ALTERNATE = (POLARITIES[k] for k in ("rest", "positive", "negative", "alternate"))
_NAMES = {"+": POSITIVE, "-": NEGATIVE, "~": ALTERNATE, "0": REST,
          "positive": POSITIVE, "negative": NEGATIVE, "alternate": ALTERNATE, "rest": REST,
          1: POSITIVE, -1: NEGATIVE, 0: REST, 2: ALTERNATE}
_MAX_PULSE_HZ = 1e6   # far above any train's pulse rate (pulses.py allows 20 kHz)


@dataclass(frozen=True)
class Hold:
    """One state of a pattern: a polarity held for ``pulses`` pulses or ``seconds``.

    Parameters
    ----------
    polarity : {1, "+", -1, "-", "alternate", "~", 0, "rest"}
        Positive, negative, alternating pulse to pulse (starting positive), or no pulses.
    pulses : int, optional
        How many pulses the state lasts (1 to 10**9).
    seconds : float, optional
        How long the state lasts, s (give exactly one of ``pulses`` and ``seconds``).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message).
    """

    polarity: int | str
    pulses: int | None = None
    seconds: float | None = None

    def __post_init__(self):
        key = self.polarity.lower() if isinstance(self.polarity, str) else self.polarity
        object.__setattr__(self, "polarity", _checks.keyed("polarity", key, _NAMES, "+1, -1, 'alternate' or 'rest'"))
        if (self.pulses is None) == (self.seconds is None):
            raise ValueError(f"Hold(pulses={self.pulses!r}, seconds={self.seconds!r}): "
                             f"give exactly one of pulses or seconds")
        if self.pulses is not None:
            object.__setattr__(self, "pulses", _checks.integer("pulses", self.pulses, 1, 10**9))
        else:
            object.__setattr__(self, "seconds",
                               _checks.number("seconds", self.seconds, 0, 86400, lo_open=True, unit="s"))


@dataclass(frozen=True)
class PolarityPattern:
    """A repeating cycle of :class:`Hold` states (all counted in pulses, or all timed).

    Parameters
    ----------
    holds : sequence of Hold
        The states, in order (1 to ``MAX_STATES``); :meth:`parse` builds them from a string.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message).
    """

    holds: tuple[Hold, ...]

    def __post_init__(self):
        holds = _checks.sequence("holds", self.holds, "Hold states", max_len=MAX_STATES)
        for i, h in enumerate(holds):
            _checks.instance(f"holds[{i}]", h, Hold, "a Hold")
        object.__setattr__(self, "holds", holds)
        if not 1 <= len(holds) <= MAX_STATES:
            raise ValueError(f"holds has {len(holds)} states: a pattern needs 1 to {MAX_STATES}")
        if len({h.pulses is None for h in holds}) > 1:
            raise ValueError("holds mixes counted (pulses=) and timed (seconds=) states: use one kind per pattern")

    @classmethod
    def parse(cls, text: str) -> PolarityPattern:
        """Build from a compact string: ``"10+ 10-"``, ``"3s+ 3s- 1s0"``, ``"4~ 2rest"``.

        Parameters
        ----------
        text : str
            Tokens separated by spaces, each an optional count (pulses) or
            duration (``3s``, ``500ms``) followed by a polarity (``+``, ``-``,
            ``~`` alternate, ``0``/``rest``).  A bare polarity means one pulse.
            All tokens count pulses, or all last a time.

        Returns
        -------
        PolarityPattern

        Raises
        ------
        ValueError, TypeError
            ``text`` is not a str, has a token that is neither, mixes counted and
            timed states, or holds more than ``MAX_STATES`` states.

        Examples
        --------
        >>> p = PolarityPattern.parse("3+ 1-")
        >>> p.cycle_pulses(pulse_rate_hz=50), p.mean_polarity(pulse_rate_hz=50)
        (4.0, 0.5)
        """
        return cls._parse(text, "text")

    @classmethod
    def _parse(cls, text: str, name: str) -> PolarityPattern:
        """:meth:`parse`, its errors naming ``name``, the parameter the text came in."""
        _checks.text(name, text)
        tokens = text.split()
        if len(tokens) > MAX_STATES:     # (refused before its states are parsed: it may hold millions)
            raise ValueError(f"{name}={_checks.shown(text)} holds {len(tokens)} states: a pattern holds 1 to "
                             f"{MAX_STATES}")
        holds = []
        for tok in tokens:
            m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)(s|ms)?)?(\+|-|~|0|rest|alternate|positive|negative)", tok.lower())
            said = f"{name}={_checks.shown(text)}: pattern token {_checks.shown(tok)}"
            if not m:
                raise ValueError(f"{said} is not understood: use e.g. '10+', '3s-', '500ms~', '2rest'")
            num, unit, pol = m.groups()
            if unit:
                seconds = float(num) / (1000 if unit == "ms" else 1)
                if not 0 < seconds <= 86400:
                    raise ValueError(f"{said} lasts {seconds:g} s: a timed state lasts more than 0 s and at most "
                                     f"86400 s")
                holds.append(Hold(pol, seconds=seconds))
            else:
                if num is not None and not (float(num).is_integer() and 1 <= float(num) <= 10**9):
                    raise ValueError(f"{said}: a pulse count must be whole, 1 to 10**9 (or add 's' for seconds)")
                holds.append(Hold(pol, pulses=int(float(num)) if num else 1))
        if not holds:
            raise ValueError(f"{name}={_checks.shown(text)} is empty: give at least one state such as '+'")
        return cls(tuple(holds))

    @classmethod
    def polarized(cls, polarity=+1) -> PolarityPattern:
        """Every pulse one polarity (FSM's "polarized positive").

        Parameters
        ----------
        polarity : {1, "+", -1, "-"}
            The sign of every pulse (default 1); also "alternate"/"~" or "rest"/"0", as for :class:`Hold`.

        Returns
        -------
        PolarityPattern
            One state of one pulse.

        Raises
        ------
        ValueError, TypeError
            ``polarity`` is none of those.
        """
        return cls((Hold(polarity, pulses=1),))

    @property
    def timed(self) -> bool:
        """True when the states last a time (seconds), False when they count pulses."""
        return self.holds[0].seconds is not None

    def _signed_weight(self, pulse_rate_hz: float) -> tuple[float, float]:
        # (sum of polarity * length, total length) over one cycle, lengths in
        # pulses (counted) or seconds (timed).  An alternating hold restarts
        # positive each cycle, so it leaves one pulse when it holds an odd
        # number -- unless it is the only state (then it never restarts).
        # A timed hold holds about seconds * rate pulses: exact when that is
        # whole, an estimate otherwise.
        total = num = 0.0
        for h in self.holds:
            if h.pulses is not None:
                length = float(h.pulses)
            else:
                assert h.seconds is not None   # __post_init__: exactly one of pulses and seconds
                length = h.seconds
            total += length
            if h.polarity == ALTERNATE:
                if len(self.holds) > 1:
                    count = h.pulses if h.pulses is not None else round(length * pulse_rate_hz)
                    num += (count % 2) / (1.0 if h.pulses is not None else pulse_rate_hz)
            else:
                num += cast(int, h.polarity) * length   # __post_init__ maps every polarity to an int
        return num, total

    def mean_polarity(self, pulse_rate_hz: float) -> float:
        """The average sign per pulse over a cycle (rest counts as zero).

        Parameters
        ----------
        pulse_rate_hz : float
            The train's pulse rate, Hz (> 0): what converts timed states into pulses.

        Returns
        -------
        float
            Between -1 and 1: the fraction of the train's DC per pulse that remains.

        Raises
        ------
        ValueError, TypeError
            ``pulse_rate_hz`` is not a number above 0 (and at most 1 MHz).
        """
        pulse_rate_hz = _checks.number("pulse_rate_hz", pulse_rate_hz, 0, _MAX_PULSE_HZ, lo_open=True, unit="Hz")
        num, total = self._signed_weight(pulse_rate_hz)
        return num / total

    def cycle_pulses(self, pulse_rate_hz: float) -> float:
        """Pulses in one cycle: exact when counted, rate x duration when timed.

        Parameters
        ----------
        pulse_rate_hz : float
            The train's pulse rate, Hz (> 0).

        Returns
        -------
        float

        Raises
        ------
        ValueError, TypeError
            ``pulse_rate_hz`` is not a number above 0 (and at most 1 MHz).
        """
        pulse_rate_hz = _checks.number("pulse_rate_hz", pulse_rate_hz, 0, _MAX_PULSE_HZ, lo_open=True, unit="Hz")
        _, total = self._signed_weight(pulse_rate_hz)
        return total * (pulse_rate_hz if self.timed else 1.0)

    def plan(self, rate: int) -> PatternPlan:
        """The C plan: the states' kinds and lengths, in pulses or (timed) samples.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000): a timed hold's seconds
            become samples (at least 1); checked for a counted pattern too.

        Returns
        -------
        PatternPlan
            The states (a :class:`microwave.plans.PatternPlan`).

        Raises
        ------
        ValueError, TypeError
            ``rate`` is not a whole number in range.
        """
        rate = _checks.rate(rate)
        # __post_init__: every hold is timed (has seconds) or every one counted (has pulses)
        if self.timed:
            lengths = [max(1, round(cast(float, h.seconds) * rate)) for h in self.holds]
        else:
            lengths = [cast(int, h.pulses) for h in self.holds]
        return PatternPlan(by_time=self.timed, kinds=tuple(cast(int, h.polarity) for h in self.holds),
                           lengths=tuple(lengths))
