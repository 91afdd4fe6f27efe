"""The output stage: the hardware between the DAC and the electrodes.

A :class:`Stage` says how DAC samples become current, and how sure that is:

* ``full_scale_v``: volts at the DAC for a sample of 1.0;
* a current-mode stage (a Howland pump, say) with ``ua_per_v``
  transconductance (the default: 1000 uA/V), or a voltage-mode stage that
  puts the DAC's voltage across the electrodes, with its nominal load
  ``load_ohm`` and the range ``load_ohm_min`` .. ``load_ohm_max`` the load
  may really take (default 500 ohm .. 10 kohm, the loads the FDA asks a
  stimulator's figures for);
* ``compliance_v``: the most voltage the stage can put across the load;
* ``coupling``: ``"dc"``, or ``"ac"`` with the card's high-pass ``corner_hz``
  known to within ``corner_tolerance`` (default +-30 %): most sound-card
  outputs are AC-coupled, with a corner of a few Hz to 20 Hz.  A
  voltage-mode stage's corner is the one at its nominal load, and moves
  with the load (see below);
* ``channel_map``: for each program channel, a DAC channel, or a pair
  ``(a, b)`` driven in antiphase (bridged: twice the swing for one
  electrode pair);
* ``max_ua``: the hard maximum of the current that flows (default 500 uA,
  the FSM ceiling; never above 1000 uA);
* ``reconstruction``: what the DAC makes of its samples: ``"band-limited"``
  (a sound card, the default: between samples the current goes past them
  at hard edges, and the limit holds on that) or ``"held"``.

The limit holds on the current that flows, not on the samples.  A session
asking for more is refused before anything renders.  While it plays, the
supervisor (compiled, ``csrc/mw_supervisor.h``) models what flows -- the
drive itself through a DC-coupled card; through an AC-coupled one,
corners across the tolerance (and a voltage-mode stage's load range;
spaced geometrically at most 15 % apart, at least seven), each with the
charge its capacitor
stores -- and keeps every sample's drive where, for every modelled corner,
the current now and the current that an abrupt stop of the DAC would
release stay within the limit, and the drive itself too (what would flow
were the card in fact DC-coupled: a coupling declared but absent cannot
push more than the limit).  Two consequences a user sees:

* **Voltage mode is bounded at the lowest load.**  The current into a load
  R is V / R, so the stage keeps V at most ``max_ua`` x ``load_ohm_min``.
  At the nominal load it then delivers at most ``max_ua`` x
  ``load_ohm_min`` / ``load_ohm``: a wide load range lowers what a
  voltage-mode stage may deliver at its nominal load.  Electrode-skin
  impedance is capacitive (a series resistance, then a resistance in
  parallel with a capacitance), so edges see little more than the series
  resistance: declare the lowest load honestly.
* **Through an AC-coupled card, a voltage-mode stage's corner moves with
  the load.**  The card's series capacitor C drives the electrodes
  itself: the current is V / R through a high-pass of corner
  1 / (2 pi R C), so ``corner_hz`` (the corner at ``load_ohm``) becomes
  ``corner_hz`` x ``load_ohm`` / R at a load R.  The supervisor models
  corners across the tolerance and the load range together
  (:attr:`Stage.corner_range_hz`: 2 Hz +-30 % at 2 kohm over 500 ohm ..
  10 kohm is 0.28 to 10.4 Hz), each at the lowest load's current, which
  bounds the current at every load of the range (with the tolerance
  alone modelled, 535 uA flowed into 500 ohm against a max_ua of 500:
  tests/test_safety.py) -- and, since a contact changes mid-session, the
  current of a corner that moves within that range from sample to sample
  (a load of 10 kohm for 5 ms, then 500 ohm again, drove 552 uA where
  every fixed load gave 410).  An alternating train's highest level falls
  most: the capacitor may hold one polarity's charge into the other.  A
  bridged pair drives its load between two coupled outputs, both
  capacitors in series (C / 2): the corners modelled reach twice the
  fastest, and a bridged pair's pre-emphasis inverts twice
  ``corner_hz`` (a single channel's, once: each its own).  An
  electrode that lifts off is an open circuit, beyond any load_ohm_max:
  put a resistor across the electrodes and declare it as load_ohm_max
  (docs/safety.md), or use a current-mode stage.
* **AC coupling keeps a 1 % margin** (:data:`AC_MARGIN`) below ``max_ua``
  for the corners between the ones it models, and a session that would
  store more charge than the limit (a held polarity, a slow net DC) is
  refused: through a first-order coupling the DC gain is zero, so all the
  net charge the drive pushes through the capacitor flows back when the DAC
  returns to zero.  Stopping bleeds that charge by a ramp of the drive, at
  most :data:`BLEED_FRACTION` of the limit, before the stream closes; after
  a pause (or a rewind, or a level of zero) the session plays again once the
  charge left has flowed to 0.4 % of the limit
  (``microwave._core.SUPERVISOR_RESTART``), about four of the slowest
  corner's time constants more.

Load one from TOML with :meth:`Stage.from_toml`.
"""
from __future__ import annotations

import contextvars
import datetime
import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import _checks, _toml
from ._core import SUPERVISOR_RESTART, SUPERVISOR_SOFT
from .plans import StagePlan

if TYPE_CHECKING:
    from .sessions import Session

__all__ = ["Stage", "Calibration", "ua_stage", "ABSOLUTE_MAX_UA", "FDA_LOADS_OHM", "DEFAULT_UA_PER_V", "AC_MARGIN",
           "BLEED_FRACTION", "UA_PER_UNIT"]

ABSOLUTE_MAX_UA = 1000.0
#: the most DAC channels (and program channels) a stage routes
MAX_CHANNELS = 32
#: the loads (ohm) the FDA asks a stimulator's maximum voltage and current for
FDA_LOADS_OHM = (500.0, 2000.0, 10000.0)
#: a current-mode stage's transconductance when none is given (uA per V)
DEFAULT_UA_PER_V = 1000.0
#: through an AC coupling the supervisor keeps this fraction of max_ua in
#: reserve, for the corners between the ones it models (tested: the current
#: through 25 corners across the tolerance stays within max_ua)
AC_MARGIN = 0.01
#: the lowest load (ohm) a voltage-mode stage may declare
MIN_LOAD_OHM = 1.0
#: the lowest AC corner (Hz) a stage may declare: an end's bleed through the
#: slowest corner of the widest tolerance then takes at most about 13 minutes
#: (a corner far below any coupling capacitor's, 1e-4 Hz, asked for gigabytes)
MIN_CORNER_HZ = 0.01
#: ... and the slowest corner the supervisor models (the lowest corner_hz at
#: the widest tolerance; a voltage-mode stage's load range moves its corner)
MIN_MODELLED_CORNER_HZ = 0.001
#: the current (fraction of the limit) while a coupling's charge is bled
BLEED_FRACTION = 0.2
#: what a DAC makes of its samples (``Stage.reconstruction``)
RECONSTRUCTIONS = ("band-limited", "held")
#: uA per DAC unit of the ideal stage that renders current itself (:func:`ua_stage`): a
#: power of two, so that scaling back to uA is exact in binary floating point
UA_PER_UNIT = 1024.0


