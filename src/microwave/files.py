"""The file back end: render a session's DAC frames to WAV or FLAC.

Rendering streams in blocks through the compiled engine, so memory stays
constant whatever the duration, and writes to a temporary file beside the
target that replaces it only when complete: an interrupted render never
leaves a file that looks finished.  WAV is written as 32-bit float (bit for
bit what goes to the DAC); FLAC as 24-bit integer (lossless for a 24-bit DAC).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from . import _checks
from .sessions import Session
from .stage import Stage

BLOCK_FRAMES = 65536
SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24"}


def render_to_file(session: Session, path, rate: int = _checks.DEFAULT_RATE, stage: Stage | None = None,
                   seconds: float | None = None, progress=None, block_frames: int = BLOCK_FRAMES) -> Path:
    """Write ``session`` as DAC frames to ``path`` (.wav or .flac).

    ``progress(done_frames, total_frames)`` is called after each block.
    """
    import soundfile as sf  # the file back end needs libsndfile; imported only here

    path = Path(path)
    subtype = SUBTYPES.get(path.suffix.lower())
    if subtype is None:
        raise ValueError(f"output={str(path)!r} has an unknown extension: use {' or '.join(SUBTYPES)}")
    rate = _checks.rate(rate)
    block_frames = _checks.integer("block_frames", block_frames, 1, 1 << 24)
    engine = session.engine(rate, stage)
    total = session.frames(rate) if seconds is None else round(_checks.number("seconds", seconds, 0, unit="s") * rate)
    total = min(total, session.frames(rate))
    channels = engine.render(0).shape[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        buf = np.empty((block_frames, channels), dtype=np.float32)
        with sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, subtype=subtype,
                          format=path.suffix[1:].upper()) as f:
            done = 0
            while done < total:
                n = min(block_frames, total - done)
                engine.fill(buf[:n])
                f.write(buf[:n])
                done += n
                if progress is not None:
                    progress(done, total)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
