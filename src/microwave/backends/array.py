"""The array back end: a session's samples as numpy arrays in memory.

The compiled engine renders the whole span in one call (the same samples,
bit for bit, as the file and sound-card back ends deliver block by block).
``Session.render`` and ``Session.render_ua`` are these functions.

>>> from microwave.sessions import builtin
>>> from microwave.stage import Stage
>>> render(builtin("tighten"), 48_000, Stage(), seconds=1.0).shape   # DAC frames
(48000, 2)
"""
from __future__ import annotations

import math

import numpy as np

from .. import _checks
from ..sessions import Session
from ..stage import UA_PER_UNIT, Stage, _given, ua_stage

__all__ = ["render", "render_ua"]


def _most_frames(engine, stage: Stage, rate: int) -> int:
    """The most frames :func:`_to_silence` gives: the session's, and past
    the longest bleed a second more."""
    return engine.state["total"] + math.ceil((stage.max_bleed_s + 1.0) * rate)


def _to_silence(engine, stage: Stage, rate: int, block_frames: int):
    """Fill blocks from ``engine`` to the end of its session, then, through
    an AC stage, on while it bleeds the coupling's stored charge, and stop
    at the bleed's last moving frame (so that the frames are the same
    whatever ``block_frames``).  Yields each block, a view into one buffer
    that the next block overwrites."""
    total, last = engine.state["total"], _most_frames(engine, stage, rate)   # past the longest bleed, stop
    buf = np.empty((block_frames, engine.render(0).shape[1]), dtype=np.float32)
    done = 0
    while done < total or (not engine.settled and done < last):
        n = min(block_frames, total - done) if done < total else block_frames
        engine.fill(buf[:n])
        if done >= total and engine.settled:     # the bleed ended in this block
            moving = np.flatnonzero(np.any(buf[:n] != 0, axis=1))
            n = int(moving[-1]) + 1 if len(moving) else 0
        done += n
        yield buf[:n]


def render(session: Session, rate: int = _checks.DEFAULT_RATE, stage: Stage | None = None,
           seconds: float | None = None) -> np.ndarray:
    """DAC frames of ``session`` through ``stage``, clamped.

    ``seconds`` shorter than the session ends it there with the fade
    ``play --duration`` makes: a ramp of 0.5 s (or of three pulses, if
    longer) that reaches silence a whole pulse before the end.

    Parameters
    ----------
    session : Session
        What to render (checked against ``stage`` first).
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).
    stage : Stage or None
        The output stage (default None: ``Stage()``).
    seconds : float or None
        How much to render, s (0 to the session's length, ``session.seconds``;
        default None: the whole session).

    Returns
    -------
    numpy.ndarray
        float32, shape (frames, ``stage.out_channels``), within -1 to 1: the
        session's ``round(seconds * rate)`` frames, then, through an AC
        stage, the bleed of the charge its coupling stores, to silence (as
        a file or a stream ends: whatever plays the frames stops with
        nothing stored).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (``seconds`` longer than
        the session included), or a session the stage cannot play within its
        limit (named in the message).
    MemoryError
        The frames do not fit in memory now (the message gives their size and
        the way out: :func:`~microwave.backends.file.render_to_file` writes
        them block by block).
    """
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    rate = _checks.rate(rate)
    stage = _given(stage)
    if seconds is not None:
        seconds = _checks.span("seconds", seconds, session.seconds)
        if seconds == 0:
            return session.engine(rate, stage).render(0)
    engine = session.engine(rate, stage, duration_s=seconds)
    shape = (engine.state["total"] if stage.coupling == "dc" else _most_frames(engine, stage, rate),
             engine.render(0).shape[1])
    asked = f"seconds={seconds:g}" if seconds is not None else f"session {session.name!r} ({session.seconds:g} s)"
    out = _checks.new_f32(shape, f"{asked} at rate={rate} through {shape[1]} DAC channels",
                          "render less (seconds=), or write it to a file block by block (render_to_file)")
    if stage.coupling == "dc":           # nothing stored, nothing to bleed: the session's frames
        engine.fill(out)
        return out
    done = 0
    for block in _to_silence(engine, stage, rate, 1 << 16):
        out[done:done + len(block)] = block
        done += len(block)
    return out[:done]


def render_ua(session: Session, rate: int = _checks.DEFAULT_RATE, seconds: float | None = None) -> np.ndarray:
    """The current ``session`` asks of each channel, through an ideal DC stage
    of unit gain (:func:`~microwave.stage.ua_stage`): what ``microwave info``
    describes.

    Parameters
    ----------
    session : Session
        What to render.
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).
    seconds : float or None
        How much to render, s (0 to the session's length, ``session.seconds``;
        default None: the whole session).

    Returns
    -------
    numpy.ndarray
        float32 current, uA, shape (frames, ``session.channels``).

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (``seconds`` longer than
        the session included; named in the message).

    Examples
    --------
    >>> from microwave.sessions import builtin
    >>> ua = render_ua(builtin("tighten"), 8000, seconds=2.0)
    >>> ua.shape, bool(abs(ua).max() <= builtin("tighten").peak_ua)
    ((16000, 2), True)
    """
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    out = render(session, rate, ua_stage(session.channels), seconds)
    out *= np.float32(UA_PER_UNIT)        # (in place: no second array of the session's size)
    return out