@dataclass(frozen=True)
class Calibration:
    """What a loopback calibration measured of a sound card: a stage file's
    ``[calibration]`` table, held by :attr:`Stage.calibration`.

    Every field is optional (None: not measured).  Per-channel lists have
    one entry per DAC channel (the stage's ``out_channels``).  A measured
    ``dc_offset`` lowers a stage's limit by the current it adds
    (:meth:`Stage.offset_ua`; an AC stage's too, in case its coupling is
    absent); the rest changes nothing a stage does yet,
    but a stage file whose declared corner disagrees with the measured one
    is refused (:meth:`Stage.from_toml`).

    Parameters
    ----------
    date : datetime.date, datetime.datetime or str, optional
        When it was measured (a date, a date-time, or an ISO string).
    output_device, input_device : str, optional
        The devices' names.
    rate : int, optional
        The sample rate measured at, Hz.
    latency_ms : float, optional
        Output-to-input latency, ms.
    loop_gain : sequence of float, optional
        Input over output amplitude through the loop, per channel (> 0).
    corner_hz : float, optional
        The measured high-pass corner, Hz (0.01 to 1000).
    corner_uncertainty : float, optional
        Its relative uncertainty (0.05 is +-5 %).
    noise_floor_dbfs : float, optional
        The input's noise floor, dBFS (<= 0).
    crosstalk_db : float, optional
        The worst crosstalk between channels, dB (<= 0).
    dc_offset : sequence of float, optional
        Per channel, a fraction of full scale.
    passed : bool, optional
        Whether the calibration passed its checks.

    Raises
    ------
    ValueError, TypeError
        A field out of range or of the wrong type (named in the message).
    """

    date: datetime.date | None = None
    output_device: str | None = None
    input_device: str | None = None
    rate: int | None = None
    latency_ms: float | None = None
    loop_gain: tuple[float, ...] | None = None
    corner_hz: float | None = None
    corner_uncertainty: float | None = None
    noise_floor_dbfs: float | None = None
    crosstalk_db: float | None = None
    dc_offset: tuple[float, ...] | None = None
    passed: bool | None = None

    def __post_init__(self):
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if self.date is not None:
            s("date", _iso_date(self.date))
        for k in ("output_device", "input_device"):
            v = getattr(self, k)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise ValueError(f"{k}={v!r} must be a device's name (a non-empty string)")
            if v is not None and not _utf8(v):
                raise ValueError(f"{k}={v!r} is not allowed: a lone surrogate is not text a stage file (UTF-8) "
                                 f"can hold")
        if self.rate is not None:
            s("rate", _checks.rate(self.rate))
        numbers = {"latency_ms": (0, 10_000, False, "ms"), "corner_hz": (MIN_CORNER_HZ, 1000, False, "Hz"),
                   "corner_uncertainty": (0, 0.9, False, ""), "noise_floor_dbfs": (-300, 0, False, "dBFS"),
                   "crosstalk_db": (-300, 0, False, "dB")}
        for k, (lo, hi, lo_open, unit) in numbers.items():
            if getattr(self, k) is not None:
                s(k, _checks.number(k, getattr(self, k), lo, hi, lo_open=lo_open, unit=unit))
        for k, (lo, hi, lo_open) in {"loop_gain": (0, 1000, True), "dc_offset": (-1, 1, False)}.items():
            v = getattr(self, k)
            if v is not None:
                v = _checks.sequence(k, v, "numbers, one per DAC channel", max_len=MAX_CHANNELS)
                if not 1 <= len(v) <= 32:
                    raise ValueError(f"{k} has {len(v)} entries: give one per DAC channel, 1 to 32")
                s(k, tuple(_checks.number(f"{k}[{i}]", x, lo, hi, lo_open=lo_open) for i, x in enumerate(v)))
        if self.passed is not None:
            s("passed", _checks.flag("passed", self.passed))


