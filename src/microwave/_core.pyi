"""Type stubs of the compiled core (pyx/_core.pyx: Generator, SessionEngine)."""
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .plans import ProgramPlan, StagePlan

#: the most breakpoints a pulse template may have
MAX_BREAKPOINTS: int
#: the most states a polarity pattern may have
MAX_STATES: int
#: the most samples (or frames) one render allocates
MAX_RENDER: int
#: the most segments an envelope may have
MAX_SEGMENTS: int
#: the most program or DAC channels an engine drives
MAX_CHANNELS: int
#: the envelope shapes' numbers, by name (csrc/mw_limits.h)
SHAPES: dict[str, int]
#: the polarity pattern's state kinds' numbers, by name (csrc/mw_limits.h)
POLARITIES: dict[str, int]
#: the last-level cache the kernels read when they loaded, bytes (a larger fill bypasses it)
LLC_BYTES: int
#: the least fill that may run in two threads, samples (see Generator.fill)
SPLIT_MIN_SAMPLES: int
def fill_threads() -> int:
    """The threads a large fill of a train rendered pulse by pulse runs in now: 2 where the process may
    run on two processors or more, else 1; 1 where MICROWAVE_THREADS=1 (a positive whole number, else
    ValueError naming it)."""

#: frames of silence a rewind from mid-play starts with (the pulse cut, then the DAC's ringing dies down)
REWIND_SILENCE: int

#: an AC supervisor ends the session when the drive comes this close to a bound
SUPERVISOR_SOFT: float

#: after a hold (a pause, a rewind, a level of zero) an AC session plays again once
#: the charge its coupling stores is at most this fraction of the limit (or of the
#: DAC's swing, when that is less) at every corner
SUPERVISOR_RESTART: float

#: the most corners an AC supervisor models
SUPERVISOR_MAX_CORNERS: int

def supervisor_corners(corner_hz: float, lo_hz: float, hi_hz: float,
                       pair_hz: float | None = None) -> tuple[float, ...]:
    """The corners (Hz, slowest first) an AC supervisor models for a coupling
    somewhere in [lo_hz, hi_hz], corner_hz (the nominal one) and pair_hz (a
    bridged pair's loop's, where it differs) among them; a ValueError where
    the range is not 0 < lo_hz <= corner_hz <= pair_hz <= hi_hz or needs
    more than SUPERVISOR_MAX_CORNERS."""

#: one entry of the delivered record (csrc/mw_record.h): what flowed during
#: about RECORD_FLUSH_S of one step, per program channel
RECORD_DTYPE: np.dtype[np.void]
#: seconds of stream an entry holds at most
RECORD_FLUSH_S: float

def _sweep_log(x: npt.ArrayLike) -> Any:
    """The natural logarithm of a log sweep's onsets (csrc/mw_log.h), of each of ``x`` (a float for a
    float, else a float64 array of its shape); NaN where x is not positive, normal and finite."""


class Generator:
    """Stateful compiled generator of one channel's current, in uA."""

    rate: float
    def __init__(self, plan: ProgramPlan, *, tile: bool = ..., slots: bool = ..., rect: bool = ...) -> None:
        """``plan``: a spec's ``plan(rate)`` (anything else is a TypeError).
        ``tile``/``slots``/``rect`` False: the verification paths (pulse by pulse; sample run by
        sample run; rectangular pulses by the general loop)."""
    def fill(self, out: npt.NDArray[np.float32]) -> None:
        """Write the next ``len(out)`` samples (uA); block-size invariant.  ``out``: a writable,
        C-contiguous float32 array of shape (n,); else TypeError (not a buffer) or ValueError
        (another dtype, shape, read-only, not contiguous), naming ``out``."""
    def reset(self) -> None: ...
    @property
    def position(self) -> int: ...
    @property
    def tile_samples(self) -> int: ...
    @property
    def split_fills(self) -> int: ...
    def program_capsule(self) -> object:
        """The C state in a capsule named "microwave._core.mw_program"."""
    def render(self, n: int) -> npt.NDArray[np.float32]: ...
    def _schedule_onsets(self, n: int, skip: int = 0) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

class SessionEngine:
    """Steps x channels of compiled programs behind one output stage."""

    rate: float
    def __init__(self, programs: list[Generator], step_samples: Sequence[int] | npt.ArrayLike,
                 step_programs: Sequence[Sequence[int]] | npt.ArrayLike, stage: StagePlan,
                 total_samples: int, rate: float, ramp_s: float = ..., max_level: float = ...,
                 ramp_min: Sequence[int] | npt.ArrayLike | None = ...,
                 unit_len: Sequence[int] | npt.ArrayLike | None = ...,
                 step_gates: Sequence[Sequence[int]] | npt.ArrayLike | None = ...) -> None: ...
    def rewind(self) -> None:
        """Back to the session's start; from mid-play the pulse is cut, then REWIND_SILENCE frames of silence
        (through an AC coupling: until it is bled, at least as long)."""
    def fill(self, out: npt.NDArray[np.float32]) -> None:
        """Write the next ``out.shape[0]`` frames of DAC samples.  ``out``: a writable,
        C-contiguous float32 array of shape (frames, out_channels); else TypeError (not a buffer)
        or ValueError (another dtype, shape, read-only, not contiguous), naming ``out``."""
    def render(self, frames: int) -> npt.NDArray[np.float32]: ...
    def set_level(self, level: float) -> None: ...
    def stop_at(self, frame: int) -> None: ...
    def attach_stream(self) -> None: ...
    @property
    def settled(self) -> bool: ...
    @property
    def supervision(self) -> dict[str, Any]: ...
    @property
    def max_level(self) -> float: ...
    @property
    def ramp_samples(self) -> int: ...
    @property
    def end_samples(self) -> int: ...
    def pause(self, paused: bool = ...) -> None:
        """Ramp to silence and hold, or play on; through an AC stage a fall to silence goes on to the
        hold, and the coupling is bled and drained, before anything plays again."""
    def stop(self) -> None: ...
    def configure_sense(self, channel: int, in_channels: int, ua_per_unit: float, min_ratio: float = ...,
                        min_ua: float = ..., lost_after: int = ..., ring_frames: int = ...,
                        window_frames: float = ...) -> None: ...
    def enable_record(self, capacity: int = ...) -> None:
        """Account for what flows, into a lock-free ring of ``capacity`` entries."""
    def drain_record(self, buf: npt.NDArray[np.void]) -> int:
        """Move up to ``len(buf)`` entries (RECORD_DTYPE) into ``buf``; how many."""
    def flush_record(self) -> bool:
        """Push the entry being summed (once the stream has ended); whether there was room."""
    def set_tail(self, frames: int) -> None: ...
    def recorded(self) -> npt.NDArray[np.float32]: ...
    @property
    def state(self) -> dict[str, Any]: ...
    def reset_stats(self) -> None: ...
    def address(self) -> int: ...
    @staticmethod
    def callback_address() -> int: ...
