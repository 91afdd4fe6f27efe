"""Calibrate a sound card through a loopback: the coupling and its corner measured, not typed in.

**Into a loopback or a dummy load, never into a person.**  Calibration
plays test signals (chirps, a 1 kHz sine, a slow square, a multisine, each
at most :data:`LEVEL` of full scale and ramped in and out) on the output
and records them on an input.  A stage whose limit they would pass is
refused before anything plays: their current is checked through no
coupling and through a one-pole coupling of any corner up to
:data:`MAX_CORNER_HZ` (the coupling is what is measured), which passes the
slow square's jumps whole (so its levels are +-LEVEL / 2, a jump of
LEVEL).  The signals are not stimulation.  Either

* a *loopback*: the card's output wired to its input (line out to line in,
  each DAC channel to the input channel of the same index unless told
  otherwise), or
* the stage's *sense resistor*: the stage drives a dummy load (a resistor,
  say 1 kohm) and the input records the voltage across the stage's sense
  resistor, which is proportional to the current that flows.

From the recording it measures, per DAC channel, the figures of a
:class:`ChannelResult` (latency and its stability, the loop's gain, the
coupling and its high-pass corner with an uncertainty, noise floor,
crosstalk, clipping and distortion, DC offset), compares each with the
limits below, and returns a :class:`CalibrationResult` that prints the
table (:meth:`CalibrationResult.table`) and writes a stage TOML
(:meth:`CalibrationResult.write_stage`).

How the corner is measured
--------------------------
A loopback sees the output's coupling and the input's in series.  The
input's is taken as known (DC unless ``input_corner_hz`` is given) and
modelled; the output's is fitted as a one-pole high-pass, the model of
:class:`~microwave.stage.Stage` (an RC high-pass after the DAC's
sample-and-hold, discretised exactly):

1. *step fit*: a slow square (two cycles of +-:data:`LEVEL` / 2, then a rest,
   each half-period ``1 / lowest_corner_hz`` long, edges ramped over
   2 ms) is played; the recording is fitted by least squares with
   ``gain x highpass(played; corner) + offset``, searching the corner on a
   logarithmic grid and refining it;
2. *multisine cross-check*: a periodic multisine (lines from
   ``lowest_corner_hz`` to 300 Hz, Schroeder phases) gives the response
   H(f) line by line; a one-pole high-pass is fitted to it the same way.

The corner is the step fit's.  Its uncertainty is the largest of
:data:`UNCERTAINTY_FLOOR`, three standard errors of the step fit, and the
relative disagreement of the two methods (as log-ratios), widened by
:data:`INPUT_CORNER_TOLERANCE` when an input corner is declared, and given
as the fraction that covers both sides (``e**q - 1``).  The calibration *fails* rather
than report a wrong corner when the one-pole model does not explain the
response (either fit's relative residual above :data:`MAX_RESIDUAL`: two
high-passes in series, say), or when the two methods disagree by more
than :data:`MAX_DISAGREEMENT`.  A corner below
:data:`DC_FRACTION` x ``lowest_corner_hz`` cannot be told from none: the
path is then DC-coupled.

The loop's gain is input over output (ADC units per DAC unit, at 1 kHz,
corrected for the couplings), not uA per DAC unit: the absolute scale
comes from the base stage (``ua_per_v``, ``full_scale_v``), or from a
meter: :func:`play_reference_tone` plays :data:`REFERENCE_TONE_HZ` at
:data:`LEVEL` of full scale on program channel 0, and the meter's RMS
reading of its current, ``reference_ua``, sets ``ua_per_v``.

Importing this module does not import sounddevice: only
:func:`calibrate` and :func:`play_reference_tone` open the card.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
from dataclasses import dataclass

import numpy as np

from . import _checks
from ._extras import require
from .backends.file import staged
from .stage import Calibration, Stage, _given, _iso_date

__all__ = ["calibrate", "analyse", "Plan", "ChannelResult", "CalibrationResult", "Figure", "play_reference_tone",
           "write_stage_toml", "LEVEL"]

# ---- the signals and the limits (the docs' table repeats them) ------------------------------
#: peak of every test signal, a fraction of full scale
LEVEL = 0.25
#: the sine that measures gain, distortion and crosstalk, Hz
SINE_HZ = 1000.0
#: the meter's calibration tone, Hz (within any true-RMS meter's band; a
#: coupling's corner of up to 20 Hz changes its amplitude by under 0.13 %)
REFERENCE_TONE_HZ = 400.0
#: a loop gain below this is no signal (-40 dB)
MIN_LOOP_GAIN = 0.01
#: a recorded sample at or beyond this fraction of the input's full scale is clipping
CLIP_LEVEL = 0.99
#: the widest corner uncertainty a stage can declare (Stage.corner_tolerance <= 0.9)
MAX_UNCERTAINTY = 0.9
#: the 1 kHz sine's residual after a pure-sine fit, relative to the sine (THD+N, 1 % = -40 dB)
MAX_DISTORTION = 0.01
#: the spread of the latency over every chirp of a run, ms
MAX_JITTER_MS = 0.5
#: a one-pole fit whose RMS residual is above this fraction of the response's RMS does not explain it
MAX_RESIDUAL = 0.01
#: the step fit's and the multisine's corners may differ by this fraction
MAX_DISAGREEMENT = 0.1
#: the smallest relative corner uncertainty reported (a coupling capacitor drifts with temperature and age)
UNCERTAINTY_FLOOR = 0.02
#: how well a declared input corner (input_corner_hz, from a datasheet) is known, as a fraction:
#: it widens the output corner's uncertainty by up to this (two nearby poles trade places)
INPUT_CORNER_TOLERANCE = 0.3
#: a corner below this fraction of lowest_corner_hz is not told from DC
DC_FRACTION = 0.01
#: the highest corner fitted, Hz (the stage's limit)
MAX_CORNER_HZ = 1000.0
#: the noise floor of the input, dBFS (a full-scale sine is 0 dBFS)
MAX_NOISE_DBFS = -60.0
#: crosstalk into another input channel, dB relative to the channel played
MAX_CROSSTALK_DB = -40.0
#: a DC-coupled path's offset, a fraction of the DAC's full scale
MAX_DC_OFFSET = 0.01
#: digital silence is reported as this many dB (the TOML's floor)
SILENCE_DB = -300.0
#: multisine lines stop here, Hz
MULTISINE_TOP_HZ = 300.0


@dataclass(frozen=True)
class Segment:
    """Where a test signal lies in the played signal: frames [start, stop)."""
    start: int
    stop: int


@dataclass(frozen=True)
class ChannelPlan:
    """The segments played on one DAC channel (every other channel silent meanwhile)."""
    dac_channel: int
    chirps: tuple[int, ...]
    sine: Segment
    square: Segment
    multisine: Segment
    multisine_period: int


@dataclass(frozen=True)
class Plan:
    """The calibration's signal: what each channel plays when, at ``rate``.
    Build one with :meth:`build` (which checks its parameters); the class only
    holds what it made.

    Parameters
    ----------
    rate : int
        Samples per second, Hz.
    out_channels : int
        DAC channels in the signal.
    lowest_corner_hz : float
        The lowest corner the signals are sized for, Hz.
    silence : Segment
        Where every channel is silent (the noise floor).
    channels : tuple of ChannelPlan
        Each measured DAC channel's segments, in the order played.
    chirp : numpy.ndarray
        The chirp that finds the signal in a recording.
    multisine_bins : tuple of int
        The multisine's frequencies, in cycles per period.
    signal : numpy.ndarray
        frames x ``out_channels``, float32, peak :data:`LEVEL`.
    """
    rate: int
    out_channels: int
    lowest_corner_hz: float
    silence: Segment
    channels: tuple[ChannelPlan, ...]
    chirp: np.ndarray
    multisine_bins: tuple[int, ...]
    signal: np.ndarray

    @classmethod
    def build(cls, rate: int, out_channels: int, dac_channels, lowest_corner_hz: float = 1.0) -> Plan:
        """The plan for ``dac_channels``, each in turn.

        Parameters
        ----------
        rate : int
            Samples per second, Hz (1000 to 768000).
        out_channels : int
            DAC channels the card opens (1 to 32).
        dac_channels : sequence of int
            The channels measured, each below ``out_channels``, in order.
        lowest_corner_hz : float
            The lowest corner the signals are sized for, Hz (0.1 to 100; default
            1): the slow square's half-period and the multisine's period are
            ``1 / lowest_corner_hz`` seconds.

        Returns
        -------
        Plan

        Raises
        ------
        ValueError, TypeError
            A parameter out of range or of the wrong type (named in the message).

        Examples
        --------
        >>> plan = Plan.build(8000, 2, [0, 1])
        >>> plan.signal.shape[1], [c.dac_channel for c in plan.channels]
        (2, [0, 1])
        """
        rate = _checks.rate(rate)
        out_channels = _checks.integer("out_channels", out_channels, 1, 32)
        chans = _channel_list("dac_channels", dac_channels, out_channels)
        lowest_corner_hz = _checks.number("lowest_corner_hz", lowest_corner_hz, 0.1, 100, unit="Hz")
        sec = lambda s: int(round(s * rate))  # noqa: E731
        half = sec(1.0 / lowest_corner_hz)
        # the chirp: 40 ms, 200 Hz -> 8 kHz (below Nyquist), Hann-windowed
        n = sec(0.04)
        t = np.arange(n) / rate
        f0, f1 = 200.0, min(8000.0, 0.4 * rate)
        k = math.log(f1 / f0) / t[-1]
        chirp = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k) * np.hanning(n) * LEVEL
        # multisine: bins of a period of `half` frames, log-spaced up to 300 Hz, Schroeder phases
        top = max(2, int(min(MULTISINE_TOP_HZ, 0.4 * rate) / (rate / half)))
        bins = tuple(int(b) for b in np.unique(np.round(np.geomspace(1, top, 16))))
        m = np.arange(half)
        phases = [-math.pi * i * (i - 1) / len(bins) for i in range(len(bins))]
        period = sum(np.cos(2 * np.pi * b * m / half + p) for b, p in zip(bins, phases))
        period *= LEVEL / np.max(np.abs(period))

        pieces, pos = [], 0

        def put(x):
            nonlocal pos
            pieces.append((pos, x))
            pos += len(x)
            return pos - len(x)

        put(np.zeros((sec(0.3),)))                       # lead-in: the streams settle
        silence = Segment(pos, pos + sec(0.5))
        put(np.zeros(sec(0.5)))
        plans, layout = [], []
        for c in chans:
            start_of_channel = len(pieces)
            chirps = []
            for _ in range(4):
                chirps.append(put(chirp))
                put(np.zeros(sec(0.1)))
            # 1 kHz sine, 20 ms raised-cosine ramps in and out
            ramp = sec(0.02)
            body = sec(0.5)
            s = LEVEL * np.sin(2 * np.pi * SINE_HZ * np.arange(2 * ramp + body) / rate)
            s[:ramp] *= _rise(ramp)
            s[-ramp:] *= _rise(ramp)[::-1]
            a = put(s)
            sine = Segment(a + ramp, a + ramp + body)
            put(np.zeros(sec(0.1)))
            # slow square: +L/2 -L/2 +L/2 -L/2, then rest; edges raised-cosine over 2 ms (a jump of L:
            # through an AC coupling, which passes a jump whole, the square stays within L too)
            levels = [0.5, -0.5, 0.5, -0.5, 0]
            sq = np.repeat(np.array(levels, float), half) * LEVEL
            edge = sec(0.002)
            prev = 0.0
            for i, lv in enumerate(levels):
                a0 = i * half
                sq[a0:a0 + edge] = prev * LEVEL + (lv - prev) * LEVEL * _rise(edge)
                prev = lv
            a = put(sq)
            square = Segment(a, a + len(sq))
            # multisine: 4 periods, the first ramped in, the last ramped out; periods 2-3 are analysed
            ms = np.tile(period, 4)
            ms[:half] *= _rise(half)
            ms[-half:] *= _rise(half)[::-1]
            a = put(ms)
            multisine = Segment(a + half, a + 3 * half)
            put(np.zeros(sec(0.2)))
            plans.append(ChannelPlan(c, tuple(chirps), sine, square, multisine, half))
            layout.append((start_of_channel, len(pieces), c))
        put(np.zeros(sec(0.3)))
        signal = np.zeros((pos, out_channels), np.float32)
        for first, last, c in layout:
            for p0, x in pieces[first:last]:
                signal[p0:p0 + len(x), c] = x
        return cls(rate, out_channels, lowest_corner_hz, silence, tuple(plans), chirp, bins, signal)

    @property
    def seconds(self) -> float:
        """How long the calibration plays."""
        return len(self.signal) / self.rate


def _fraction(q: float) -> float:
    """A corner known within a factor e**q either way, as the stage's
    corner_tolerance t (corners f x (1 -+ t)): t = e**q - 1 covers both
    sides, rounded up to 0.1 %."""
    return math.ceil(math.expm1(q) * 1000) / 1000


def _when(value) -> datetime.datetime:
    """A date-time from a date-time, a date (its midnight, UTC) or an ISO 8601 string."""
    d = _iso_date(value)
    return d if isinstance(d, datetime.datetime) else datetime.datetime.combine(d, datetime.time(), datetime.UTC)


def _recording(value, frames: int) -> np.ndarray:
    """``value`` as a finite float64 recording, frames x input channels, of at least ``frames`` frames."""
    what = f"{type(value).__name__}{getattr(value, 'shape', '')}"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"recording={what} must be an array of samples, frames x input channels")
    try:
        rec = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"recording={what} must be an array of numbers, frames x input channels") from None
    except OverflowError:      # an int beyond any float among the samples
        raise ValueError(f"recording={what} holds a number too large for a float: record again") from None
    if rec.ndim == 1:
        rec = rec[:, None]
    if rec.ndim != 2 or rec.shape[1] == 0 or len(rec) < frames:
        raise ValueError(f"recording={what} is not allowed: it must be frames x input channels, at least "
                         f"{frames} frames (the plan's signal)")
    if not np.all(np.isfinite(rec)):
        raise ValueError(f"recording={what} holds NaN or infinite samples: record again")
    return rec


def _channel_list(name: str, value, out_channels: int) -> tuple[int, ...]:
    """``value`` as DAC channel indices below ``out_channels``, each once, at least one."""
    chans = _checks.sequence(name, value, "DAC channel indices", max_len=32)
    chans = tuple(_checks.integer(f"{name}[{i}]", c, 0, 31) for i, c in enumerate(chans))
    beyond = [c for c in chans if c >= out_channels]
    if beyond:
        raise ValueError(f"{name}={chans!r} names DAC channel {beyond[0]}, beyond out_channels={out_channels}: "
                         f"give channels 0 to {out_channels - 1}")
    if not chans or len(set(chans)) != len(chans):
        raise ValueError(f"{name}={chans!r} is not allowed: give each DAC channel to measure once, at least one")
    return chans


def _rise(n: int) -> np.ndarray:
    """A raised-cosine rise from 0 to 1 over n samples."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