def _utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (a lone surrogate cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _iso_date(value) -> datetime.date:
    """A date or date-time, given as one or as an ISO 8601 string, that a
    stage file can hold (TOML's offsets are whole minutes)."""
    date = None
    if isinstance(value, datetime.date):      # a datetime is a date too
        date = value
    elif isinstance(value, str):
        for parse in (datetime.date.fromisoformat, datetime.datetime.fromisoformat):
            try:
                date = parse(value)
                break
            except ValueError:
                pass
    if date is None:
        raise ValueError(f"date={value!r} is not allowed: a date or date-time such as 2026-12-01 or "
                         f"'2026-12-01T14:30:00'")
    offset = date.utcoffset() if isinstance(date, datetime.datetime) else None
    if offset is not None and offset % datetime.timedelta(minutes=1):
        raise ValueError(f"date={value!r} is not allowed: its UTC offset ({offset}) is not a whole number of "
                         f"minutes, which a stage file (TOML) cannot hold")
    return date


@dataclass(frozen=True)
class Stage:
    """The output stage: how DAC samples become current, and how sure that is
    (the module's text above says what each field means and why).

    Parameters
    ----------
    full_scale_v : float
        Volts at the DAC for a sample of 1.0 (0 to 100 V; default 1).
    ua_per_v : float or None
        A current-mode stage's transconductance, uA/V (default 1000).
    load_ohm : float or None
        A voltage-mode stage's nominal load, ohm (give this or ``ua_per_v``).
    compliance_v : float
        The most voltage the stage can put across the load, V (default 15).
    coupling : {"dc", "ac"}
        The card's output coupling (default "dc").
    corner_hz : float
        An AC coupling's high-pass corner, Hz (0.01 to 1000; default 5); for a
        voltage-mode stage, one DAC channel's corner into ``load_ohm`` (it
        moves with the load, and a bridged pair's loop, its two capacitors
        in series, has twice it: :attr:`corner_range_hz`).
    channel_map : tuple
        For each program channel, a DAC channel or a bridged pair ``(a, b)``.
    out_channels : int or None
        DAC channels driven (default: the highest routed + 1).
    max_ua : float
        The hard maximum of the current that flows, uA (default 500, at most 1000).
    headroom : float
        The fraction of full scale an AC pre-emphasis may swing (default 1).
    corner_tolerance : float
        The corner is known within ``corner_hz`` x (1 -+ this) (default 0.3).
    load_ohm_min, load_ohm_max : float or None
        A voltage-mode stage's load range, ohm (default 500 .. 10 000, widened
        to hold ``load_ohm``).
    reconstruction : {"band-limited", "held"}
        What the DAC makes of its samples: a sound card's band-limited
        reconstruction, which carries hard edges past the samples (the
        default), or an output that holds each sample (a DAC without a
        reconstruction filter, or one measured not to overshoot).
    calibration : Calibration or None
        What a loopback calibration measured of the card (a measured
        ``dc_offset`` lowers :attr:`limit_ua` by the current it adds, an AC
        stage's too).

    Raises
    ------
    ValueError, TypeError
        A field out of range, of the wrong type, or contradicting another
        (named in the message).

    Examples
    --------
    >>> Stage(max_ua=400).limit_ua
    400.0
    >>> Stage(load_ohm=2000, load_ohm_min=1000, max_ua=400).max_ua_at(2000)   # bounded at the lowest load
    200.0
    """

    full_scale_v: float = 1.0
    ua_per_v: float | None = None
    load_ohm: float | None = None
    compliance_v: float = 15.0
    coupling: str = "dc"
    corner_hz: float = 5.0
    channel_map: tuple = (0, 1)
    out_channels: int | None = None
    max_ua: float = 500.0
    #: how far (fraction of full scale) pre-emphasis may swing before a pattern is refused
    headroom: float = 1.0
    #: the card's corner is within corner_hz x (1 -+ corner_tolerance)
    corner_tolerance: float = 0.3
    #: voltage mode: the load lies within [load_ohm_min, load_ohm_max]
    load_ohm_min: float | None = None
    load_ohm_max: float | None = None
    #: "band-limited" (a sound card: the current between samples goes past them at hard edges) or "held"
    reconstruction: str = "band-limited"
    #: what a loopback calibration measured (its dc_offset lowers the stage's limit)
    calibration: Calibration | None = None

    def __post_init__(self):
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        s("full_scale_v", _checks.number("full_scale_v", self.full_scale_v, 0, 100, lo_open=True, unit="V"))
        if self.ua_per_v is not None and self.load_ohm is not None:
            raise ValueError(f"ua_per_v={self.ua_per_v!r} and load_ohm={self.load_ohm!r}: give ua_per_v for a "
                             f"current-mode stage or load_ohm for a voltage-mode stage, not both")
        if self.load_ohm is None:
            s("ua_per_v", _checks.number("ua_per_v", DEFAULT_UA_PER_V if self.ua_per_v is None else self.ua_per_v,
                                         0, 1e7, lo_open=True, unit="uA/V"))
            for k in ("load_ohm_min", "load_ohm_max"):
                if getattr(self, k) is not None:
                    raise ValueError(f"{k}={getattr(self, k)!r} is only for a voltage-mode stage (give load_ohm, "
                                     f"not ua_per_v): a current-mode stage's current does not depend on the load")
        else:
            # real electrode loads are hundreds of ohms and more (the FDA's
            # figures start at 500 ohm); the floor keeps every figure finite
            s("load_ohm", _checks.number("load_ohm", self.load_ohm, MIN_LOAD_OHM, 1e7, unit="ohm"))
            # by default the FDA's range, widened to hold the nominal load
            lo = min(FDA_LOADS_OHM[0], self.load_ohm) if self.load_ohm_min is None else self.load_ohm_min
            hi = max(FDA_LOADS_OHM[-1], self.load_ohm) if self.load_ohm_max is None else self.load_ohm_max
            s("load_ohm_min", _checks.number("load_ohm_min", lo, MIN_LOAD_OHM, self.load_ohm, unit="ohm"))
            s("load_ohm_max", _checks.number("load_ohm_max", hi, self.load_ohm, 1e7, unit="ohm"))
        s("compliance_v", _checks.number("compliance_v", self.compliance_v, 0, 500, lo_open=True, unit="V"))
        s("coupling", _checks.choice("coupling", self.coupling, ("dc", "ac")))
        s("corner_hz", _checks.number("corner_hz", self.corner_hz, MIN_CORNER_HZ, 1000, unit="Hz"))
        s("corner_tolerance", _checks.number("corner_tolerance", self.corner_tolerance, 0, 0.9))
        s("max_ua", _checks.number("max_ua", self.max_ua, 0, ABSOLUTE_MAX_UA, lo_open=True, unit="uA"))
        s("headroom", _checks.number("headroom", self.headroom, 0, 1, lo_open=True))
        s("reconstruction", _checks.choice("reconstruction", self.reconstruction, RECONSTRUCTIONS))
        routes = _checks.sequence("channel_map", self.channel_map,
                                  "routes, for each program channel a DAC channel index or a bridged pair [a, b]",
                                  max_len=MAX_CHANNELS)
        if not routes:
            raise ValueError("channel_map is empty: map at least one program channel to a DAC channel")
        cmap, used = [], []
        for i, route in enumerate(routes):
            name = f"channel_map[{i}]"
            if isinstance(route, (list, tuple, np.ndarray)):
                pair = _checks.sequence(name, route, "two DAC channel indices")
                if len(pair) != 2:
                    raise ValueError(f"{name}={route!r} is not allowed: a DAC channel index or a pair (a, b) of them")
                parts = tuple(_checks.integer(f"{name}[{k}]", p, 0, MAX_CHANNELS - 1) for k, p in enumerate(pair))
                cmap.append(parts)
            else:
                parts = (_checks.integer(name, route, 0, MAX_CHANNELS - 1),)
                cmap.append(parts[0])
            used += parts
        cmap = tuple(cmap)
        if len(set(used)) != len(used):
            raise ValueError(f"channel_map={cmap!r} uses a DAC channel twice")
        s("channel_map", cmap)
        if self.out_channels is None:
            s("out_channels", max(used) + 1)
        else:
            s("out_channels", _checks.integer("out_channels", self.out_channels, 1, MAX_CHANNELS))
            if max(used) >= self.out_channels:
                raise ValueError(f"channel_map={cmap!r} uses DAC channel {max(used)}, but out_channels="
                                 f"{self.out_channels} has channels 0 to {self.out_channels - 1}: map within them, "
                                 f"or give more out_channels")
        if self.coupling == "ac":
            self._check_corner_range()      # (after the routes: a bridged pair doubles a voltage stage's corner)
        if self.calibration is not None:
            _checks.instance("calibration", self.calibration, Calibration, "a microwave.stage.Calibration or None")
            for _, _, why in _calibration_conflicts(self, self.calibration):
                raise ValueError(f"calibration: {why}")

    @classmethod
    def from_toml(cls, path) -> Stage:
        """Load a stage from a TOML file (docs/toml.md): its keys are this
        class's fields, and a ``[calibration]`` table a :class:`Calibration`.

        A current-mode stage gives ``ua_per_v``; a voltage-mode stage gives
        ``load_ohm`` (and may give ``load_ohm_min``, ``load_ohm_max``).  Keys
        the stage would ignore are refused (a corner on a DC-coupled stage),
        and so is a declared corner that disagrees with the measured one.
        Every error is one line ``FILE:LINE: what is wrong and what is allowed``.

        Parameters
        ----------
        path : str or os.PathLike
            The TOML file.

        Returns
        -------
        Stage

        Raises
        ------
        ValueError
            The file cannot be read or is not a valid stage (one line ``FILE:LINE: ...``).
        TypeError
            ``path`` is not a path.
        """
        src = _toml.Source(path, "stage")
        data = src.data
        top = src.top("[stage]")
        if "step" in data:
            raise top.error("step", "a session file (it has steps), not a stage: load it with "
                                    "microwave.sessions.load (the command's SESSION), and give here a stage file "
                                    f"with keys such as {', '.join(k.name for k in STAGE_KEYS[:4])} (the command's "
                                    f"--stage)")
        _toml.check(top, data, STAGE_KEYS)
        if data.get("coupling", "dc") != "ac":
            _toml.refuse(top, data, ("corner_hz", "corner_tolerance", "headroom"),
                         f"with coupling={data.get('coupling', 'dc')!r}: it would be ignored (only an AC-coupled "
                         f"stage has a corner and pre-emphasis); set coupling = \"ac\" or remove it")
        cal = None
        if "calibration" in data:
            table = top.sub("calibration", "[calibration]")
            _toml.check(table, data["calibration"], CALIBRATION_KEYS)
            cal = _toml.build(table, Calibration, data["calibration"])
        stage = _toml.build(top, cls, data, **dict(data, calibration=None))
        if cal is None:
            return stage
        for key, measured, why in _calibration_conflicts(stage, cal):
            # the stage's key if the file gives it, else the measurement
            raise top.error(key if key in data else ("calibration", measured), why)
        return dataclasses.replace(stage, calibration=cal)

    @property
    def mode(self) -> str:
        """``"current"`` (the stage sets the current) or ``"voltage"`` (the load does)."""
        return "voltage" if self.load_ohm is not None else "current"

    @property
    def corner_range_hz(self) -> tuple[float, float]:
        """The slowest and the fastest corner the AC coupling may really
        have, Hz: ``corner_hz`` x (1 -+ ``corner_tolerance``); for a
        voltage-mode stage, whose card capacitor drives the load itself (a
        corner of 1 / (2 pi R C) at a load R), also moved by
        ``load_ohm`` / R across ``load_ohm_min`` .. ``load_ohm_max``, and,
        where a bridged pair drives the load between its two outputs (the
        two capacitors in series, C / 2: twice one channel's corner), up to
        twice the fastest.  The supervisor models corners across it
        (``microwave._core.supervisor_corners``).

        Examples
        --------
        >>> Stage(coupling="ac", corner_hz=5).corner_range_hz
        (3.5, 6.5)
        >>> [round(f, 3) for f in Stage(coupling="ac", corner_hz=2, load_ohm=2000).corner_range_hz]
        [0.28, 10.4]
        >>> bridged = Stage(coupling="ac", corner_hz=2, load_ohm=2000, channel_map=((0, 1),))
        >>> [round(f, 3) for f in bridged.corner_range_hz]
        [0.28, 20.8]
        """
        return self._corners(self.channel_map)[2:]

    def _corners(self, routes) -> tuple[float, float, float, float]:
        """(the corner a single channel's pre-emphasis inverts, the one a
        bridged pair's does, the slowest, the fastest), Hz, for program
        channels routed by ``routes``: :attr:`corner_range_hz`'s range.  On a
        voltage-mode stage a bridged pair's loop holds both capacitors in
        series: its pre-emphasis inverts twice ``corner_hz`` (one
        channel's), so that its current is the one asked at ``load_ohm``,
        and the fastest doubles.  The slowest stays one capacitor's, which
        also covers a ``corner_hz`` measured across the pair itself.  Where
        no route is a single channel, both nominal corners are the pair's
        (none of one channel's is modelled for its own sake)."""
        lo, hi = self.corner_hz * (1.0 - self.corner_tolerance), self.corner_hz * (1.0 + self.corner_tolerance)
        if self.load_ohm is None:
            return self.corner_hz, self.corner_hz, lo, hi
        assert self.load_ohm_min is not None and self.load_ohm_max is not None   # __post_init__
        lo, hi = lo * (self.load_ohm / self.load_ohm_max), hi * (self.load_ohm / self.load_ohm_min)
        bridged = [isinstance(route, tuple) for route in routes]
        pair = self.corner_hz * (2.0 if any(bridged) else 1.0)
        return (pair if all(bridged) else self.corner_hz), pair, lo, hi * (2.0 if any(bridged) else 1.0)

    @property
    def _bridges(self) -> bool:
        """A program channel drives a bridged pair."""
        return any(isinstance(route, tuple) for route in self.channel_map)

    def _corner_words(self) -> str:
        """The AC coupling as a message names it."""
        lo, hi = self.corner_range_hz
        return (f"corner {self.corner_hz:g} Hz +-{100 * self.corner_tolerance:g} %"
                + ("" if self.load_ohm is None else
                   f" at load_ohm={self.load_ohm:g}, moving as 1/R over load_ohm_min={self.load_ohm_min:g} .. "
                   f"load_ohm_max={self.load_ohm_max:g} ohm"
                   + (", twice through a bridged pair's two capacitors in series"
                      if self._bridges else "")
                   + f": {lo:.3g} to {hi:.3g} Hz"))

    def _check_corner_range(self) -> None:
        """Refuse an AC coupling whose corners the supervisor cannot model: slower than
        MIN_MODELLED_CORNER_HZ (an end's bleed would take hours) or too many."""
        from ._core import supervisor_corners
        lo = self.corner_range_hz[0]
        narrow = ("a narrower corner_tolerance" if self.load_ohm is None else
                  "a narrower load range (load_ohm_min, load_ohm_max) or corner_tolerance")
        if lo < MIN_MODELLED_CORNER_HZ * (1 - 1e-9):     # (0.01 Hz at +-90 %: 0.001 less a rounding)
            raise ValueError(f"corner_hz={self.corner_hz:g} is not allowed here: an AC coupling of "
                             f"{self._corner_words()} reaches down to {lo:.3g} Hz: the supervisor models corners down "
                             f"to {MIN_MODELLED_CORNER_HZ:g} Hz (an end's bleed through a slower one would take "
                             f"hours); declare {narrow}, or a higher corner_hz")
        for n in range(1, len(self.channel_map) + 1):    # the routes a session of n channels plays (plan)
            single, pair, lo_n, hi_n = self._corners(self.channel_map[:n])
            try:
                supervisor_corners(single, lo_n, hi_n, pair)
            except ValueError as e:
                raise ValueError(f"corner_hz={self.corner_hz:g} is not allowed here: an AC coupling of "
                                 f"{self._corner_words()}: {e}; declare {narrow}"
                                 + (", or single-channel routes" if self._bridges else "")) from None

    @property
    def load_spread(self) -> float:
        """The most current that can flow per uA asked: 1 for a current-mode
        stage; load_ohm / load_ohm_min for a voltage-mode one."""
        if self.load_ohm is None:
            return 1.0
        assert self.load_ohm_min is not None   # __post_init__ sets it for a voltage-mode stage
        return self.load_ohm / self.load_ohm_min

    # ---- the mapping -------------------------------------------------------
    def volts_per_ua(self) -> float:
        """Volts across the stage input per uA of output."""
        if self.ua_per_v is not None:
            return 1.0 / self.ua_per_v
        assert self.load_ohm is not None   # __post_init__: a stage has ua_per_v or load_ohm
        return self.load_ohm * 1e-6

    def dac_per_ua(self, channel: int = 0) -> float:
        """DAC units per uA on each DAC channel of a program channel (half for a
        bridged pair, whose two channels add).

        Parameters
        ----------
        channel : int
            The program channel, an index into ``channel_map`` (default 0).

        Returns
        -------
        float
            Full-scale units per uA.

        Raises
        ------
        ValueError, TypeError
            ``channel`` is not an index of ``channel_map``.
        """
        channel = self._channel(channel)
        bridged = isinstance(self.channel_map[channel], tuple)
        return self.volts_per_ua() / self.full_scale_v / (2.0 if bridged else 1.0)

    def full_scale_ua(self, channel: int = 0) -> float:
        """The current a full-scale DAC sample asks for on a program channel.

        Parameters
        ----------
        channel : int
            The program channel, an index into ``channel_map`` (default 0).

        Returns
        -------
        float
            uA.

        Raises
        ------
        ValueError, TypeError
            ``channel`` is not an index of ``channel_map``.

        Examples
        --------
        >>> Stage(ua_per_v=1000, full_scale_v=1.0, channel_map=(0, (1, 2))).full_scale_ua(1)   # a bridged pair: twice
        2000.0
        """
        channel = self._channel(channel)
        return 1.0 / self.dac_per_ua(channel)

    def _channel(self, channel) -> int:
        """A program channel's index, checked against channel_map."""
        return _checks.integer("channel", channel, 0, len(self.channel_map) - 1)

    @property
    def limit_ua(self) -> float:
        """The largest current (uA, as asked at the nominal conversion) this
        stage will produce: ``max_ua``, less the AC margin, less what the
        card's measured DC offset adds (:meth:`offset_ua`, an AC stage's too), divided
        by the load spread of a voltage-mode stage, or less where the DAC's
        full scale cannot reach it."""
        margin = 1.0 - AC_MARGIN if self.coupling == "ac" else 1.0
        return min([(self.max_ua * margin - self.offset_ua(c)) / self.load_spread
                    for c in range(len(self.channel_map))]
                   + [self.full_scale_ua(c) for c in range(len(self.channel_map))])

    def offset_ua(self, channel: int = 0) -> float:
        """The current a DC-coupled card's DC offset, as the calibration
        measured it (``[calibration] dc_offset``), drives through a program
        channel's electrodes at the lowest load, uA (>= 0): it adds to every
        sample's.  0 without a measured offset.  An AC stage counts it too:
        its capacitor blocks the offset, but a coupling declared and absent
        (a DC card typed in as AC) would pass it, and :attr:`limit_ua`, the
        bound on the drive that keeps such a card safe, leaves room for it.

        Parameters
        ----------
        channel : int
            The program channel, an index into ``channel_map`` (default 0).

        Returns
        -------
        float
            uA.

        Raises
        ------
        ValueError, TypeError
            ``channel`` is not an index of ``channel_map``.

        Examples
        --------
        >>> cal = Calibration(dc_offset=(0.01, -0.002))
        >>> Stage(calibration=cal).offset_ua(0), Stage(calibration=cal, channel_map=((0, 1),)).offset_ua(0)
        (10.0, 12.0)
        """
        return self._offset_ua(self._channel(channel), self.calibration)

    def _offset_ua(self, channel: int, cal: Calibration | None) -> float:
        """:meth:`offset_ua` of program channel ``channel`` with the
        calibration ``cal`` (one a file gives before it is this stage's)."""
        route = self.channel_map[channel]
        off = cal.dc_offset if cal is not None else None
        if off is None:
            return 0.0
        a, b = route if isinstance(route, tuple) else (route, None)
        volts = abs(off[a] - (off[b] if b is not None else 0.0)) * self.full_scale_v
        return volts / self.volts_per_ua() * self.load_spread

    @property
    def max_bleed_s(self) -> float:
        """The longest an end's bleed can take (s): from a charge at the limit,
        at BLEED_FRACTION of the limit through the slowest corner; 0 when
        DC-coupled."""
        if self.coupling == "dc":
            return 0.0
        tau = 1.0 / (2 * math.pi * self.corner_range_hz[0])
        return tau / BLEED_FRACTION * 1.01

    def max_ua_at(self, load_ohm: float) -> float:
        """The largest current that can flow into a load: a current-mode stage's
        limit, or what its compliance voltage allows; a voltage-mode stage's
        largest voltage over the load (FDA asks for 500 ohm, 2 kohm and 10 kohm).

        Parameters
        ----------
        load_ohm : float
            The load, ohm (at least :data:`MIN_LOAD_OHM`).

        Returns
        -------
        float
            uA.

        Raises
        ------
        ValueError, TypeError
            ``load_ohm`` is not a number in range.
        """
        load_ohm = _checks.number("load_ohm", load_ohm, MIN_LOAD_OHM, unit="ohm")
        if self.load_ohm is None:
            return min(self.limit_ua, self.compliance_v / load_ohm * 1e6)
        # (the limit's voltage over this load: limit_ua * (load_ohm / load) is exact at the stage's own load)
        return min(self.limit_ua * (self.load_ohm / load_ohm), self.compliance_v / load_ohm * 1e6)

    def peak_ua(self, session: Session, rate: int = _checks.DEFAULT_RATE) -> float:
        """The highest current ``session`` asks at level 1, uA, as this
        stage's DAC delivers it: between samples too, through a band-limited
        reconstruction (see ``microwave/_reconstruct.py``).

        Parameters
        ----------
        session : Session
            What to play.
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        float
            ``session.peak_ua`` through a ``"held"`` DAC; through a
            ``"band-limited"`` one, the largest of each spec's peak times the
            most its current can go past that between samples, whatever gain
            and sign each of its pulses is given (soft starts and stops,
            level changes, ends, a stream cut mid-pulse: see
            ``microwave/_reconstruct.py``), plus, for a session of several
            steps, twice the most any spec's pulses ring across a step's
            silent end.

        Raises
        ------
        ValueError, TypeError
            ``session`` is not a Session, ``rate`` is out of range, or a
            spec cannot be sampled at ``rate``.

        Examples
        --------
        >>> from microwave import Biphasic
        >>> from microwave.sessions import Session, Step
        >>> s = Session("s", (Step("jaw", Biphasic(freq_hz=12_000, amp_ua=100, phase_us=2e6 / 48_000), 1),))
        >>> Stage(reconstruction="held").peak_ua(s)     # [100, 100, -100, -100] repeated
        100.0
        >>> round(Stage().peak_ua(s) / 100, 2)          # a sine of sqrt(2) x 100 through them; more, cut
        1.69
        """
        from .sessions import Session
        _checks.instance("session", session, Session, "a microwave.sessions.Session")
        return self._between(session, _checks.rate(rate))[0]

    def _ratios(self, session: Session, rate: int) -> dict:
        """Each of ``session``'s specs: (its peak between samples over its
        samples' peak, how far it rings past its samples, a fraction of its
        peak) through this stage's DAC: (1, 0) through a held one."""
        specs = {p for step in session.steps for p in step.programs(session.channels)}
        if self.reconstruction == "held":
            return dict.fromkeys(specs, (1.0, 0.0))
        from ._reconstruct import spec_ratio
        return {p: spec_ratio(p, rate) for p in specs}

    def _between(self, session: Session, rate: int, ratios: dict | None = None) -> tuple[float, float]:
        """(:meth:`peak_ua`, the most the current between samples adds to
        any sample's, uA at level 1): each spec's own overshoot, and the
        ringing of the steps before and after across their silent ends
        (``ratios``: :meth:`_ratios`, when the caller has them)."""
        if self.reconstruction == "held":
            return session.peak_ua, 0.0
        ratios = ratios if ratios is not None else self._ratios(session, rate)
        specs = ratios.keys()
        reach = 2 * max(p.peak_ua * ratios[p][1] for p in specs) if len(session.steps) > 1 else 0.0
        return (max(p.peak_ua * ratios[p][0] for p in specs) + reach,
                max(p.peak_ua * (ratios[p][0] - 1.0) for p in specs) + reach)

    def _pre_ring(self) -> float:
        """How far a cut of an AC drive's pre-emphasis rings past the
        samples, a fraction of it: the sampled step's overshoot through a
        band-limited DAC, 0 through a held one."""
        if self.reconstruction == "held":
            return 0.0
        from ._reconstruct import step_overshoot
        return step_overshoot()

    def _supervised(self, session: Session, rate: int, max_level: float) -> StagePlan:
        """:meth:`plan` for ``session`` played at levels up to ``max_level``:
        through an AC stage, the supervisor's soft bound keeps room for what
        the current rings between samples (what :meth:`assess` counts), so
        that a level moved with the waveform ends the session while the
        current between samples is still within the limit."""
        plan = self.plan(session.channels_on(self), rate)
        if self.coupling == "dc":
            return plan
        return dataclasses.replace(plan, between_ua=self._between(session, rate)[1] * max_level,
                                   pre_ring=self._pre_ring())

    def check_peak(self, peak_ua: float, what: str = "the session") -> None:
        """Raise before rendering when a peak is more than this stage allows.

        Parameters
        ----------
        peak_ua : float
            The largest current asked, uA (>= 0).
        what : str
            What asks it, for the message (default "the session").

        Raises
        ------
        ValueError
            ``peak_ua`` exceeds :attr:`limit_ua` (the message says why the limit
            is what it is and what to lower), or is not a number >= 0.
        TypeError
            ``peak_ua`` is not a number or ``what`` not a str.
        """
        peak_ua = _checks.number("peak_ua", peak_ua, 0, unit="uA")   # NaN must not slip past the comparison
        _checks.text("what", what)
        if peak_ua > self.limit_ua * (1 + 1e-9):
            raise ValueError(f"{what} asks for a peak (peak_ua) of {peak_ua:g} uA: this stage allows at most "
                             f"{self.limit_ua:g} uA ({self._limit_why()}); lower the intensity or amp_ua")

    def _limit_why(self) -> str:
        """Why :attr:`limit_ua` is what it is, for a message."""
        why = [f"max_ua={self.max_ua:g}"]
        if self.coupling == "ac":
            why.append(f"less the {100 * AC_MARGIN:g} % margin of an AC coupling")
        offset = max(self.offset_ua(c) for c in range(len(self.channel_map)))
        if offset > 0:
            why.append(f"less the {offset:g} uA the card's measured DC offset adds ([calibration] dc_offset)")
        if self.load_ohm is not None:
            why.append(f"at the lowest load of {self.load_ohm_min:g} ohm, which is {self.load_spread:g} x the "
                       f"current at the nominal {self.load_ohm:g} ohm (a voltage-mode stage)")
        why.append(f"full scale {self.full_scale_ua():g} uA")
        return "; ".join(why)

    # ---- can it play a session? ---------------------------------------------------
    def assess(self, session: Session, rate: int = _checks.DEFAULT_RATE) -> tuple[float, float]:
        """Whether this stage can play ``session`` within its limit, and how loud.

        Through a DC-coupled stage the current is the drive, so the peak the
        specs ask for decides: between samples too (:meth:`peak_ua`), where
        a band-limited DAC carries hard edges past the samples.  Through an AC-coupled one the whole session
        is simulated, in compiled code and bounded memory, at level 1 with
        its soft starts and stops, the coupling's state carried from step to
        step, for corners across :attr:`corner_range_hz` (at most 15 % apart): the
        current that flows, the charge the coupling stores (what an abrupt
        stop would release) and the drive against the DAC's swing, played
        through and played on after a pause at any sample before (a pause
        bleeds the coupling, and the pre-emphasis then starts again from
        nothing stored, which shifts the drive by what was stored there).  All
        three scale with the level, so the worst ratio to its bound gives
        the highest level at which the limit holds.  (The net dose scales
        with the level too: the level stays within the session's
        ``max_dose_ua_min``.)

        Parameters
        ----------
        session : Session
            What to play.
        rate : int
            Samples per second, Hz (1000 to 768000; default 48000).

        Returns
        -------
        max_level : float
            The highest level (intensity multiplier) at which the current that
            flows stays within the limit.
        worst_ua : float
            The worst current predicted to flow at level 1, uA (every corner and
            load, abrupt stops included, between samples too).

        Raises
        ------
        ValueError
            The stage cannot play the session at all (the message says where and
            why: the peak, the stored charge or the drive), or ``rate`` is out of range.
        TypeError
            ``session`` is not a Session, or ``rate`` not a whole number.
        """
        from .sessions import Session
        _checks.instance("session", session, Session, "a microwave.sessions.Session")
        rate = _checks.rate(rate)
        ratios = self._ratios(session, rate)
        peak, between = self._between(session, rate, ratios)
        if peak > self.limit_ua * (1 + 1e-9):
            raise ValueError(_peak_refusal(self, session, rate, peak, ratios))
        top = self.limit_ua / peak if peak > 0 else 1.0
        dose = session.dose_ua_min()
        if dose > 0:   # the net dose scales with the level too
            top = min(top, session.max_dose_ua_min / dose)
        if self.coupling == "dc":
            self.plan(session.channels_on(self), rate)
            return top, peak * self.load_spread
        # the whole session at level 1 through the supervisor, measuring
        engine = session._engine(rate, self, measure=True)
        assert self.out_channels is not None   # __post_init__ sets it
        block = np.empty((1 << 16, self.out_channels), dtype=np.float32)
        total, progress = engine.state["total"], _check_progress.get()
        for start in range(0, total, len(block)):
            engine.fill(block)
            if progress is not None:
                progress(min(start + len(block), total), total)
        sup = engine.supervision
        if sup["worst"] > 1.0:
            raise ValueError(_refusal(self, session, rate, sup))
        # between samples the current goes past them by what the drive's edges ring (they pass the
        # coupling as they are): at most what the specs' own bound adds to their peaks, and, where a
        # stream dies, what the step of the drive's pre-emphasis to zero rings (an outside review
        # measured 0.987 of max_ua where this was left out and 0.960 predicted: a LIFT plateau cut)
        between += self._pre_ring() * sup["peak_pre_emphasis_ua"]
        # (the drive too: through a card declared AC but in fact DC-coupled the drive is the current,
        # and its cut rings as well; a review measured 1.09 x max_ua where it was left out)
        sampled = max(sup["peak_current_ua"], sup["peak_stored_ua"], sup["peak_drive_ua"])
        worst = (sampled + between) * self.load_spread
        # the supervisor's soft bound stays free at a steady level (it is for
        # what the check cannot see), less a hair: the samples are float32.
        # And played on after a hold, from what the coupling may still store
        # (SUPERVISOR_RESTART of the limit, kept by the pre-emphasis), each
        # of its measures moves by at most (2 + pre_ring) times that
        # (csrc/mw_supervisor.h, mw_sup_drained): the room for it is kept too
        ratio = max(sup["worst"], (sampled + between) / self.limit_ua)
        free = SUPERVISOR_SOFT - (2.0 + self._pre_ring()) * SUPERVISOR_RESTART
        top_ac = free * (1.0 - 1e-5) / ratio if ratio > 0 else top
        return min(top, top_ac), worst

    def plan(self, n_program_channels: int, rate: int) -> StagePlan:
        """The C plan for the compiled stage and its supervisor (a :class:`microwave.plans.StagePlan`).

        Parameters
        ----------
        n_program_channels : int
            The session's channels with their own programs (1 to ``MAX_CHANNELS``),
            each routed by ``channel_map``.
        rate : int
            Samples per second, Hz (1000 to 768000).

        Returns
        -------
        StagePlan
            The routes, gains, clamp and the supervisor's model and bounds
            (a :class:`microwave.plans.StagePlan`).

        Raises
        ------
        ValueError, TypeError
            ``n_program_channels`` or ``rate`` is not a whole number in range,
            or ``n_program_channels`` is more than ``channel_map`` routes
            (named in the message).
        """
        n_program_channels = _checks.integer("n_program_channels", n_program_channels, 1, MAX_CHANNELS)
        rate = _checks.rate(rate)
        if n_program_channels > len(self.channel_map):
            raise ValueError(f"the session has {n_program_channels} channels with their own programs "
                             f"(n_program_channels={n_program_channels}) but "
                             f"channel_map={self.channel_map!r} routes only {len(self.channel_map)}: "
                             f"add routes (a DAC channel or a bridged pair per program channel)")
        routes, gains = [], []
        for c in range(n_program_channels):
            r = self.channel_map[c]
            routes.append(r if isinstance(r, tuple) else (r, -1))
            gains.append(self.dac_per_ua(c))
        assert self.out_channels is not None   # __post_init__ sets it
        single, pair, lo, hi = self._corners(self.channel_map[:n_program_channels])
        return StagePlan(out_channels=self.out_channels, routes=tuple(routes), gains_dac_per_ua=tuple(gains),
                         # DC: the current is the drive, clamped to the limit in DAC units
                         clamp_dac=min(self.limit_ua * g for g in gains),
                         # AC: the supervisor's model and bounds
                         coupling=self.coupling, corner_hz=single,
                         pair_corner_hz=pair if self.coupling == "ac" and pair != single else None,
                         corner_lo_hz=lo if self.coupling == "ac" else None,
                         corner_hi_hz=hi if self.coupling == "ac" else None,
                         limit_ua=self.limit_ua, rail_ua=tuple(self.headroom / g for g in gains),
                         bleed_fraction=BLEED_FRACTION,
                         # a voltage-mode stage's load, and with it the corner, may change mid-session
                         corner_moves=(self.coupling == "ac" and self.load_ohm_min is not None
                                       and self.load_ohm_max is not None and self.load_ohm_min < self.load_ohm_max))


#: ``progress(done_frames, total_frames)``, called through an AC stage's
#: whole-session check (:meth:`Stage.assess`) in the context it is set in:
#: the command line shows it as a bar (at 768 kHz a 20-minute session takes
#: minutes to check, and said nothing meanwhile)
_check_progress: contextvars.ContextVar = contextvars.ContextVar("_check_progress", default=None)


def _refusal(stage: Stage, session: Session, rate: int, sup: dict) -> str:
    """Why an AC-coupled stage cannot play a session: where it first goes
    past a bound (the cause: the worst may come steps later, from the charge
    left stored), what, and how much at worst."""
    edges = [end for _, end in session.step_edges(rate)]

    def where(at: int) -> tuple[int, str]:
        i = next((k for k, end in enumerate(edges) if at < end), len(edges) - 1)
        step = session.steps[i]
        return i, f"at {at / rate:.2f} s, in step {i + 1} ({step.zone!r}, {step.label or 'custom'})"

    first = sup["over_at"]   # not None: the worst is past a bound
    i, place = where(first)
    j, worst_place = where(sup["at"])
    step = session.steps[i]
    if sup["what"] == "rail":
        what = (f"the pre-emphasised drive would reach {sup['worst'] * sup['rail_ua']:.0f} uA-equivalent, "
                f"beyond the DAC's swing of {sup['rail_ua']:.0f} uA-equivalent (headroom={stage.headroom:g})")
    elif sup["what"] == "drive":
        stored = sup["peak_stored_ua"]
        what = (f"the pre-emphasised drive itself (what flows if the card is in fact DC-coupled) would reach "
                f"{sup['worst'] * sup['limit_ua']:.0f} uA"
                + (f", and the charge stored in the coupling {stored:.0f} uA" if stored > sup["limit_ua"] else "")
                + f", beyond the {sup['limit_ua']:.0f} uA allowed ({stage._limit_why()})")
    else:
        kind = ("the current through" if sup["what"] == "current" else
                "the charge stored in (the current an abrupt stop would release through)")
        coupling = (f"a {sup['corner_hz']:.3g} Hz coupling" if not sup["corner_moving"] else
                    f"a coupling whose corner moves with the load ({stage.corner_range_hz[0]:.3g} to "
                    f"{stage.corner_range_hz[1]:.3g} Hz, the load changing mid-session)")
        what = (f"{kind} {coupling} would reach {sup['worst'] * sup['limit_ua']:.0f} uA, "
                f"beyond the {sup['limit_ua']:.0f} uA allowed ({stage._limit_why()})")
    if j != i or sup["at"] - first > rate:
        passed = {"rail": "the pre-emphasised drive passes the DAC's swing",
                  "drive": "the pre-emphasised drive passes the limit",
                  "current": "the current through the coupling passes the limit",
                  "stored": "the charge stored in the coupling passes the limit"}[sup["over_what"]]
        what = f"{passed} first, and it grows from there: at worst, {worst_place}, {what}"
    dc = max(abs(p.net_dc_ua) for p in step.programs(session.channels))
    if sup["what"] == "drive" and sup["peak_stored_ua"] <= sup["limit_ua"]:
        why = ("the pre-emphasis adds drive through each long phase to make up for the coupling's droop, "
               "and the drive is kept within the limit too, in case the card is in fact DC-coupled")
    else:
        why = ("through a capacitor a held polarity or a net DC builds up stored charge"
               + (f" (this step's net DC is {dc:.3g} uA)" if dc > 0 else ""))
    return (f"session {session.name!r} cannot be played through this AC-coupled output ({stage._corner_words()}): "
            f"{place}, played through or played on after a pause before it (a pause bleeds "
            f"the coupling), {what}; it would hold up to {math.floor(1000 / sup['worst']) / 10:.1f} % "
            f"of the programmed intensity.  {why[0].upper()}{why[1:]}.  Lower the level or the steps' length, "
            f"use a charge-balanced mode, or a DC-coupled interface (Expert Sleepers ES-8/ES-9; coupling='dc')")


def _peak_refusal(stage: Stage, session: Session, rate: int, peak: float, ratios: dict) -> str:
    """Why a stage cannot play a session whose peak is beyond its limit:
    where (the step whose samples peak highest, and when it starts), how
    much, and the highest intensity that would hold (``ratios``: the
    stage's :meth:`Stage._ratios` of the session)."""
    peaks = [max(p.peak_ua * ratios[p][0] for p in step.programs(session.channels)) for step in session.steps]
    i = peaks.index(max(peaks))
    step, edges = session.steps[i], session.step_edges(rate)
    when = (f"from {edges[i][0] / rate:.2f} s, " if i < len(edges) else
            f"after the auto-off at {session.auto_off_s:g} s, which drops it (its peak is checked all the same), ")
    # (through an AC coupling the charge it stores may lower the level further: the share is the peak's)
    what, less = ("it", "") if stage.coupling == "dc" else ("its peak", ", the AC coupling's charge less")
    past = ("" if peak <= session.peak_ua * (1 + 1e-9) else
            f" (its samples peak at {session.peak_ua:g} uA; the card's band-limited reconstruction carries its "
            f"hard edges {100 * (peak / session.peak_ua - 1):.3g} % past them)")
    return (f"session {session.name!r} asks for a peak (peak_ua) of {peak:g} uA{past}, {when}in step "
            f"{i + 1} ({step.zone!r}, {step.label or 'custom'}): this stage allows at most {stage.limit_ua:g} uA "
            f"({stage._limit_why()}); {what} would hold up to {math.floor(1000 * stage.limit_ua / peak) / 10:.1f} % "
            f"of the programmed intensity{less}.  Lower the steps' level (a session file's `level`) or amp_ua")


def _given(stage: Stage | None) -> Stage:
    """``stage``, or the default ``Stage()`` for None; anything else is a
    TypeError naming ``stage`` (what every function taking ``stage=`` does)."""
    return Stage() if stage is None else _checks.instance("stage", stage, Stage, "a microwave.stage.Stage")


def ua_stage(channels: int) -> Stage:
    """An ideal DC stage with every channel routed, :data:`UA_PER_UNIT` uA per
    DAC unit: through it a session renders the current it asks for
    (``Session.render_ua``).

    Parameters
    ----------
    channels : int
        Program channels, each on its own DAC channel (1 to 32).

    Returns
    -------
    Stage

    Raises
    ------
    ValueError, TypeError
        ``channels`` is not a whole number in range.
    """
    channels = _checks.integer("channels", channels, 1, MAX_CHANNELS)
    return Stage(ua_per_v=UA_PER_UNIT, full_scale_v=1.0, max_ua=1000.0, channel_map=tuple(range(channels)),
                 reconstruction="held")


# ---- the schema of a stage file (docs/toml.md describes it; a test keeps the two alike) ----
STAGE_KEYS = (
    _toml.Key("full_scale_v", _toml.NUMBER, "volts at the DAC for a sample of 1.0, > 0 and <= 100; default 1"),
    _toml.Key("ua_per_v", _toml.NUMBER, f"uA per V of a current-mode stage, > 0; default {DEFAULT_UA_PER_V:g} "
                                        f"(give this or load_ohm)"),
    _toml.Key("load_ohm", _toml.NUMBER, "ohm, the nominal load of a voltage-mode stage, >= 1 (give this or ua_per_v)"),
    _toml.Key("load_ohm_min", _toml.NUMBER, "ohm, the lowest load of a voltage-mode stage, >= 1 and <= load_ohm; "
                                            "default min(500, load_ohm)"),
    _toml.Key("load_ohm_max", _toml.NUMBER, "ohm, the highest load of a voltage-mode stage, >= load_ohm; "
                                            "default max(10000, load_ohm)"),
    _toml.Key("compliance_v", _toml.NUMBER, "volts the stage can put across the load, > 0 and <= 500; default 15"),
    _toml.Key("coupling", _toml.STRING, "'dc' or 'ac'; default 'dc'"),
    _toml.Key("corner_hz", _toml.NUMBER, "Hz, an AC coupling's high-pass corner, 0.01 to 1000; default 5"),
    _toml.Key("corner_tolerance", _toml.NUMBER, "fraction the corner is known to, 0-0.9; default 0.3"),
    _toml.Key("headroom", _toml.NUMBER, "fraction of full scale pre-emphasis may swing, > 0 and <= 1; default 1"),
    _toml.Key("channel_map", _toml.ARRAY, "per program channel a DAC channel index or a bridged pair [a, b]; "
                                          "default [0, 1]"),
    _toml.Key("out_channels", _toml.INTEGER, "DAC channels, up to 32; default: the highest mapped + 1"),
    _toml.Key("reconstruction", _toml.STRING, "'band-limited' (a sound card's DAC) or 'held' (a DAC measured "
                                              "not to overshoot); default 'band-limited'"),
    _toml.Key("max_ua", _toml.NUMBER, f"uA, the most current that may flow, > 0 and <= {ABSOLUTE_MAX_UA:g}; "
                                      f"default 500"),
    _toml.Key("calibration", _toml.TABLE, "what a loopback calibration measured: a [calibration] table"),
)
CALIBRATION_KEYS = (
    _toml.Key("date", _toml.DATE, "when it was measured, e.g. 2026-12-01 or 2026-12-01T14:30:00"),
    _toml.Key("output_device", _toml.STRING, "the output device's name"),
    _toml.Key("input_device", _toml.STRING, "the input device's name"),
    _toml.Key("rate", _toml.INTEGER, f"Hz, the sample rate measured at, {_checks.MIN_RATE}-{_checks.MAX_RATE}"),
    _toml.Key("latency_ms", _toml.NUMBER, "ms from output to input, 0-10000"),
    _toml.Key("loop_gain", _toml.NUMBERS, "per DAC channel, input over output amplitude, > 0 and <= 1000"),
    _toml.Key("corner_hz", _toml.NUMBER, "Hz, the measured corner, 0.01 to 1000; the stage's corner_hz "
                                         "must equal it"),
    _toml.Key("corner_uncertainty", _toml.NUMBER, "fraction, 0-0.9; at most the stage's corner_tolerance"),
    _toml.Key("noise_floor_dbfs", _toml.NUMBER, "dBFS, -300-0"),
    _toml.Key("crosstalk_db", _toml.NUMBER, "dB, -300-0"),
    _toml.Key("dc_offset", _toml.NUMBERS, "per DAC channel, a fraction of full scale, -1 to 1"),
    _toml.Key("passed", _toml.BOOL, "whether the calibration passed its checks"),
)
#: a declared corner agrees with the measured one when within this fraction of it
CORNER_AGREEMENT = 1e-3


def _calibration_conflicts(stage: Stage, cal: Calibration):
    """Each way ``stage`` contradicts its own calibration, as (the stage's
    key, the measurement's key, why): the stage must use the measured
    corner, declare at least the measured uncertainty, and have one
    per-channel entry per DAC channel."""
    if cal.corner_hz is not None:
        if stage.coupling != "ac":
            yield ("calibration", "corner_hz"), "corner_hz", (
                f"[calibration] corner_hz={cal.corner_hz:g} was measured but coupling={stage.coupling!r}: "
                f"an AC-coupled card needs coupling = \"ac\" and corner_hz = {cal.corner_hz:g}")
        elif not math.isclose(stage.corner_hz, cal.corner_hz, rel_tol=CORNER_AGREEMENT):
            yield "corner_hz", "corner_hz", (
                f"corner_hz={stage.corner_hz:g} disagrees with the measured [calibration] corner_hz="
                f"{cal.corner_hz:g}: the stage must use the measured corner (corner_hz = {cal.corner_hz:g})")
    if (stage.coupling == "ac" and cal.corner_uncertainty is not None
            and cal.corner_uncertainty > stage.corner_tolerance):
        yield "corner_tolerance", "corner_uncertainty", (
            f"corner_tolerance={stage.corner_tolerance:g} is narrower than the measured [calibration] "
            f"corner_uncertainty={cal.corner_uncertainty:g}: declare at least the measured uncertainty")
    for key in ("loop_gain", "dc_offset"):
        v = getattr(cal, key)
        if v is not None and len(v) != stage.out_channels:
            yield ("calibration", key), key, (
                f"[calibration]: {key} has {len(v)} entries for a stage of out_channels={stage.out_channels}: "
                f"give one per DAC channel")
    if cal.dc_offset is None or len(cal.dc_offset) != stage.out_channels:
        return
    for c in range(len(stage.channel_map)):
        if stage._offset_ua(c, cal) >= stage.max_ua:
            yield ("calibration", "dc_offset"), "dc_offset", (
                f"[calibration] dc_offset={cal.dc_offset!r} drives {stage._offset_ua(c, cal):g} uA through program "
                f"channel {c} (channel_map[{c}]={stage.channel_map[c]!r}) with the DAC at zero, at least "
                f"max_ua={stage.max_ua:g}: trim the card's offset, or use its AC-coupled output")
