"""Helpers the tests share to read waveforms (independent of the library's internals)."""
import numpy as np


def fill_in_blocks(gen, blocks):
    """Concatenate gen.fill() calls of the given block sizes (0 allowed)."""
    parts = []
    for b in blocks:
        out = np.empty(b, dtype=np.float32)
        gen.fill(out)
        parts.append(out)
    return np.concatenate(parts) if parts else np.empty(0, np.float32)


def starts(x, prev=0.0):
    """Indices of the first nonzero sample after a run of zeros (prev: the
    sample before x[0], for chunked scanning)."""
    nz = x != 0
    before = np.empty_like(nz)
    if len(nz):
        before[0] = prev != 0
        before[1:] = nz[:-1]
    return np.flatnonzero(nz & ~before)