# ---- the models -------------------------------------------------------------------------------
def highpass(x: np.ndarray, corner_hz: float | None, rate: float) -> np.ndarray:
    """An RC high-pass of corner ``corner_hz`` after a sample-and-hold,
    discretised exactly (zero-order hold): y[n] = p y[n-1] + x[n] - x[n-1]
    with p = exp(-2 pi corner_hz / rate).  None or 0: no coupling (DC)."""
    if not corner_hz:
        return np.asarray(x, np.float64)
    from scipy import signal
    p = math.exp(-2 * math.pi * corner_hz / rate)
    return signal.lfilter([1.0, -1.0], [1.0, -p], np.asarray(x, np.float64))


def highpass_response(freq_hz: np.ndarray, corner_hz: float | None, rate: float) -> np.ndarray:
    """The complex response of :func:`highpass` at ``freq_hz``."""
    if not corner_hz:
        return np.ones(len(freq_hz), complex)
    z1 = np.exp(-2j * np.pi * np.asarray(freq_hz) / rate)
    p = math.exp(-2 * math.pi * corner_hz / rate)
    return (1 - z1) / (1 - p * z1)


def _fit_corner(cost, lo_hz: float, hi_hz: float, points: int = 48):
    """Minimise ``cost(corner_hz)`` over [lo_hz, hi_hz]: a logarithmic grid
    of ``points``, then a bounded refinement around the best point.  Returns
    (corner, cost)."""
    from scipy.optimize import minimize_scalar
    grid = np.geomspace(lo_hz, hi_hz, points)
    costs = [cost(f) for f in grid]
    i = int(np.argmin(costs))
    a, b = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    r = minimize_scalar(lambda lf: cost(math.exp(lf)), bounds=(a, b), method="bounded",
                        options={"xatol": 1e-6})
    if r.fun < costs[i]:
        return math.exp(r.x), float(r.fun)
    return float(grid[i]), float(costs[i])


