"""The output stage: the hardware between the DAC and the electrodes.

A :class:`Stage` says how DAC samples become current:

* ``full_scale_v``: volts at the DAC for a sample of 1.0;
* a current-mode stage (a Howland pump, say) with ``ua_per_v``
  transconductance, or a voltage-mode stage driving ``load_ohm``;
* ``compliance_v``: the most voltage the stage can put across the load;
* ``coupling``: ``"dc"``, or ``"ac"`` with the card's high-pass ``corner_hz``
  (REFERENCE.md: most sound-card outputs are AC-coupled, a few Hz to 20 Hz);
* ``channel_map``: for each program channel, a DAC channel, or a pair
  ``(a, b)`` driven in antiphase (bridged: twice the swing for one
  electrode pair);
* ``max_ua``: the hard maximum (default 500 uA, the FSM ceiling; never above
  1000 uA).  Asking for more raises before anything renders, and every
  sample is clamped to it in compiled code as the last step on every path.

Load one from TOML with :meth:`Stage.from_toml`.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields

from . import _checks

ABSOLUTE_MAX_UA = 1000.0
FDA_LOADS_OHM = (500.0, 2000.0, 10000.0)


@dataclass(frozen=True)
class Stage:
    full_scale_v: float = 1.0
    ua_per_v: float | None = 1000.0
    load_ohm: float | None = None
    compliance_v: float = 15.0
    coupling: str = "dc"
    corner_hz: float = 5.0
    channel_map: tuple = (0, 1)
    out_channels: int | None = None
    max_ua: float = 500.0
    #: how far (fraction of full scale) pre-emphasis may swing before a pattern is refused
    headroom: float = 1.0

    def __post_init__(self):
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        s("full_scale_v", _checks.number("full_scale_v", self.full_scale_v, 0, 100, lo_open=True, unit="V"))
        if (self.ua_per_v is None) == (self.load_ohm is None):
            raise ValueError("give exactly one of ua_per_v (current-mode stage) or load_ohm (voltage-mode stage)")
        if self.ua_per_v is not None:
            s("ua_per_v", _checks.number("ua_per_v", self.ua_per_v, 0, 1e7, lo_open=True, unit="uA/V"))
        else:
            s("load_ohm", _checks.number("load_ohm", self.load_ohm, 0, 1e7, lo_open=True, unit="ohm"))
        s("compliance_v", _checks.number("compliance_v", self.compliance_v, 0, 500, lo_open=True, unit="V"))
        _checks.choice("coupling", self.coupling, ("dc", "ac"))
        s("corner_hz", _checks.number("corner_hz", self.corner_hz, 0, 1000, lo_open=True, unit="Hz"))
        s("max_ua", _checks.number("max_ua", self.max_ua, 0, ABSOLUTE_MAX_UA, lo_open=True, unit="uA"))
        s("headroom", _checks.number("headroom", self.headroom, 0, 1, lo_open=True))
        cmap = tuple(tuple(x) if isinstance(x, (list, tuple)) else x for x in self.channel_map)
        if not cmap:
            raise ValueError("channel_map is empty: map at least one program channel to a DAC channel")
        used = []
        for i, route in enumerate(cmap):
            parts = route if isinstance(route, tuple) else (route,)
            if len(parts) not in (1, 2) or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in parts):
                raise ValueError(f"channel_map[{i}]={route!r} is not allowed: a DAC channel index or a pair (a, b)")
            used += parts
        if len(set(used)) != len(used):
            raise ValueError(f"channel_map={cmap!r} uses a DAC channel twice")
        s("channel_map", cmap)
        n_out = self.out_channels if self.out_channels is not None else max(used) + 1
        s("out_channels", _checks.integer("out_channels", n_out, max(used) + 1, 32))

    @classmethod
    def from_toml(cls, path) -> "Stage":
        """Load a stage from a TOML file whose keys are this class's fields."""
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"{path}: {e}") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None

    # ---- the mapping -------------------------------------------------------
    def volts_per_ua(self) -> float:
        """Volts across the stage input per uA of output."""
        if self.ua_per_v is not None:
            return 1.0 / self.ua_per_v
        return self.load_ohm * 1e-6

    def dac_per_ua(self, channel: int = 0) -> float:
        """DAC units per uA on each DAC channel of program channel ``channel``
        (half for a bridged pair, whose two channels add)."""
        bridged = isinstance(self.channel_map[channel], tuple)
        return self.volts_per_ua() / self.full_scale_v / (2.0 if bridged else 1.0)

    def full_scale_ua(self, channel: int = 0) -> float:
        """The current a full-scale DAC sample would ask for."""
        return 1.0 / self.dac_per_ua(channel)

    @property
    def limit_ua(self) -> float:
        """The largest current this stage will produce: its maximum, or less
        where the DAC's full scale cannot reach it."""
        return min([self.max_ua] + [self.full_scale_ua(c) for c in range(len(self.channel_map))])

    def hp_coefficient(self, rate: int) -> float:
        """a of the AC-coupling high-pass y[n] = a (y[n-1] + x[n] - x[n-1])."""
        rc = 1.0 / (2 * math.pi * self.corner_hz)
        return rc / (rc + 1.0 / rate)

    def max_ua_at(self, load_ohm: float) -> float:
        """Largest current into a load: the limit, or what the compliance
        voltage allows (FDA asks for 500 ohm, 2 kohm and 10 kohm)."""
        return min(self.limit_ua, self.compliance_v / load_ohm * 1e6)

    def check_peak(self, peak_ua: float, what: str = "the session") -> None:
        """Raise before rendering when ``peak_ua`` is more than this stage allows."""
        if peak_ua > self.limit_ua * (1 + 1e-9):
            raise ValueError(f"{what} asks for a peak of {peak_ua:g} uA: this stage allows at most "
                             f"{self.limit_ua:g} uA (max_ua={self.max_ua:g}, full scale {self.full_scale_ua():g} uA); "
                             f"lower the intensity or amp_ua")

    def plan(self, n_program_channels: int, rate: int) -> dict:
        """The C plan for the compiled stage."""
        if n_program_channels > len(self.channel_map):
            raise ValueError(f"the session has {n_program_channels} channels with their own programs but "
                             f"channel_map={self.channel_map!r} routes only {len(self.channel_map)}: "
                             f"add routes (a DAC channel or a bridged pair per program channel)")
        routes, gains = [], []
        for c in range(n_program_channels):
            r = self.channel_map[c]
            routes.append(r if isinstance(r, tuple) else (r, -1))
            gains.append(self.dac_per_ua(c))
        limit_dac = min(self.limit_ua * g for g in gains)
        head_dac = min(self.headroom, limit_dac) if self.coupling == "dc" else self.headroom
        clamp = limit_dac if self.coupling == "dc" else head_dac
        return {"out_channels": self.out_channels, "routes": routes, "gain": gains, "clamp": clamp,
                "compensate": self.coupling == "ac", "hp_a": self.hp_coefficient(rate),
                "lim_ua": self.limit_ua, "head_ua": head_dac / max(gains)}
