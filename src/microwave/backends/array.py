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

import numpy as np

from .. import _checks
from ..sessions import Session
from ..stage import UA_PER_UNIT, Stage, ua_stage

__all__ = ["render", "render_ua"]


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
        default None: the whole session).  What follows the end (silence, or
        an AC stage's bleed) is the engine's to render:
        ``session.engine(rate, stage).render(frames)``.

    Returns
    -------
    numpy.ndarray
        float32, shape (frames, ``stage.out_channels``), within -1 to 1.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type (``seconds`` longer than
        the session included), or a session the stage cannot play within its
        limit (named in the message).
    """
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    rate = _checks.rate(rate)
    if seconds is None:
        return session.engine(rate, stage).render(session.frames(rate))
    seconds = _checks.span("seconds", seconds, session.seconds)
    n = round(seconds * rate)
    return session.engine(rate, stage, duration_s=seconds if seconds > 0 else None).render(n)


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
    return render(session, rate, ua_stage(session.channels), seconds) * np.float32(UA_PER_UNIT)
