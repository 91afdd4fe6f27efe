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
  outputs are AC-coupled, with a corner of a few Hz to 20 Hz;
* ``channel_map``: for each program channel, a DAC channel, or a pair
  ``(a, b)`` driven in antiphase (bridged: twice the swing for one
  electrode pair);
* ``max_ua``: the hard maximum of the current that flows (default 500 uA,
  the FSM ceiling; never above 1000 uA).

The limit holds on the current that flows, not on the samples.  A session
asking for more is refused before anything renders.  While it plays, the
supervisor (compiled, ``csrc/mw_supervisor.h``) models what flows -- the
drive itself through a DC-coupled card; through an AC-coupled one,
corners across the tolerance (spaced geometrically at most 15 % apart, at
least seven), each with the charge its capacitor
stores -- and keeps every sample's drive where, for every modelled corner,
the current now and the current that an abrupt stop of the DAC would
release stay within the limit.  Two consequences a user sees:

* **Voltage mode is bounded at the lowest load.**  The current into a load
  R is V / R, so the stage keeps V at most ``max_ua`` x ``load_ohm_min``.
  At the nominal load it then delivers at most ``max_ua`` x
  ``load_ohm_min`` / ``load_ohm``: a wide load range lowers what a
  voltage-mode stage may deliver at its nominal load.  Electrode-skin
  impedance is capacitive (a series resistance, then a resistance in
  parallel with a capacitance), so edges see little more than the series
  resistance: declare the lowest load honestly.
* **AC coupling keeps a 1 % margin** (:data:`AC_MARGIN`) below ``max_ua``
  for the corners between the ones it models, and a session that would
  store more charge than the limit (a held polarity, a slow net DC) is
  refused: through a first-order coupling the DC gain is zero, so all the
  net charge the drive pushes through the capacitor flows back when the DAC
  returns to zero.  Stopping bleeds that charge by a ramp of the drive, at
  most :data:`BLEED_FRACTION` of the limit, before the stream closes.

Load one from TOML with :meth:`Stage.from_toml`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from . import _checks
from ._toml import line_of, named_line, read_toml

__all__ = ["Stage", "ABSOLUTE_MAX_UA", "FDA_LOADS_OHM", "DEFAULT_UA_PER_V", "AC_MARGIN", "BLEED_FRACTION"]

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
#: the current (fraction of the limit) while a coupling's charge is bled
BLEED_FRACTION = 0.2


