"""The modes a consumer microcurrent device offers, as specs.

Each mode takes an intensity ``level`` 1-5 (the device's buttons) or an
explicit ``amp_ua``.  The figures rest on docs/references.md:

* Level currents follow the NuFACE Plus (FDA K103472): 80-400 uA in 5
  levels for LIFT; TIGHTEN and INFUSE sit lower ("controlled stimulation over
  aggressive intensity"; the Trinity, K131251, spans about 53-192 uA).
* Everything stays inside the 1-999 uA microcurrent range and below the
  FSM ceiling of 500 uA.
"""
from __future__ import annotations

from . import _checks
from .envelopes import Envelope
from .patterns import PolarityPattern
from .pulses import Biphasic, Burst, Monophasic, _Train

__all__ = ["lift", "tighten", "infuse", "fsm", "amplitude", "check_dose", "MODES", "LEVELS_UA",
           "MAX_INFUSE_DOSE_UA_MIN", "FSM_MAX_UA"]

LEVELS_UA = {
    "lift": (80.0, 160.0, 240.0, 320.0, 400.0),      # NuFACE Plus, K103472
    "tighten": (60.0, 100.0, 140.0, 180.0, 220.0),   # within Trinity's 53-192 uA, one level above
    "infuse": (40.0, 60.0, 80.0, 100.0, 120.0),      # net DC: gentle (galvanic comfort)
}
#: Default INFUSE dose ceiling: net DC x time, uA x minutes.  A 20-minute
#: auto-off session at the top level stays under it.
MAX_INFUSE_DOSE_UA_MIN = 600.0


def amplitude(mode: str, level: int | None = None, amp_ua: float | None = None) -> float:
    """The current of ``mode`` at intensity ``level``, or ``amp_ua`` if given.

    Parameters
    ----------
    mode : {"lift", "tighten", "infuse"}
        The consumer mode.
    LEVEL_PARAMETERS

    Returns
    -------
    float
        The pulse amplitude, uA.

    Raises
    ------
    LEVEL_RAISES

    Examples
    --------
    >>> amplitude("lift"), amplitude("lift", level=5), amplitude("lift", amp_ua=123.0)
    (240.0, 400.0, 123.0)
    """
    _checks.choice("mode", mode, tuple(LEVELS_UA))
    if amp_ua is not None:
        if level is not None:
            raise ValueError(f"give level or amp_ua, not both (level={level!r}, amp_ua={amp_ua!r})")
        return _checks.number("amp_ua", amp_ua, 0, _checks.MAX_SPEC_UA, lo_open=True, unit="uA")
    level = 3 if level is None else _checks.integer("level", level, 1, 5)
    return LEVELS_UA[mode][level - 1]


def lift(level: int | None = None, amp_ua: float | None = None) -> Monophasic:
    """LIFT: immediate visible toning.

    The highest currents (80-400 uA) in slow, ramped pulses: 1 Hz,
    450 ms square pulses with 50 ms slopes ("modified square"), the output
    alternating between the probes pulse to pulse (NuFACE's alternating
    output) so that the train carries no net charge over two pulses.

    Parameters
    ----------
    LEVEL_PARAMETERS

    Returns
    -------
    Monophasic

    Raises
    ------
    LEVEL_RAISES
    """
    return Monophasic(freq_hz=1.0, amp_ua=amplitude("lift", level, amp_ua), phase_us=450_000,
                      rise_us=50_000, fall_us=50_000, polarity="alternate")


def tighten(level: int | None = None, amp_ua: float | None = None) -> Biphasic:
    """TIGHTEN: long-term firmness with consistent use.

    Moderate currents (60-220 uA) in bursts: charge-balanced biphasic
    pulses, 500 us a phase with a 100 us interphase gap, at 300 Hz, for
    0.6 s on / 0.4 s off -- within the clinical 0.5-1500 Hz range, near the
    sport-microcurrent studies' few hundred Hz, and comfortable as a rhythm.

    Parameters
    ----------
    LEVEL_PARAMETERS

    Returns
    -------
    Biphasic

    Raises
    ------
    LEVEL_RAISES
    """
    return Biphasic(freq_hz=300.0, amp_ua=amplitude("tighten", level, amp_ua), phase_us=500,
                    interphase_us=100, burst=Burst(on_s=0.6, off_s=0.4))


