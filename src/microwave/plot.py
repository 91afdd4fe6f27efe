"""Plots of a session as a person wants to see it (matplotlib, optional extra).

Top: the envelope of the whole session -- the peak current of each channel
in short windows -- with step boundaries and zones.  Bottom: a zoom on the
waveform itself, a few pulses wide, so pulse shape and polarity show.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _checks
from ._extras import require
from .backends.file import png_target, save_png
from .sessions import Session
from .stage import UA_PER_UNIT, ua_stage

__all__ = ["plot_session", "MAX_ZOOM_SAMPLES"]


def plot_session(session, path, rate: int = _checks.DEFAULT_RATE, start_s: float | None = None,
                 span_s: float | None = None) -> Path:
    """Plot ``session`` to a PNG: the peak current of each channel over the
    whole session, and a zoom of a few pulses.

    Parameters
    ----------
    session : Session
        What to plot.
    path : str or os.PathLike
        The PNG file, ending ``.png`` (written whole, or not at all).
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).
    start_s : float or None
        Where the zoom starts, s (0 up to, not including, the session's
        length: the zoom draws samples of it; default: the middle of the
        first step).
    span_s : float or None
        How long the zoom lasts, s (> 0; default: three pulses of the first
        step's first channel, 5 ms to 5 s, less where the samples would
        be too many).  The zoom draws each sample: at most
        :data:`MAX_ZOOM_SAMPLES` (frames x channels).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, or a path not ending
        ``.png`` (named in the message).
    ImportError
        matplotlib is not installed (``pip install microwave[plot]``).
    OSError
        The file cannot be written (naming it and the cause).
    """
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    path = png_target("path", path)
    rate = _checks.rate(rate)
    if start_s is not None:
        start_s = _checks.number("start_s", start_s, 0, session.seconds, hi_open=True, unit="s")
    if span_s is not None:
        span_s = _checks.number("span_s", span_s, 0, session.seconds, lo_open=True, unit="s")
    require("matplotlib", "plot", "plotting")
    Figure = _figure()
    t_env, env, win_s = _envelope(session, rate)

    if start_s is None:
        start_s = min(session.seconds / 2, session.step_seconds()[0] / 2)
    if span_s is None:
        first = session.steps[0].programs(session.channels)[0]
        span_s = min(5.0, max(0.005, 3.0 / max(first.pulse_rate_hz, 1e-3)),
                     MAX_ZOOM_SAMPLES // session.channels / rate)
    span_s = min(span_s, session.seconds)
    zoom = _zoom(session, rate, start_s, span_s)
    t_zoom = start_s + np.arange(len(zoom)) / rate

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1)
    _draw_envelope(ax1, session, t_env, env, win_s)
    for c in range(zoom.shape[1]):
        ax2.plot(t_zoom, zoom[:, c], lw=0.9, drawstyle="steps-post", label=f"ch{c}")
    ax2.axhline(0, color="0.5", lw=0.5)
    ax2.set(title=f"waveform from {start_s:g} s", xlabel="time (s)", ylabel="current (uA)")
    ax2.legend(loc="lower right", fontsize=8, ncols=-(-zoom.shape[1] // 8))
    return save_png(fig, path, 110)


#: the zoom draws every sample: at most this many (frames x channels; 8 MB of float32)
MAX_ZOOM_SAMPLES = 2_000_000


def _zoom(session: Session, rate: int, start_s: float, span_s: float) -> np.ndarray:
    """The current (uA) from ``start_s`` for ``span_s``: a view into the
    session, not an end of it (the engine's own frames, no fade), reached
    a block at a time, so that memory holds the zoom, not what precedes it
    (a review: 10 to 20 GiB for the end of a long 32-channel session)."""
    first = round(start_s * rate)
    frames = max(0, round(min(session.seconds, start_s + span_s) * rate) - first)
    if frames * session.channels > MAX_ZOOM_SAMPLES:
        most = MAX_ZOOM_SAMPLES // session.channels
        raise ValueError(f"span_s={span_s:g} is {frames} frames x {session.channels} channels at rate={rate}: the "
                         f"zoom draws each sample, at most {MAX_ZOOM_SAMPLES} ({most / rate:.4g} s here); the "
                         f"envelope above it shows the whole session")
    engine = session.engine(rate, ua_stage(session.channels))
    block = np.empty((min(first, _ENVELOPE_BLOCK), session.channels), dtype=np.float32)
    for at in range(0, first, len(block) or 1):
        engine.fill(block[:min(len(block), first - at)])
    return engine.render(frames) * UA_PER_UNIT


def _figure():
    from matplotlib.figure import Figure   # no pyplot: no global state, no GUI backend
    return Figure


#: frames rendered at a time for the envelope (the memory it takes: this x channels x 4 bytes)
_ENVELOPE_BLOCK = 1 << 16


def _envelope(session: Session, rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(time s, peak |current| uA per window per channel, the window in s):
    the whole session streamed, in windows of 20 ms (1 s for sessions of
    20 s or more, so that slow pulse trains read as a level, not a comb)."""
    engine = session.engine(rate, ua_stage(session.channels))
    total = session.frames(rate)
    win_s = 0.02 if session.seconds < 20 else 1.0
    win = max(1, round(rate * win_s))
    # blocks of a bounded size (whatever the rate, the channels and the window), whole windows where they fit
    buf = np.empty((max(1, _ENVELOPE_BLOCK // win) * win if win <= _ENVELOPE_BLOCK else _ENVELOPE_BLOCK,
                    session.channels), dtype=np.float32)
    peaks, now, held, done = [], np.zeros(session.channels), 0, 0     # the window in progress: its peak, frames
    while done < total:
        x = buf[:min(len(buf), total - done)]
        engine.fill(x)
        done += len(x)
        i = 0
        if held == 0 and len(x) >= win:        # whole windows at once
            m = len(x) // win * win
            peaks.append(np.abs(x[:m]).reshape(-1, win, x.shape[1]).max(axis=1) * UA_PER_UNIT)
            i = m
        while i < len(x):                      # a window across blocks
            take = min(win - held, len(x) - i)
            now = np.maximum(now, np.abs(x[i:i + take]).max(axis=0) * UA_PER_UNIT)
            held, i = held + take, i + take
            if held == win:
                peaks.append(now[None, :])
                now, held = np.zeros(session.channels), 0
    env = np.concatenate(peaks) if peaks else np.zeros((0, session.channels))
    return np.arange(len(env)) * win / rate, env, win_s


def _draw_envelope(ax, session: Session, t_env: np.ndarray, env: np.ndarray, win_s: float) -> None:
    for c in range(env.shape[1]):
        ax.plot(t_env, env[:, c], lw=0.8, label=f"ch{c}")
    ax.set_ylim(bottom=0)       # (a peak current from zero: soft starts and stops fall to it)
    for t, what, zone in session.events():
        if what.startswith("start") or what == "end":
            ax.axvline(t, color="0.6", lw=0.6)
            if zone:
                ax.text(t, ax.get_ylim()[1] if env.size else 1, f" {zone}", va="top", fontsize=8)
    ax.set(title=f"{session.name}: peak current per {win_s * 1000:g} ms", xlabel="time (s)", ylabel="current (uA)")
    ax.legend(loc="lower right", fontsize=8, ncols=-(-env.shape[1] // 8))


def notebook_png(obj) -> bytes | None:
    """A small PNG of a spec (its first few pulses) or a session (the peak
    current of each channel over it, with its steps): what Jupyter shows
    for them (``_repr_png_``).  None when matplotlib is not installed, so
    that the notebook falls back to the text repr."""
    try:
        Figure = _figure()
    except ImportError:
        return None
    import io
    fig = Figure(figsize=(6, 2.2), layout="constrained")
    ax = fig.subplots()
    if isinstance(obj, Session):
        _draw_envelope(ax, obj, *_envelope(obj, _checks.DEFAULT_RATE))
    else:
        rate = _checks.DEFAULT_RATE
        span_s = min(4.0, max(0.002, 3.0 / max(obj.pulse_rate_hz, 1e-3))) + obj.delay_s
        y = obj.render(min(span_s, 60.0), rate)
        ax.plot(np.arange(len(y)) / rate * 1000, y, lw=0.9, drawstyle="steps-post")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set(title=type(obj).__name__, xlabel="time (ms)", ylabel="current (uA)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()

