"""The sound-card back end under its first name: :mod:`microwave.backends.portaudio`.

``from microwave.audio import Player`` keeps working; the code, and the
documentation, are in :mod:`microwave.backends.portaudio`.
"""
from __future__ import annotations

from .backends.portaudio import LEVEL_STEP, DeviceLost, Player, Sense, SupervisorStop, list_devices, play

__all__ = ["Player", "Sense", "play", "list_devices", "DeviceLost", "SupervisorStop", "LEVEL_STEP"]