def infuse(level: int | None = None, amp_ua: float | None = None, serum: str = "acidic",
           minutes: float = 5.0, max_dose_ua_min: float = MAX_INFUSE_DOSE_UA_MIN) -> Monophasic:
    """INFUSE: for use with a water-based serum.

    A net DC moves like-charged ions away from the electrode (docs/references.md:
    positive pole for acidic solutions, negative for alkaline).  Monophasic
    100 Hz pulses of 4 ms (40 % duty) held positive for 3 s then negative
    for 1 s: the net current is half the average, and the brief reversals
    keep it from feeling like a held DC.  ``serum="alkaline"`` flips it.

    The dose (net DC x ``minutes``) is refused beyond ``max_dose_ua_min``.

    Parameters
    ----------
    LEVEL_PARAMETERS
    serum : {"acidic", "alkaline"}
        Which pole pushes: positive for acidic serums (default), negative for alkaline.
    minutes : float
        How long it will play, min (0 to 120; default 5), for the dose check.
    max_dose_ua_min : float
        The net dose it may deliver, uA min (default 600).

    Returns
    -------
    Monophasic

    Raises
    ------
    ValueError
        A dose beyond ``max_dose_ua_min`` (see :func:`check_dose`).
    LEVEL_RAISES
    """
    _checks.choice("serum", serum, ("acidic", "alkaline"))
    minutes = _checks.number("minutes", minutes, 0, 120, lo_open=True, unit="min")
    spec = Monophasic(freq_hz=100.0, amp_ua=amplitude("infuse", level, amp_ua), phase_us=4000,
                      polarity=+1 if serum == "acidic" else -1, pattern=PolarityPattern.parse("3s+ 1s-"))
    check_dose(spec, minutes, max_dose_ua_min)
    return spec


def check_dose(spec, minutes: float, max_dose_ua_min: float = MAX_INFUSE_DOSE_UA_MIN) -> float:
    """The net dose of ``spec`` over ``minutes``; refused beyond ``max_dose_ua_min``.

    Parameters
    ----------
    spec : Biphasic, Monophasic or CustomTrain
        The train (its net charge at full level over ``minutes``, counted on
        its rendered pulses, ``spec.net_charge_uc``, is what doses).
    minutes : float
        How long it plays, min (0 to a week).
    max_dose_ua_min : float
        The largest dose allowed, uA min (>= 0; default 600).

    Returns
    -------
    float
        The dose, uA min: abs(net charge over ``minutes``, uC) / 60.

    Raises
    ------
    ValueError
        The dose exceeds ``max_dose_ua_min`` (the message gives dose, net DC
        and what to lower), or a parameter is out of range.
    TypeError
        ``spec`` is not a pulse train, or a number is of the wrong type.
    """
    _checks.instance("spec", spec, _Train, "a pulse-train spec (Biphasic, Monophasic, CustomTrain)")
    max_dose_ua_min = _checks.number("max_dose_ua_min", max_dose_ua_min, 0, unit="uA*min")
    minutes = _checks.number("minutes", minutes, 0, 7 * 24 * 60, unit="min")
    dose = abs(spec.net_charge_uc(minutes * 60)) / 60
    if dose > max_dose_ua_min:
        dc = dose / minutes
        raise ValueError(f"dose {dose:.1f} uA*min ({dc:.2f} uA net DC at amp_ua={spec.amp_ua:g} "
                         f"for minutes={minutes:g}) exceeds max_dose_ua_min={max_dose_ua_min:g}: "
                         f"lower the level (or amp_ua) or the time")
    return dose