# ---- the results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """One row of the table: a measured figure against its limit.

    Parameters
    ----------
    channel : int or None
        The DAC channel, or None for the stage's own figures.
    name : str
        The figure ("latency jitter", "corner", ...).
    measured : str
        What was measured, with its unit.
    limit : str
        The limit, with its unit, or "reported".
    passed : bool or None
        Within the limit; None: reported, not judged.
    """
    channel: int | None
    name: str
    measured: str
    limit: str
    passed: bool | None


@dataclass(frozen=True)
class ChannelResult:
    """What was measured of one DAC channel through the loop.

    Figures that could not be measured (no signal; an AC path's DC offset)
    are None.

    Parameters
    ----------
    dac_channel, input_channel : int
        The DAC channel played and the input channel that recorded it.
    signal : bool
        Whether the input saw the signal at all.
    latency_ms, latency_jitter_ms : float or None
        Output-to-input latency and its spread between the chirps, ms.
    loop_gain : float or None
        Input over output amplitude of the 1 kHz sine.
    inverted : bool or None
        The loop inverts the signal.
    peak_input : float or None
        The largest input sample, a fraction of full scale.
    distortion : float or None
        The 1 kHz sine's harmonic distortion, a fraction.
    coupling : {"dc", "ac"} or None
        The coupling the step response shows.
    corner_hz : float or None
        The AC coupling's corner, Hz (the step fit's).
    corner_uncertainty : float or None
        Its relative uncertainty (0.05 is +-5 %).
    corner_step_hz, corner_multisine_hz : float or None
        The corner from the step fit and from the multisine, Hz (the cross-check).
    step_residual, multisine_residual : float or None
        The one-pole fits' RMS residuals, fractions of the signal.
    noise_floor_dbfs : float
        The input's noise during the silence, dBFS.
    crosstalk_db : float or None
        The most this channel's signal reaches another input, dB.
    dc_offset : float or None
        The DC offset of a DC path, a fraction of full scale.
    failures : tuple of str
        Each failed figure with its reason.
    """
    dac_channel: int
    input_channel: int
    signal: bool
    latency_ms: float | None
    latency_jitter_ms: float | None
    loop_gain: float | None
    inverted: bool | None
    peak_input: float | None
    distortion: float | None
    coupling: str | None
    corner_hz: float | None
    corner_uncertainty: float | None
    corner_step_hz: float | None
    corner_multisine_hz: float | None
    step_residual: float | None
    multisine_residual: float | None
    noise_floor_dbfs: float
    crosstalk_db: float | None
    dc_offset: float | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Every figure of this channel within its limit."""
        return not self.failures


@dataclass(frozen=True)
class StepResponse:
    """The slow square's recording and the fitted model, for a plot
    (time in s from the square's start; both in input units)."""
    rate: int
    played: np.ndarray
    recorded: np.ndarray
    fitted: np.ndarray


