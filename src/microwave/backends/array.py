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
    """DAC frames of ``session`` through ``stage`` (default: ``Stage()``):
    float32, shape (frames, stage.out_channels), clamped.  ``seconds``
    shorter than the session ends it there with the fade ``play --duration``
    makes: a ramp of 0.5 s (or of three pulses, if longer) that reaches
    silence a whole pulse before the end."""
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    rate = _checks.rate(rate)
    if seconds is None:
        return session.engine(rate, stage).render(session.frames(rate))
    seconds = _checks.number("seconds", seconds, 0, unit="s")
    n = round(min(seconds, session.seconds + 1.0) * rate)
    return session.engine(rate, stage, duration_s=seconds if seconds > 0 else None).render(n)


def render_ua(session: Session, rate: int = _checks.DEFAULT_RATE, seconds: float | None = None) -> np.ndarray:
    """The current ``session`` asks of each channel (uA, shape (frames,
    channels)), through an ideal DC stage of unit gain
    (:func:`~microwave.stage.ua_stage`): what ``microwave info`` describes."""
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    return render(session, rate, ua_stage(session.channels), seconds) * np.float32(UA_PER_UNIT)