#: FSM's practice: 100-300 uA, never over this (docs/references.md)
FSM_MAX_UA = 500.0


def fsm(freq_a_hz: float = 230.0, freq_b_hz: float = 430.0, amp_ua: float = 150.0,
        polarity: str = "alternate", slope_s: float | None = 1.0, every_s: float = 6.0):
    """Frequency Specific Microcurrent: two channels, each its own frequency
    (docs/references.md: 230 Hz on one and 430 Hz on the other, 150 uA typical,
    100-300 uA, never over 500 uA), sample-locked because both run from the
    same sample clock.

    Parameters
    ----------
    freq_a_hz, freq_b_hz : float
        Each channel's frequency, Hz (0.5 to 1500; default 230 and 430).
    amp_ua : float
        The current of both, uA (above 0, at most :data:`FSM_MAX_UA`, 500:
        FSM's practice never goes over it; default 150).
    polarity : {"alternate", "positive"}
        "alternate" (default; the spelling of the pulse specs' ``polarity``)
        gives a bipolar square wave (biphasic, each phase half a period);
        "positive" gives positive square pulses at 50 % duty ("polarized
        positive").  "alternating", the spelling of earlier versions, is
        accepted as an alias of "alternate".
    slope_s : float or None
        The "wave slope", s: every ``every_s`` seconds the current re-ramps
        from zero over ``slope_s`` (default 1 s; None or 0: no slope).
    every_s : float
        The period of the wave slope, s (> 0; default 6).

    Returns
    -------
    tuple of (Biphasic or Monophasic)
        One spec per channel, channel A first.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, or ``every_s`` shorter
        than ``slope_s`` (named in the message).

    Examples
    --------
    >>> a, b = fsm()
    >>> a.freq_hz, b.freq_hz, a.phase_us
    (230.0, 430.0, 2173.913043478261)
    """
    _checks.choice("polarity", polarity, ("alternate", "positive", "alternating"))
    if polarity == "alternating":     # the earlier spelling, kept as an alias
        polarity = "alternate"
    every_s = _checks.number("every_s", every_s, 0, 86400 * 7, lo_open=True, unit="s")
    amp_ua = _checks.number("amp_ua", amp_ua, 0, FSM_MAX_UA, lo_open=True, unit="uA")
    if slope_s is not None:
        slope_s = _checks.number("slope_s", slope_s, 0, 86400, unit="s")
    env = Envelope.wave_slope(slope_s, every_s) if slope_s else None   # 0 or None: no slope
    specs: list[_Train] = []
    for name, f in (("freq_a_hz", freq_a_hz), ("freq_b_hz", freq_b_hz)):
        f = _checks.number(name, f, 0.5, 1500, unit="Hz")
        half_us = 5e5 / f
        if polarity == "alternate":
            specs.append(Biphasic(freq_hz=f, amp_ua=amp_ua, phase_us=half_us, envelope=env))
        else:
            specs.append(Monophasic(freq_hz=f, amp_ua=amp_ua, phase_us=half_us, envelope=env))
    return tuple(specs)


MODES = {"lift": lift, "tighten": tighten, "infuse": infuse}


# one text for the intensity every consumer mode takes (numpydoc reads the docstrings)
_LEVEL_PARAMETERS = """level : int, optional
        Intensity 1-5, the device's buttons (default 3); see :data:`LEVELS_UA`.
    amp_ua : float, optional
        An explicit current instead, uA (> 0, at most 1000; not with ``level``)."""
_LEVEL_RAISES = """ValueError, TypeError
        ``level`` not a whole number 1-5, ``amp_ua`` out of range, both given,
        or another parameter out of range or of the wrong type (named in the message)."""
for _f in (amplitude, lift, tighten, infuse):
    _f.__doc__ = (_f.__doc__ or "").replace("LEVEL_PARAMETERS", _LEVEL_PARAMETERS).replace("LEVEL_RAISES",
                                                                                            _LEVEL_RAISES)
del _f