@dataclass(frozen=True)
class CalibrationResult:
    """A calibration: per-channel figures, the stage's coupling and corner,
    and whether every figure passed.

    Parameters
    ----------
    date : datetime.datetime
        When it was measured.
    output_device, input_device : str
        The devices' names.
    rate : int
        The sample rate, Hz.
    input_corner_hz : float or None
        The input's own high-pass corner, Hz, as given (None: DC-coupled).
    base : Stage
        The stage whose fields the written stage keeps.
    channels : tuple of ChannelResult
        Each measured channel.
    coupling : {"dc", "ac"} or None
        The stage's coupling (every channel agrees, else None).
    corner_hz : float or None
        The stage's corner, Hz: the channels' geometric mean.
    corner_uncertainty : float or None
        Its relative uncertainty, covering every channel's corner.
    ua_per_v : float or None
        From ``reference_ua`` when one was given, else the base stage's, uA/V.
    reference_ua : float or None
        The meter's reading of the reference tone, uA, as given.
    failures : tuple of str
        Reasons that are not one channel's (channels that disagree on the coupling, say).
    responses : tuple of StepResponse
        Each channel's step recording and fitted model, for a plot.
    """
    date: datetime.datetime
    output_device: str
    input_device: str
    rate: int
    input_corner_hz: float | None
    base: Stage
    channels: tuple[ChannelResult, ...]
    coupling: str | None
    corner_hz: float | None
    corner_uncertainty: float | None
    ua_per_v: float | None
    reference_ua: float | None
    failures: tuple[str, ...]
    responses: tuple[StepResponse, ...] = dataclasses.field(default=(), repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """Every figure within its limit."""
        return not self.failures and all(c.passed for c in self.channels)

    def figures(self) -> list[Figure]:
        """The table's rows, channel by channel."""
        rows = []
        for c in self.channels:
            rows += _channel_figures(c)
        if self.coupling is None:
            coupling = "n/a"
        elif self.coupling == "ac":
            # analyse gives an AC stage its corner and uncertainty
            assert self.corner_hz is not None and self.corner_uncertainty is not None
            coupling = (self.coupling.upper()
                        + f" {self.corner_hz:.4g} Hz +-{100 * self.corner_uncertainty:.2g} %")
        else:
            coupling = self.coupling.upper()
        rows.append(Figure(None, "coupling (stage)", coupling, "channels agree",
                           None if self.coupling is None and not self.failures else not self.failures))
        if self.reference_ua is not None:
            rows.append(Figure(None, "ua_per_v (meter)", f"{self.ua_per_v:.6g} uA/V",
                               f"{self.reference_ua:g} uA rms read", None))
        return rows

    def table(self) -> str:
        """The self-test table: each figure, its limit, PASS or FAIL, then the
        reasons; the characters a terminal would act on (in a device's name:
        PortAudio gives it as the device has it) written as their escapes."""
        inp = (f"{self.input_corner_hz:g} Hz (declared)" if self.input_corner_hz else
               "DC (assumed: a loopback cannot tell an AC-coupled input from an AC-coupled output; "
               "give input_corner_hz if the input is AC-coupled)")
        head = (f"microwave calibrate: {self.output_device} -> {self.input_device} at {self.rate} Hz, "
                f"input coupling {inp}")
        rows = [("ch", "figure", "measured", "limit", "result")]
        for f in self.figures():
            rows.append(("-" if f.channel is None else str(f.channel), f.name, f.measured, f.limit,
                         "info" if f.passed is None else ("PASS" if f.passed else "FAIL")))
        w = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [head] + ["  ".join(x.ljust(w[i]) for i, x in enumerate(r)).rstrip() for r in rows]
        why = [f"ch{c.dac_channel}: {r}" for c in self.channels for r in c.failures] + list(self.failures)
        lines.append("PASSED" if self.passed else "FAILED: " + "; ".join(why))
        return "\n".join(_checks.showable(line) for line in lines)

    def calibration(self) -> Calibration:
        """The ``[calibration]`` table of the stage: one entry per DAC
        channel of the base stage (all of them must have been measured)."""
        by = {c.dac_channel: c for c in self.channels}
        n_out = self.base.out_channels
        assert n_out is not None        # Stage.__post_init__ sets out_channels
        missing = [k for k in range(n_out) if k not in by]
        if missing:
            raise ValueError(f"channels {missing} of the stage's out_channels={self.base.out_channels} were not "
                             f"measured: calibrate every DAC channel to write a stage")
        ok = [c for c in self.channels if c.signal]
        lat = [c.latency_ms for c in ok if c.latency_ms is not None]
        xt = [c.crosstalk_db for c in ok if c.crosstalk_db is not None]
        per = [by[k] for k in range(n_out)]
        gains = [c.loop_gain for c in per if c.loop_gain]
        dc_offsets = [c.dc_offset for c in per if c.dc_offset is not None]
        return Calibration(
            date=self.date, output_device=self.output_device, input_device=self.input_device, rate=self.rate,
            latency_ms=float(np.median(lat)) if lat else None,
            loop_gain=tuple(gains) if len(gains) == len(per) else None,
            corner_hz=self.corner_hz if self.coupling == "ac" else None,
            corner_uncertainty=self.corner_uncertainty if self.coupling == "ac" else None,
            noise_floor_dbfs=max(c.noise_floor_dbfs for c in self.channels),
            crosstalk_db=max(xt) if xt else None,
            dc_offset=tuple(dc_offsets) if self.coupling == "dc" and len(dc_offsets) == len(per) else None,
            passed=self.passed)

    def stage(self) -> Stage:
        """The base stage with the measured coupling and corner (its
        ``corner_tolerance`` the measured uncertainty), ``ua_per_v`` from the
        meter if one was read, and the :meth:`calibration`.  Refused when the
        calibration failed: a failed figure would make the stage wrong."""
        if not self.passed:
            raise ValueError("the calibration failed (" + self.table().splitlines()[-1][len("FAILED: "):]
                             + "): no stage is written from it")
        calibration = self.calibration()
        # a passed calibration measured a coupling on every channel, and they agree
        assert self.coupling is not None
        # the fields not measured keep the base stage's values
        corner_hz, corner_tolerance = self.base.corner_hz, self.base.corner_tolerance
        if self.coupling == "ac":
            # analyse gives an AC stage its corner and uncertainty
            assert self.corner_hz is not None and self.corner_uncertainty is not None
            corner_hz, corner_tolerance = self.corner_hz, self.corner_uncertainty
        ua_per_v = self.ua_per_v if self.reference_ua is not None else self.base.ua_per_v
        return dataclasses.replace(self.base, coupling=self.coupling, corner_hz=corner_hz,
                                   corner_tolerance=corner_tolerance, ua_per_v=ua_per_v, calibration=calibration)

    def write_stage(self, path) -> Stage:
        """Write :meth:`stage` as a stage TOML, read it back with
        :meth:`Stage.from_toml` and return it (it equals :meth:`stage`).

        Parameters
        ----------
        path : str or os.PathLike
            The TOML file (written whole, or not at all).

        Returns
        -------
        Stage

        Raises
        ------
        ValueError
            The calibration failed (no stage to write), or the file read back differs.
        OSError
            The file cannot be written.
        """
        return write_stage_toml(self.stage(), path)


def _fmt(v, spec=".4g", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def _channel_figures(c: ChannelResult) -> list[Figure]:
    k = c.dac_channel
    F = Figure
    if not c.signal:
        return [F(k, "signal", "none", f"loop gain >= {MIN_LOOP_GAIN:g}", False)]
    rows = [
        F(k, "latency", _fmt(c.latency_ms, ".2f", " ms"), "reported", None),
        F(k, "latency jitter", _fmt(c.latency_jitter_ms, ".3f", " ms"), f"<= {MAX_JITTER_MS:g} ms",
          c.latency_jitter_ms is not None and c.latency_jitter_ms <= MAX_JITTER_MS),
        F(k, "loop gain (in/out)", _fmt(c.loop_gain, ".5g") + (" (inverted)" if c.inverted else ""),
          f">= {MIN_LOOP_GAIN:g}", c.loop_gain is not None and c.loop_gain >= MIN_LOOP_GAIN),
        F(k, "peak input", _fmt(c.peak_input, ".3f", " FS"), f"< {CLIP_LEVEL:g} FS (no clipping)",
          c.peak_input is not None and c.peak_input < CLIP_LEVEL),
        F(k, "distortion 1 kHz", _fmt(None if c.distortion is None else 100 * c.distortion, ".3g", " %"),
          f"<= {100 * MAX_DISTORTION:g} %", c.distortion is not None and c.distortion <= MAX_DISTORTION),
    ]
    fit_ok = (c.step_residual is not None and c.step_residual <= MAX_RESIDUAL
              and c.multisine_residual is not None and c.multisine_residual <= MAX_RESIDUAL)
    rows.append(F(k, "one-pole fit residual",
                  f"step {_fmt(c.step_residual, '.2%')}, multisine {_fmt(c.multisine_residual, '.2%')}",
                  f"<= {100 * MAX_RESIDUAL:g} %", fit_ok))
    if c.coupling == "ac":
        # analyse gives an AC channel its step fit's corner and an uncertainty (else its coupling is None)
        assert c.corner_step_hz is not None and c.corner_hz is not None and c.corner_uncertainty is not None
        agree = abs(math.log(c.corner_multisine_hz / c.corner_step_hz)) if c.corner_multisine_hz else math.inf
        rows.append(F(k, "corner", f"{c.corner_hz:.4g} Hz +-{100 * c.corner_uncertainty:.2g} %",
                      "measurable, one pole", fit_ok))
        rows.append(F(k, "corner cross-check", f"step {c.corner_step_hz:.4g} Hz, multisine "
                      f"{_fmt(c.corner_multisine_hz, '.4g', ' Hz')}", f"within {100 * MAX_DISAGREEMENT:g} %",
                      agree <= MAX_DISAGREEMENT))
    else:
        rows.append(F(k, "coupling", "DC" if c.coupling == "dc" else "n/a", "measurable", c.coupling == "dc"))
    rows.append(F(k, "noise floor", "digital silence" if c.noise_floor_dbfs <= SILENCE_DB
                  else f"{c.noise_floor_dbfs:.1f} dBFS", f"<= {MAX_NOISE_DBFS:g} dBFS",
                  c.noise_floor_dbfs <= MAX_NOISE_DBFS))
    if c.crosstalk_db is not None:
        rows.append(F(k, "crosstalk", "none measurable" if c.crosstalk_db <= SILENCE_DB
                      else f"{c.crosstalk_db:.1f} dB", f"<= {MAX_CROSSTALK_DB:g} dB",
                      c.crosstalk_db <= MAX_CROSSTALK_DB))
    if c.coupling == "dc":
        rows.append(F(k, "DC offset", _fmt(c.dc_offset, ".2e", " FS"), f"|x| <= {MAX_DC_OFFSET:g} FS",
                      c.dc_offset is not None and abs(c.dc_offset) <= MAX_DC_OFFSET))
    else:
        rows.append(F(k, "DC offset", "n/a (AC path)", "-", None))
    return rows


# ---- the analysis (no sound card: a recording in, figures out) --------------------------------
def _find(recorded: np.ndarray, reference: np.ndarray):
    """Where ``reference`` best matches ``recorded`` (either sign): (index, ncc)."""
    from scipy import signal
    c = signal.correlate(recorded, reference, mode="valid", method="fft")
    i = int(np.argmax(np.abs(c)))
    seg = recorded[i:i + len(reference)]
    d = np.linalg.norm(seg) * np.linalg.norm(reference)
    return i, (float(np.dot(seg, reference) / d) if d > 0 else 0.0)


def _sine_fit(y: np.ndarray, freq_hz: float, rate: int):
    """Least-squares fit of a sine of ``freq_hz`` plus a constant: (amplitude, phase, residual rms)."""
    t = np.arange(len(y)) / rate
    A = np.stack([np.cos(2 * np.pi * freq_hz * t), np.sin(2 * np.pi * freq_hz * t), np.ones(len(y))], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    res = y - A @ coef
    return float(math.hypot(coef[0], coef[1])), float(math.atan2(-coef[1], coef[0])), float(np.sqrt(np.mean(res**2)))


def _db(ratio: float) -> float:
    return SILENCE_DB if ratio <= 10 ** (SILENCE_DB / 20) else max(SILENCE_DB, 20 * math.log10(ratio))


def _inputs(plan: Plan, input_channels) -> tuple[int, ...]:
    """The input channel wired to each DAC channel of ``plan`` (default: the
    same index), one per DAC channel measured."""
    ins = tuple(c.dac_channel for c in plan.channels) if input_channels is None else tuple(
        _checks.integer(f"input_channels[{i}]", x, 0, 31)
        for i, x in enumerate(_checks.sequence("input_channels", input_channels, "input channel indices")))
    if len(ins) != len(plan.channels):
        raise ValueError(f"input_channels={ins!r} has {len(ins)} entries for {len(plan.channels)} DAC channels: "
                         f"give one input channel per DAC channel measured")
    return ins


def analyse(plan: Plan, recording: np.ndarray, *, input_channels=None, input_corner_hz: float | None = None,
            output_device: str = "output", input_device: str = "input", stage: Stage | None = None,
            reference_ua: float | None = None, timestamp_offset_s: float = 0.0,
            date: datetime.datetime | None = None) -> CalibrationResult:
    """Measure every figure from ``recording`` (frames x input channels),
    what the input recorded while ``plan.signal`` played.

    The recording may start before the signal (by any number of frames:
    the chirps find it).  ``input_channels[i]`` is the input channel wired
    to ``plan.channels[i]``'s DAC channel (default: the same index).
    ``timestamp_offset_s`` is how much later the input's first frame was
    captured than the output's first frame left the DAC (from PortAudio's
    timestamps; 0 when the two streams are one).  This function opens no
    device: the docs run it on a simulated loopback.

    Parameters
    ----------
    plan : Plan
        What was played (:meth:`Plan.build`).
    recording : array_like
        frames x input channels, at least as many frames as ``plan.signal``; finite.
    input_channels : sequence of int or None
        ``input_channels[i]`` is the input channel wired to
        ``plan.channels[i]``'s DAC channel (default None: the same index).
    input_corner_hz : float or None
        The input's own high-pass corner, Hz, if it is AC-coupled (modelled,
        not measured; default None: DC-coupled).
    output_device, input_device : str
        The devices' names, for the record.
    stage : Stage or None
        The base stage (default None: ``Stage()`` routing every DAC channel).
    reference_ua : float or None
        A meter's RMS reading of :func:`play_reference_tone`'s current, uA,
        which sets ``ua_per_v`` (default None: the base stage's).
    timestamp_offset_s : float
        How much later the input's first frame was captured than the output's
        first frame left the DAC, s (-10 to 10; default 0).
    date : datetime.datetime or None
        When it was measured (default None: now).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, a recording too short
        or with too few channels, or one where the chirps are not found.
    """
    _checks.instance("plan", plan, Plan, "a microwave.calibrate.Plan (Plan.build)")
    output_device = _checks.text("output_device", output_device, empty=False)
    input_device = _checks.text("input_device", input_device, empty=False)
    timestamp_offset_s = _checks.number("timestamp_offset_s", timestamp_offset_s, -10, 10, unit="s")
    stage = stage if stage is not None else Stage(channel_map=tuple(range(plan.out_channels)))
    _checks.instance("stage", stage, Stage, "a microwave.stage.Stage")
    rate = plan.rate
    rec = _recording(recording, len(plan.signal))
    ins = _inputs(plan, input_channels)
    if max(ins) >= rec.shape[1]:
        raise ValueError(f"input_channels={ins!r}: the recording has {rec.shape[1]} channels")
    if input_corner_hz is not None:
        input_corner_hz = _checks.number("input_corner_hz", input_corner_hz, 0, MAX_CORNER_HZ, lo_open=True,
                                         unit="Hz")

    x_all = plan.signal.astype(np.float64)
    n = len(x_all)

    # 1. latency: every chirp of every channel, found on its input channel
    lags, found = {}, {}
    for cp, ic in zip(plan.channels, ins):
        # the channel's train of chirps (unique, unlike one chirp) puts the signal roughly ...
        train = x_all[cp.chirps[0]:cp.chirps[-1] + len(plan.chirp), cp.dac_channel]
        if len(rec) < len(train):
            raise ValueError(f"the recording ({len(rec)} frames) is shorter than the signal's chirps")
        i0, _ = _find(rec[:, ic], train)
        first = i0 - cp.chirps[0]
        # ... and each chirp, found near there, gives one latency
        ls, nccs = [], []
        for p in cp.chirps:
            lo = max(0, first + p - rate // 100)
            hi = min(len(rec), first + p + len(plan.chirp) + rate // 100)
            if hi - lo < len(plan.chirp):
                nccs.append(0.0)
                continue
            i, ncc = _find(rec[lo:hi, ic], plan.chirp)
            ls.append(lo + i - p)
            nccs.append(abs(ncc))
        found[cp.dac_channel] = min(nccs) > 0.5 and len(ls) == len(cp.chirps)
        lags[cp.dac_channel] = ls
    good = [lg for c, ls in lags.items() if found[c] for lg in ls]
    lag = int(np.median(good)) if good else 0
    jitter_ms = 1000 * (max(good) - min(good)) / rate if good else None
    if lag < 0 or lag + n > len(rec):
        good = []
    aligned = np.zeros((n, rec.shape[1]))
    if good:
        aligned = rec[lag:lag + n]

    # 2. noise and offset from the silence, per input channel
    quiet = aligned[plan.silence.start:plan.silence.stop]
    offsets = quiet.mean(axis=0)
    noise_db = [_db(float(np.std(quiet[:, ic])) * math.sqrt(2)) for ic in range(rec.shape[1])]

    results, responses = [], []
    for cp, ic in zip(plan.channels, ins):
        k = cp.dac_channel
        x = x_all[:, k]
        y = aligned[:, ic]
        fails = []
        sine_y = y[cp.sine.start:cp.sine.stop]
        amp, phase, res = _sine_fit(sine_y, SINE_HZ, rate)
        amp_x, phase_x, _ = _sine_fit(x[cp.sine.start:cp.sine.stop], SINE_HZ, rate)
        raw_gain = amp / amp_x
        if not (found[k] and good) or raw_gain < MIN_LOOP_GAIN:
            results.append(ChannelResult(
                dac_channel=k, input_channel=ic, signal=False, latency_ms=None, latency_jitter_ms=None,
                loop_gain=None, inverted=None, peak_input=None, distortion=None, coupling=None, corner_hz=None,
                corner_uncertainty=None, corner_step_hz=None, corner_multisine_hz=None, step_residual=None,
                multisine_residual=None, noise_floor_dbfs=noise_db[ic], crosstalk_db=None, dc_offset=None,
                failures=(f"no signal on input channel {ic} (loop gain {raw_gain:.3g} < "
                          f"{MIN_LOOP_GAIN:g}): is the output wired to the input?",)))
            continue
        measured_ms = 1000 * (lag / rate + timestamp_offset_s)
        # outside 0..10 s: two streams' clocks that do not share a time base
        latency = measured_ms if 0 <= measured_ms <= 10_000 else None
        assert jitter_ms is not None    # `good` is not empty here, and jitter_ms was measured from it
        if jitter_ms > MAX_JITTER_MS:
            fails.append(f"unstable latency: the chirps arrived {jitter_ms:.3f} ms apart (limit {MAX_JITTER_MS:g} ms)"
                         f": do the output and the input share a clock?")
        # the polarity: the sine's phase through the loop (couplings advance it by under 90 degrees at 1 kHz)
        dphi = (phase - phase_x + math.pi) % (2 * math.pi) - math.pi
        inverted = abs(dphi) > math.pi / 2
        span = y[cp.chirps[0]:cp.multisine.stop + cp.multisine_period]
        peak = float(np.max(np.abs(span)))
        if peak >= CLIP_LEVEL:
            fails.append(f"clipping: the input reached {peak:.3f} of full scale (limit {CLIP_LEVEL:g}): lower the "
                         f"input's gain")
        distortion = res / (amp / math.sqrt(2))
        if distortion > MAX_DISTORTION:
            fails.append(f"distortion {100 * distortion:.3g} % at 1 kHz (limit {100 * MAX_DISTORTION:g} %): "
                         f"clipping or a bad connection?")
        # 3. the step fit
        sq = slice(cp.square.start, cp.square.stop)
        xin = highpass(x[:cp.square.stop], input_corner_hz, rate)
        ysq = y[sq]
        ones = np.ones(len(ysq))

        def step_model(corner_hz, xin=xin, sq=sq, ones=ones, ysq=ysq):
            m = highpass(xin, corner_hz, rate)[sq]
            A = np.stack([m, ones], 1)
            coef, *_ = np.linalg.lstsq(A, ysq, rcond=None)
            return A @ coef, coef

        def step_cost(corner_hz, ysq=ysq, step_model=step_model):
            fit, _ = step_model(corner_hz)
            return float(np.sum((ysq - fit) ** 2))

        lo_hz = DC_FRACTION * plan.lowest_corner_hz
        hi_hz = min(MAX_CORNER_HZ, 0.05 * rate)
        f_step, cost = _fit_corner(step_cost, lo_hz, hi_hz)
        fit, coef = step_model(f_step)
        scale = float(np.sqrt(np.mean((fit - coef[1]) ** 2)))
        step_residual = math.sqrt(cost / len(ysq)) / scale if scale > 0 else math.inf
        responses.append(StepResponse(rate, x[sq], ysq, fit))
        dc = f_step <= lo_hz * 1.05
        if dc:
            step_cost_dc = step_cost(None)
            step_residual = math.sqrt(step_cost_dc / len(ysq)) / scale if scale > 0 else math.inf
        # its standard error, from the cost's curvature in log(corner)
        sigma = None
        if not dc:
            h = 0.01
            c0, cm, cp_ = cost, step_cost(f_step * math.exp(-h)), step_cost(f_step * math.exp(h))
            curv = (cm + cp_ - 2 * c0) / h**2
            s2 = c0 / max(len(ysq) - 3, 1)
            sigma = math.sqrt(2 * s2 / curv) if curv > 0 else math.inf
        # 4. the multisine cross-check
        P = cp.multisine_period
        bins = np.array(plan.multisine_bins)
        ym = y[cp.multisine.start:cp.multisine.stop].reshape(-1, P)
        Y = np.fft.rfft(ym, axis=1).mean(axis=0)[bins]
        X = np.fft.rfft(x[cp.multisine.start:cp.multisine.start + P])[bins]
        H = Y / X
        freqs = bins * rate / P
        Hin = highpass_response(freqs, input_corner_hz, rate)

        def ms_model(corner_hz, Hin=Hin, freqs=freqs, H=H):
            m = Hin * highpass_response(freqs, corner_hz, rate)
            g = float(np.real(np.vdot(m, H)) / np.real(np.vdot(m, m)))
            return g * m

        def ms_cost(corner_hz, H=H, ms_model=ms_model):
            return float(np.sum(np.abs(H - ms_model(corner_hz)) ** 2))

        f_ms, ms_c = _fit_corner(ms_cost, lo_hz, hi_hz)
        ms_dc = f_ms <= lo_hz * 1.05
        if ms_dc:
            ms_c = ms_cost(None)
        ms_residual = math.sqrt(ms_c / np.sum(np.abs(H) ** 2))
        # the loop's gain at 1 kHz, corrected for the couplings
        h1k = abs(highpass_response(np.array([SINE_HZ]), input_corner_hz, rate)[0]
                  * highpass_response(np.array([SINE_HZ]), None if dc else f_step, rate)[0])
        gain = raw_gain / h1k
        coupling: str | None
        corner: float | None
        unc: float | None
        coupling, corner, unc = ("dc", None, None) if dc else ("ac", f_step, None)
        if step_residual > MAX_RESIDUAL or ms_residual > MAX_RESIDUAL:
            fails.append(f"the response is not one high-pass: a one-pole fit leaves {100 * step_residual:.2g} % "
                         f"(step) and {100 * ms_residual:.2g} % (multisine) unexplained (limit "
                         f"{100 * MAX_RESIDUAL:g} %); two couplings in series (is the input AC-coupled? give "
                         f"input_corner_hz), or a stage that is not a one-pole coupling: no corner is reported")
        if fails and "not one high-pass" in fails[-1]:
            pass                        # the disagreement of two wrong fits says nothing more
        elif dc != ms_dc:
            fails.append(f"the step fit says {'DC' if dc else f'a corner of {f_step:.4g} Hz'} but the multisine "
                         f"says {'DC' if ms_dc else f'{f_ms:.4g} Hz'}: no corner is reported")
        elif not dc:
            d = abs(math.log(f_ms / f_step))
            if d > MAX_DISAGREEMENT:
                fails.append(f"the corner is not measurable: the step fit ({f_step:.4g} Hz) and the multisine "
                             f"({f_ms:.4g} Hz) disagree by {100 * d:.2g} % (limit {100 * MAX_DISAGREEMENT:g} %)")
            # the half-width in log(corner); a declared input corner is itself only
            # known to INPUT_CORNER_TOLERANCE, and two nearby poles trade places
            q = max(UNCERTAINTY_FLOOR, 3 * (sigma if sigma is not None else 0.0), d)
            if input_corner_hz:
                q += INPUT_CORNER_TOLERANCE * min(1.0, input_corner_hz / f_step)
            unc = _fraction(q)
            if unc > MAX_UNCERTAINTY:
                fails.append(f"the corner's uncertainty {100 * unc:.3g} % is too wide to use")
        if any("not one high-pass" in f or "says" in f for f in fails):
            coupling, corner, unc = None, None, None
        if noise_db[ic] > MAX_NOISE_DBFS:
            fails.append(f"noise floor {noise_db[ic]:.1f} dBFS (limit {MAX_NOISE_DBFS:g} dBFS)")
        # crosstalk: the 1 kHz sine on the other measured input channels
        xt = None
        others = [j for j in set(ins) if j != ic]
        if others:
            worst = max(_sine_fit(aligned[cp.sine.start:cp.sine.stop, j], SINE_HZ, rate)[0] for j in others)
            xt = _db(worst / amp)
            if xt > MAX_CROSSTALK_DB:
                fails.append(f"crosstalk {xt:.1f} dB into another input channel (limit {MAX_CROSSTALK_DB:g} dB)")
        offset = None
        if coupling == "dc":
            offset = float(offsets[ic] / gain)
            if abs(offset) > MAX_DC_OFFSET:
                fails.append(f"DC offset {offset:.3g} of full scale (limit {MAX_DC_OFFSET:g}): a DC-coupled "
                             f"path would drive a constant current")
        results.append(ChannelResult(
            dac_channel=k, input_channel=ic, signal=True, latency_ms=latency, latency_jitter_ms=jitter_ms,
            loop_gain=gain, inverted=inverted, peak_input=peak, distortion=distortion, coupling=coupling,
            corner_hz=corner, corner_uncertainty=unc, corner_step_hz=f_step if not dc else None,
            corner_multisine_hz=f_ms if not ms_dc else None, step_residual=step_residual,
            multisine_residual=ms_residual, noise_floor_dbfs=noise_db[ic], crosstalk_db=xt, dc_offset=offset,
            failures=tuple(fails)))

    # 5. the stage's coupling: every channel's, agreeing
    fails, coupling, corner, unc = [], None, None, None
    measured = [c for c in results if c.signal and c.coupling is not None]
    kinds = {c.coupling for c in measured}
    if len(kinds) > 1:
        fails.append("the channels disagree on the coupling: " + ", ".join(
            f"ch{c.dac_channel} {c.coupling.upper()}"
            for c in measured if c.coupling is not None))      # drops none: it narrows the type only
    elif kinds == {"dc"}:
        coupling = "dc"
    elif kinds == {"ac"}:
        coupling = "ac"
        fits: list[tuple[int, float, float]] = []      # (DAC channel, corner, uncertainty)
        for c in measured:
            # an AC channel has its corner and uncertainty (step 4 clears the coupling when it has not)
            assert c.corner_hz is not None and c.corner_uncertainty is not None
            fits.append((c.dac_channel, c.corner_hz, c.corner_uncertainty))
        corner = float(math.exp(np.mean([math.log(f) for _, f, _ in fits])))
        unc = _fraction(max(math.log1p(u) + abs(math.log(f / corner)) for _, f, u in fits))
        apart = [ch for ch, f, u in fits if abs(math.log(f / corner)) > math.log1p(u)]
        if apart:
            fails.append("the channels' corners disagree beyond their uncertainty: " + ", ".join(
                f"ch{ch} {f:.4g} Hz" for ch, f, _ in fits))
        if unc > MAX_UNCERTAINTY:   # a stage cannot hold it (corner_tolerance <= 0.9): fail, not crash
            fails.append(f"the stage's corner uncertainty {100 * unc:.3g} % (the channels' spread included) is too "
                         f"wide to use (limit {100 * MAX_UNCERTAINTY:g} %)")
    ua_per_v = stage.ua_per_v
    if reference_ua is not None:
        ua_per_v = _reference_ua_per_v(stage, reference_ua, coupling, corner, rate)
    return CalibrationResult(
        date=datetime.datetime.now(datetime.UTC).replace(microsecond=0) if date is None else _when(date),
        output_device=output_device, input_device=input_device, rate=rate, input_corner_hz=input_corner_hz,
        base=stage, channels=tuple(results), coupling=coupling, corner_hz=corner, corner_uncertainty=unc,
        ua_per_v=ua_per_v, reference_ua=reference_ua, failures=tuple(fails), responses=tuple(responses))


def _peak_through_any_coupling(columns: np.ndarray, rate: int, lowest_corner_hz: float = 1.0,
                               band_limited: bool = True) -> float:
    """The largest magnitude any of ``columns`` (frames x n) reaches through
    no coupling or a one-pole one (:func:`highpass`) of any corner from well
    below ``lowest_corner_hz`` (the slow square rings most through about 0.08
    of it) to :data:`MAX_CORNER_HZ`: what is being measured is not known yet,
    whatever the stage declares.  A coupling passes a jump whole, a low one
    still holds the square's charge under what follows, and a high one lifts
    content near half the rate.

    At the samples: through DC and a grid of 61 corners, refined around the
    grid's worst (:func:`_fit_corner`).  Between them, through a
    ``band_limited`` DAC (the stage's ``reconstruction``): the chirp's top
    (0.4 of the rate) goes past its samples; the DAC's reconstruction
    (``_reconstruct``'s filter) at :data:`_PHASES` points a sample, through
    DC and every fourth corner of the grid (the high content that rings
    hardly depends on the corner), raised by Bernstein's bound for the
    points' spacing and by what the filter's taps beyond the reach can add."""
    lo = min(0.1, 0.005 * lowest_corner_hz)
    grid = np.geomspace(lo, MAX_CORNER_HZ, 61)
    peak = 0.0
    for column in np.asarray(columns, np.float64).reshape(len(columns), -1).T:
        if not column.any():
            continue
        nz = np.flatnonzero(column)
        column = column[:nz[-1] + 1]     # the silence after it adds nothing but a decay

        def sampled(f, column=column):
            return float(np.abs(highpass(column, f, rate)).max())
        peak = max(peak, sampled(None), -_fit_corner(lambda f: -sampled(f), lo, MAX_CORNER_HZ, points=61)[1])
        if band_limited:
            peak = max(peak, _between_samples(column, rate, [None, *grid[::4].tolist(), MAX_CORNER_HZ]))
    return peak


#: points a sample at which _between_samples evaluates the DAC's reconstruction, and the taps either side
_PHASES, _REACH = 16, 64


def _between_samples(column: np.ndarray, rate: int, corners) -> float:
    """The largest magnitude of the band-limited reconstruction of
    ``column`` (silence before it, the DAC at zero after it) through each
    of ``corners`` (None: DC), at most.  The reconstruction at n + ph is
    sum over m of column[n - m] h(ph + m) (h: the interpolation filter), a
    filter of the samples, which commutes with the coupling's: each phase's
    values go through :func:`highpass` as the samples do."""
    from ._reconstruct import STOP, _raised_cosine
    m = np.arange(-_REACH, _REACH)
    far = np.concatenate([np.arange(_REACH, 8192), -np.arange(_REACH + 1, 8192)])
    worst = tail = 0.0
    for ph in np.arange(_PHASES) / _PHASES:
        z = np.convolve(column, _raised_cosine(ph + m))     # n from -_REACH on: every value that can be non-zero
        tail = max(tail, float(np.abs(_raised_cosine(ph + far)).sum()))
        for f in corners:
            worst = max(worst, float(np.abs(highpass(z, f, rate)).max()))
    bernstein = 1.0 / (1.0 - (math.pi * STOP / _PHASES) ** 2 / 2)
    # the taps beyond the reach, on samples that reach at most twice the column's peak through a coupling
    return worst * bernstein + 2 * tail * float(np.abs(column).max())


def _within_limit(stage: Stage, peak_ua: float, what: str) -> None:
    """Refuse, before anything plays, signals that would ask ``stage`` for
    more than its limit: even into a dummy load, and whoever is wired to it."""
    if peak_ua > stage.limit_ua * (1 + 1e-9):
        conversion = f"ua_per_v={stage.ua_per_v:g}" if stage.load_ohm is None else f"load_ohm={stage.load_ohm:g}"
        raise ValueError(f"{what} would reach {peak_ua:g} uA through this stage "
                         f"(full_scale_v={stage.full_scale_v:g}, {conversion}), more than the {stage.limit_ua:g} uA "
                         f"it allows ({stage._limit_why()}): give the stage's real full_scale_v and conversion, "
                         f"or a max_ua the dummy load takes")


# ---- the meter's reference --------------------------------------------------------------------
def reference_tone(stage: Stage, seconds: float, rate: int) -> np.ndarray:
    """The calibration tone: :data:`REFERENCE_TONE_HZ` at :data:`LEVEL` of
    full scale (peak) on each DAC channel of program channel 0 (a bridged
    pair in antiphase), ramped in and out over 0.2 s; frames x out_channels."""
    _checks.instance("stage", stage, Stage, "a microwave.stage.Stage")
    rate = _checks.rate(rate)
    seconds = _checks.number("seconds", seconds, 1, 600, unit="s")
    n = int(round(seconds * rate))
    s = LEVEL * np.sin(2 * np.pi * REFERENCE_TONE_HZ * np.arange(n) / rate)
    r = int(0.2 * rate)
    s[:r] *= _rise(r)
    s[-r:] *= _rise(r)[::-1]
    # through any coupling (a high-pass lifts a 400 Hz sine a little at 8 kHz): its first second
    # holds the ramp's transient and the steady tone, and the end ramps down as the start ramps up
    require("scipy", "calibrate", "the calibration tone")
    _within_limit(stage, _peak_through_any_coupling(s[:rate], rate, band_limited=stage.reconstruction != "held")
                  / stage.dac_per_ua(0), "the calibration tone")
    assert stage.out_channels is not None       # Stage.__post_init__ sets it
    out = np.zeros((n, stage.out_channels), np.float32)
    route = stage.channel_map[0]
    if isinstance(route, tuple):
        out[:, route[0]], out[:, route[1]] = s, -s
    else:
        out[:, route] = s
    return out


def reference_tone_ua(stage: Stage) -> float:
    """The RMS current (uA) the base stage says the tone asks for: what the
    meter reads when ``ua_per_v`` is right (a DC-coupled stage)."""
    return LEVEL / math.sqrt(2) / stage.dac_per_ua(0)


def _reference_ua_per_v(stage: Stage, reference_ua, coupling, corner_hz, rate) -> float:
    reference_ua = _checks.number("reference_ua", reference_ua, 0, 10_000, lo_open=True, unit="uA")
    if stage.mode != "current":
        raise ValueError(f"reference_ua={reference_ua:g} is for a current-mode stage (ua_per_v); this stage is "
                         f"voltage-mode (load_ohm={stage.load_ohm:g}): its current is the load's")
    h = abs(highpass_response(np.array([REFERENCE_TONE_HZ]), corner_hz if coupling == "ac" else None, rate)[0])
    return stage.ua_per_v * reference_ua / (reference_tone_ua(stage) * h)


# ---- the sound card ---------------------------------------------------------------------------
def _open_sd():
    """sounddevice, through the sound-card back end (public API only: no version check)."""
    from .backends.portaudio import _sd
    return _sd("calibrating")


def _device_arg(name: str, d):
    if isinstance(d, str):
        return int(d) if d.strip().isdigit() else _checks.text(name, d, empty=False)
    return _checks.integer(name, d, 0, 1 << 16)


def _device_name(sd, d, kind: str) -> str:
    try:
        return str(sd.query_devices(d, kind)["name"])
    except Exception:
        return str(d)


def play_and_record(signal: np.ndarray, output_device, input_device, rate: int, input_channels: int,
                    *, latency: float = 0.1, attempts: int = 3):
    """Play ``signal`` (frames x channels) on ``output_device`` while
    recording ``input_channels`` channels of ``input_device``.  Two streams
    (the input started first): returns ``(recording, timestamp_offset_s)``,
    the recording starting before the signal and ending at least 1 s after
    it, and how much later the input's first frame was captured than the
    output's first frame was played (PortAudio's timestamps; 0 when they
    are not given).  A run with an under- or overflow is tried again."""
    sd = _open_sd()
    x = np.ascontiguousarray(signal, np.float32)
    for _attempt in range(attempts):
        rec, flags, stamps = _run_once(sd, x, output_device, input_device, rate, input_channels, latency)
        if not flags:
            break
    t_in, t_out = stamps.get("in", 0.0), stamps.get("out", 0.0)
    offset = t_in - t_out if t_in and t_out else 0.0
    return rec, offset


def _stream(sd, cls, name: str, device, kind: str, **kw):
    """``cls(device=device, **kw)``, a sounddevice stream (or play); a
    device it does not know, or none at all, told naming the parameter
    (backends.portaudio.open_error)."""
    from .backends.portaudio import open_error
    try:
        return cls(device=device, **kw)
    except (ValueError, sd.PortAudioError) as e:
        raise open_error(sd, e, name, device, kind) from None


def _run_once(sd, x, output_device, input_device, rate, input_channels, latency):
    import threading
    chunks, flags, stamps = [], set(), {}
    pos = [0]
    done = threading.Event()
    have = [0]

    def rec_cb(indata, frames, time, status):
        if status:
            flags.add(str(status))
        stamps.setdefault("in", time.inputBufferAdcTime)
        chunks.append(indata.copy())
        have[0] += frames

    def play_cb(outdata, frames, time, status):
        if status:
            flags.add(str(status))
        stamps.setdefault("out", time.outputBufferDacTime)
        k = min(frames, len(x) - pos[0])
        outdata[:k] = x[pos[0]:pos[0] + k]
        outdata[k:] = 0
        pos[0] += k
        if pos[0] >= len(x):
            done.set()

    with _stream(sd, sd.InputStream, "input_device", input_device, "input", samplerate=rate,
                 channels=input_channels, dtype="float32", latency=latency, callback=rec_cb):
        with _stream(sd, sd.OutputStream, "output_device", output_device, "output", samplerate=rate,
                     channels=x.shape[1], dtype="float32", latency=latency, callback=play_cb):
            if not done.wait(len(x) / rate + 10):
                raise RuntimeError("calibration: playback did not finish (the output stream stalled)")
        need = have[0] + int(1.0 * rate)
        waited = 0.0
        while have[0] < need and waited < 10:
            sd.sleep(50)
            waited += 0.05
    rec = np.concatenate(chunks) if chunks else np.zeros((0, input_channels), np.float32)
    return rec, flags, stamps


def calibrate(output_device, input_device, *, stage: Stage | None = None, rate: int = _checks.DEFAULT_RATE,
              channels=None, input_channels=None, input_corner_hz: float | None = None,
              reference_ua: float | None = None, lowest_corner_hz: float = 1.0) -> CalibrationResult:
    """Calibrate ``output_device`` through a loopback into ``input_device``
    (names or PortAudio indices): **a loopback or a dummy load, never a person**.

    Plays the :class:`Plan` (about 12 s per channel at the default
    ``lowest_corner_hz``) on DAC ``channels`` (default: all of the
    stage's ``out_channels``) in turn, records ``input_channels`` (default:
    the same indices), and returns the :func:`analyse` of it.

    Parameters
    ----------
    output_device, input_device : int or str
        The devices, by PortAudio index or name.
    stage : Stage or None
        The base stage (default None: ``Stage()`` routing every DAC
        channel), whose fields the written stage keeps.
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).
    channels : sequence of int or None
        The DAC channels measured (default None: all of the stage's ``out_channels``).
    input_channels : sequence of int or None
        The input channel wired to each (default None: the same indices).
    input_corner_hz : float or None
        The input's own high-pass corner, Hz, if it is AC-coupled (it is
        modelled, not measured); None: DC-coupled.
    reference_ua : float or None
        A meter's RMS reading of :func:`play_reference_tone`'s current, uA,
        which sets ``ua_per_v``.
    lowest_corner_hz : float
        The lowest corner the signals are sized for, Hz (default 1; the
        square's half-period and the multisine's period are its inverse).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, checked before
        anything plays, signals that would ask the stage for more than its
        limit, or a recording :func:`analyse` cannot read.
    ImportError
        sounddevice is not installed (``pip install microwave[audio]``).
    """
    stage = _given(stage)
    output_device = _device_arg("output_device", output_device)
    input_device = _device_arg("input_device", input_device)
    rate = _checks.rate(rate)
    assert stage.out_channels is not None       # Stage.__post_init__ sets it
    chans = tuple(range(stage.out_channels)) if channels is None else _channel_list("channels", channels,
                                                                                     stage.out_channels)
    plan = Plan.build(rate, stage.out_channels, chans, lowest_corner_hz)
    ins = _inputs(plan, input_channels)       # (before anything plays, as every check here)
    if input_corner_hz is not None:
        _checks.number("input_corner_hz", input_corner_hz, 0, MAX_CORNER_HZ, lo_open=True, unit="Hz")
    if reference_ua is not None:
        _reference_ua_per_v(stage, reference_ua, "dc", None, rate)      # checked before anything plays
    require("scipy", "calibrate", "calibrating")      # (the analysis's; before anything plays)
    # one DAC channel at a time, at most LEVEL of a single channel's full-scale current, through
    # any coupling (the slow square's jumps are LEVEL: a coupling passes them whole; a high-pass
    # lifts the chirp's top a little), between samples too (the chirp's top rings past them)
    _within_limit(stage, _peak_through_any_coupling(plan.signal, rate, lowest_corner_hz,
                                                 band_limited=stage.reconstruction != "held") * stage.full_scale_v
                  / stage.volts_per_ua(), "the calibration signals")
    sd = _open_sd()
    rec, offset = play_and_record(plan.signal, output_device, input_device, rate, max(ins) + 1)
    return analyse(plan, rec, input_channels=ins, input_corner_hz=input_corner_hz,
                   output_device=_device_name(sd, output_device, "output"),
                   input_device=_device_name(sd, input_device, "input"), stage=stage, reference_ua=reference_ua,
                   timestamp_offset_s=offset)


def play_reference_tone(output_device, *, stage: Stage | None = None, seconds: float = 30.0,
                        rate: int = _checks.DEFAULT_RATE) -> float:
    """Play the meter's calibration tone (:func:`reference_tone`) into the
    **dummy load**, and return the RMS current the stage says it asks for.
    Read the meter (true RMS, AC, in series with the load) while it plays,
    and give the reading as ``reference_ua``.

    Parameters
    ----------
    output_device : int or str
        The device, by PortAudio index or name.
    stage : Stage or None
        The stage (default None: ``Stage()``).
    seconds : float
        How long the tone plays, s (default 30).
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).

    Returns
    -------
    float
        The RMS current asked, uA.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (named in the message),
        or a tone that would ask the stage for more than its limit.
    ImportError
        sounddevice is not installed (``pip install microwave[audio]``).
    """
    stage = _given(stage)
    x = reference_tone(stage, seconds, rate)
    sd = _open_sd()
    _stream(sd, lambda **kw: sd.play(x, **kw), "output_device", _device_arg("output_device", output_device),
            "output", samplerate=rate, blocking=True)
    return reference_tone_ua(stage)


# ---- the stage file ---------------------------------------------------------------------------
def _toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{v!r} cannot be written: a stage's numbers are finite")
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_toml_value(e) for e in v) + "]"
    raise TypeError(f"{v!r} ({type(v).__name__}) has no TOML form here")


def stage_toml(stage: Stage, comment: str = "") -> str:
    """``stage`` as the text of a stage TOML file (docs/toml.md): the keys
    its mode and coupling use, and its ``[calibration]`` table."""
    _checks.instance("stage", stage, Stage, "a microwave.stage.Stage")
    skip = {"calibration"}
    if stage.coupling != "ac":
        skip |= {"corner_hz", "corner_tolerance", "headroom"}
    skip |= {"ua_per_v"} if stage.mode == "voltage" else {"load_ohm", "load_ohm_min", "load_ohm_max"}
    lines = [f"# {line}" for line in comment.splitlines()]
    for f in dataclasses.fields(stage):
        if f.name not in skip and getattr(stage, f.name) is not None:
            lines.append(f"{f.name} = {_toml_value(getattr(stage, f.name))}")
    if stage.calibration is not None:
        lines += ["", "[calibration]"]
        for f in dataclasses.fields(stage.calibration):
            v = getattr(stage.calibration, f.name)
            if v is not None:
                lines.append(f"{f.name} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def write_stage_toml(stage: Stage, path) -> Stage:
    """Write a stage as TOML (:func:`stage_toml`), read it back with
    :meth:`Stage.from_toml`, and return what was read.

    Parameters
    ----------
    stage : Stage
        What to write.
    path : str or os.PathLike
        The TOML file (written beside it and moved into place only once it
        reads back right).

    Returns
    -------
    Stage
        The stage read back, equal to ``stage``.

    Raises
    ------
    ValueError
        What was read back is not exactly ``stage``.
    TypeError
        ``stage`` is not a Stage or ``path`` not a path.
    OSError
        The file cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_stage_toml(Stage(max_ua=400), pathlib.Path(d) / "card.toml") == Stage(max_ua=400)
    True
    """
    _checks.instance("stage", stage, Stage, "a microwave.stage.Stage")
    path = _checks.path("path", path)
    comment = ("a stage measured by `microwave calibrate` (docs: calibration)"
               if stage.calibration is not None else "a microwave stage")
    # written beside the target and moved into place only once it reads back right:
    # nothing half-written, and never a wrong stage under the name asked for
    with staged(path, ".toml") as tmp:
        tmp.write_text(stage_toml(stage, comment), encoding="utf-8")
        back = Stage.from_toml(tmp)
        if back != stage:
            raise ValueError(f"{path}: the stage read back differs from the one written: {back!r} != {stage!r}")
    return back
