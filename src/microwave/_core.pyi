"""Type stubs of the compiled generator (pyx/_core.pyx)."""
import numpy as np
import numpy.typing as npt

from .plans import ProgramPlan

#: the most breakpoints a pulse template may have
MAX_BREAKPOINTS: int
#: the most states a polarity pattern may have
MAX_STATES: int
#: the most segments an envelope may have
MAX_SEGMENTS: int
#: the most program or DAC channels an engine drives
MAX_CHANNELS: int
#: the envelope shapes' numbers, by name (csrc/mw_limits.h)
SHAPES: dict[str, int]
#: the polarity pattern's state kinds' numbers, by name (csrc/mw_limits.h)
POLARITIES: dict[str, int]

class Generator:
    """Stateful compiled generator of one channel's current, in uA."""

    rate: float
    def __init__(self, plan: ProgramPlan, *, tile: bool = ..., slots: bool = ...) -> None:
        """``plan``: a spec's ``plan(rate)`` (anything else is a TypeError).
        ``tile``/``slots`` False: the verification paths (pulse by pulse; sample run by sample run)."""
    def fill(self, out: npt.NDArray[np.float32]) -> None:
        """Write the next ``len(out)`` samples (uA); block-size invariant."""
    def reset(self) -> None: ...
    @property
    def position(self) -> int: ...
    @property
    def tile_samples(self) -> int: ...
    def program_capsule(self) -> object:
        """The C state in a capsule named "microwave._core.mw_program"."""
    def render(self, n: int) -> npt.NDArray[np.float32]: ...