@dataclass(frozen=True)
class Stage:
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
            s("load_ohm", _checks.number("load_ohm", self.load_ohm, 0, 1e7, lo_open=True, unit="ohm"))
            # by default the FDA's range, widened to hold the nominal load
            lo = min(FDA_LOADS_OHM[0], self.load_ohm) if self.load_ohm_min is None else self.load_ohm_min
            hi = max(FDA_LOADS_OHM[-1], self.load_ohm) if self.load_ohm_max is None else self.load_ohm_max
            s("load_ohm_min", _checks.number("load_ohm_min", lo, 0, self.load_ohm, lo_open=True, unit="ohm"))
            s("load_ohm_max", _checks.number("load_ohm_max", hi, self.load_ohm, 1e7, unit="ohm"))
        s("compliance_v", _checks.number("compliance_v", self.compliance_v, 0, 500, lo_open=True, unit="V"))
        s("coupling", _checks.choice("coupling", self.coupling, ("dc", "ac")))
        s("corner_hz", _checks.number("corner_hz", self.corner_hz, 0, 1000, lo_open=True, unit="Hz"))
        s("corner_tolerance", _checks.number("corner_tolerance", self.corner_tolerance, 0, 0.9))
        s("max_ua", _checks.number("max_ua", self.max_ua, 0, ABSOLUTE_MAX_UA, lo_open=True, unit="uA"))
        s("headroom", _checks.number("headroom", self.headroom, 0, 1, lo_open=True))
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
        n_out = self.out_channels if self.out_channels is not None else max(used) + 1
        s("out_channels", _checks.integer("out_channels", n_out, max(used) + 1, MAX_CHANNELS))

    @classmethod
    def from_toml(cls, path) -> "Stage":
        """Load a stage from a TOML file whose keys are this class's fields.

        A current-mode stage gives ``ua_per_v``; a voltage-mode stage gives
        ``load_ohm`` (and may give ``load_ohm_min``, ``load_ohm_max``)."""
        data, text = read_toml(path)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}:{line_of(text, unknown[0])}: unknown key {unknown[0]!r}; "
                             f"allowed: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}:{named_line(text, str(e), data)}: {e}") from None

    @property
    def mode(self) -> str:
        """``"current"`` (the stage sets the current) or ``"voltage"`` (the load does)."""
        return "voltage" if self.load_ohm is not None else "current"

    @property
    def load_spread(self) -> float:
        """The most current that can flow per uA asked: 1 for a current-mode
        stage; load_ohm / load_ohm_min for a voltage-mode one."""
        return self.load_ohm / self.load_ohm_min if self.load_ohm is not None else 1.0

    # ---- the mapping -------------------------------------------------------
    def volts_per_ua(self) -> float:
        """Volts across the stage input per uA of output."""
        if self.ua_per_v is not None:
            return 1.0 / self.ua_per_v
        return self.load_ohm * 1e-6

    def dac_per_ua(self, channel: int = 0) -> float:
        """DAC units per uA on each DAC channel of program channel ``channel``
        (half for a bridged pair, whose two channels add)."""
        channel = self._channel(channel)
        bridged = isinstance(self.channel_map[channel], tuple)
        return self.volts_per_ua() / self.full_scale_v / (2.0 if bridged else 1.0)

    def full_scale_ua(self, channel: int = 0) -> float:
        """The current a full-scale DAC sample would ask for."""
        channel = self._channel(channel)
        return 1.0 / self.dac_per_ua(channel)

    def _channel(self, channel) -> int:
        """A program channel's index, checked against channel_map."""
        return _checks.integer("channel", channel, 0, len(self.channel_map) - 1)

    @property
    def limit_ua(self) -> float:
        """The largest current (uA, as asked at the nominal conversion) this
        stage will produce: ``max_ua``, less the AC margin, divided by the
        load spread of a voltage-mode stage, or less where the DAC's full
        scale cannot reach it."""
        margin = 1.0 - AC_MARGIN if self.coupling == "ac" else 1.0
        return min([self.max_ua * margin / self.load_spread]
                   + [self.full_scale_ua(c) for c in range(len(self.channel_map))])

    @property
    def max_bleed_s(self) -> float:
        """The longest an end's bleed can take (s): from a charge at the limit,
        at BLEED_FRACTION of the limit through the slowest corner; 0 when
        DC-coupled."""
        if self.coupling == "dc":
            return 0.0
        tau = 1.0 / (2 * math.pi * self.corner_hz * (1.0 - self.corner_tolerance))
        return tau / BLEED_FRACTION * 1.01

    def max_ua_at(self, load_ohm: float) -> float:
        """The largest current that can flow into ``load_ohm``: a current-mode
        stage's limit, or what its compliance voltage allows; a voltage-mode
        stage's largest voltage over the load (FDA asks for 500 ohm, 2 kohm
        and 10 kohm)."""
        load_ohm = _checks.number("load_ohm", load_ohm, 0, lo_open=True, unit="ohm")
        if self.load_ohm is None:
            return min(self.limit_ua, self.compliance_v / load_ohm * 1e6)
        return min(self.limit_ua * 1e-6 * self.load_ohm, self.compliance_v) / load_ohm * 1e6

    def check_peak(self, peak_ua: float, what: str = "the session") -> None:
        """Raise before rendering when ``peak_ua`` is more than this stage allows."""
        peak_ua = _checks.number("peak_ua", peak_ua, 0, unit="uA")   # NaN must not slip past the comparison
        _checks.text("what", what)
        if peak_ua > self.limit_ua * (1 + 1e-9):
            why = [f"max_ua={self.max_ua:g}"]
            if self.coupling == "ac":
                why.append(f"less the {100 * AC_MARGIN:g} % margin of an AC coupling")
            if self.load_ohm is not None:
                why.append(f"at the lowest load of {self.load_ohm_min:g} ohm, which is {self.load_spread:g} x the "
                           f"current at the nominal {self.load_ohm:g} ohm (a voltage-mode stage)")
            why.append(f"full scale {self.full_scale_ua():g} uA")
            raise ValueError(f"{what} asks for a peak (peak_ua) of {peak_ua:g} uA: this stage allows at most "
                             f"{self.limit_ua:g} uA ({'; '.join(why)}); lower the intensity or amp_ua")

    def plan(self, n_program_channels: int, rate: int) -> dict:
        """The C plan for the compiled stage and its supervisor."""
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
        return {"out_channels": self.out_channels, "routes": routes, "gain": gains,
                # DC: the current is the drive, clamped to the limit in DAC units
                "clamp": min(self.limit_ua * g for g in gains),
                # AC: the supervisor's model and bounds
                "coupling": self.coupling, "corner_hz": self.corner_hz, "corner_tolerance": self.corner_tolerance,
                "limit_ua": self.limit_ua, "rail_ua": [self.headroom / g for g in gains],
                "bleed_fraction": BLEED_FRACTION}
